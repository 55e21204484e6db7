//! What the console's pages share: how values are shown (money, times, statuses), the fields
//! of GET forms, the links of paged lists, and how a refused or failed action is answered.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    Extension,
};
use chrono::{DateTime, Utc};
use commands::{attention::ActionError, CommandError};
use domain::{Currency, Money};
use problem::Problem;
use projections::QueryError;
use tower_http::request_id::RequestId;

use super::{
    page,
    session::{Session, Unavailable},
};
use crate::auth::{Grants, Permission};

/// What a refused form says to do.
pub(super) const AGAIN: &str = "Open the page again.";

/// What a list says of a cursor it did not give out.
pub(super) const STALE_PAGE: &str =
    "That page of the list is no longer valid: start again from the first page.";

/// An amount as a person reads it (`25.00 EUR`, as the dashboard shows it); a currency the
/// domain does not know shows its minor units.
pub(super) fn money(minor: i64, currency: &str) -> String {
    Currency::parse(currency)
        .map(|currency| Money::new(minor, currency).shown())
        .unwrap_or_else(|_| format!("{minor} {currency} (minor units)"))
}

/// A time as shown: `2024-05-01 14:03:07 UTC`.
pub(super) fn time(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// A status's name as shown: `partially_paid` reads `partially paid`.
pub(super) fn words(name: &str) -> String {
    name.replace('_', " ")
}

/// A field of a GET form: empty means not given.
pub(super) fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

/// An option of a status filter.
pub(super) struct Choice {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

/// The statuses of `S` as the options of a filter, `selected` chosen.
pub(super) fn choices<S>(selected: Option<&str>) -> Vec<Choice>
where
    S: strum::VariantArray + Copy + Into<&'static str>,
{
    S::VARIANTS
        .iter()
        .map(|&status| {
            let value: &'static str = status.into();
            Choice {
                value,
                label: words(value),
                selected: selected == Some(value),
            }
        })
        .collect()
}

/// The status filter `given`, if it is a status of `S` (the domain's names, as the REST list
/// checks them).
pub(super) fn status_named<S>(given: Option<String>) -> Result<Option<String>, String>
where
    S: strum::VariantArray + Copy + Into<&'static str>,
{
    let name_of = |status: S| -> &'static str { status.into() };
    match given {
        Some(name) if !S::VARIANTS.iter().any(|&s| name_of(s) == name) => {
            Err("Status: choose one of the list.".to_owned())
        }
        other => Ok(other),
    }
}

/// The link to a page of the list at `path`: its filters, and `cursor` (none: the first page).
pub(super) fn list_link(
    path: &str,
    filters: &[(&str, &Option<String>)],
    cursor: Option<&str>,
) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in filters {
        if let Some(value) = value {
            query.append_pair(name, value);
        }
    }
    if let Some(cursor) = cursor {
        query.append_pair("cursor", cursor);
    }
    format!("{path}?{}", query.finish())
}

/// The 403 page if the session's role lacks `permission`; none if it has it.
pub(super) fn unless_granted(session: &Session, permission: Permission) -> Option<Response> {
    (!session.role.grants(permission)).then(|| forbidden(session, permission))
}

/// What a page or an action answers to a role without `permission`: 403, naming it.
pub(super) fn forbidden(session: &Session, permission: Permission) -> Response {
    page::error(
        StatusCode::FORBIDDEN,
        &format!(
            "Your role ({}) does not have the permission {} this needs.",
            session.role.name(),
            permission.name()
        ),
    )
}

/// A query string of the non-empty `pairs`, `?` first (none if all are empty).
pub(super) fn query_string(pairs: &[(&str, Option<&str>)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (name, value) in pairs {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            query.append_pair(name, value);
            any = true;
        }
    }
    if any {
        format!("?{}", query.finish())
    } else {
        String::new()
    }
}

/// A command's refusal as a page: its status and the same words as the API's problem
/// details; a storage failure is the console's 503 page.
pub(super) fn problem_page(problem: Problem) -> Response {
    let status = problem.status_code();
    if status.is_server_error() {
        return Unavailable.into_response();
    }
    page::error(status, &format!("{} {}", problem.title, problem.detail))
}

/// The refusal of an item's action, as `POST /api/v1/attention/{id}/…` words it.
pub(super) fn action_refusal(error: ActionError) -> Response {
    match error {
        ActionError::Refused(error) => problem_page(error.into()),
        ActionError::StepGone(why) => page::error(
            StatusCode::CONFLICT,
            &format!("The item's step cannot be taken again: {why}"),
        ),
    }
}

/// What an action's post checks first: its CSRF token (else 403, doing nothing) and then the
/// role's permission (else 403); none when both hold.
pub(super) fn refused_post(
    session: &Session,
    csrf: &str,
    permission: Permission,
) -> Option<Response> {
    if !session.csrf_matches(csrf) {
        return Some(page::forged(AGAIN));
    }
    unless_granted(session, permission)
}

/// The request's id, as the command's request and correlation id.
pub(super) fn request_id(request: Option<Extension<RequestId>>) -> Option<String> {
    request.and_then(|Extension(id)| id.header_value().to_str().ok().map(str::to_owned))
}

/// A command that did not run, as the page answers it.
pub(super) enum Refusal {
    /// Refused (the domain's rule, a missing stream, a conflict): the status the REST API
    /// answers (404, 409, 422) and what to say on the page.
    Said(StatusCode, String),
    /// A storage failure or a bug: its error page.
    Failed(Response),
}

/// Why `error` stopped a command, as the page answers it.
pub(super) fn refusal<E: domain::Rule>(error: CommandError<E>) -> Refusal {
    let problem = Problem::from(error);
    let status = problem.status_code();
    if status.is_server_error() {
        return Refusal::Failed(page::error(status, &problem.detail));
    }
    Refusal::Said(status, format!("Refused: {}.", problem.detail))
}

/// The answer to a successful action: back to `page` (Post/Redirect/Get), saying `done` and
/// waiting there for the command's last position.
pub(super) fn done(page: &str, done: &str, executed: &commands::Executed) -> Response {
    let at = executed
        .position
        .map(|p| format!("&min_position={p}"))
        .unwrap_or_default();
    Redirect::to(&format!("{page}?done={done}{at}")).into_response()
}

/// The page of `id` under `path` (`/console/orders`), its id encoded as a path segment.
pub(super) fn page_of(path: &str, id: &str) -> String {
    let id: String = form_urlencoded::byte_serialize(id.as_bytes()).collect();
    format!("{path}/{id}")
}

/// A read that failed on storage.
pub(super) fn unavailable(error: &eventlog::StorageError) -> Response {
    tracing::warn!(%error, "a console page could not read");
    Unavailable.into_response()
}

/// A list query that failed (a cursor cannot fail where none is given).
pub(super) fn query_failed(error: QueryError) -> Response {
    match error {
        QueryError::Storage(error) => unavailable(&error),
        QueryError::InvalidCursor => page::error(StatusCode::UNPROCESSABLE_ENTITY, STALE_PAGE),
    }
}

/// `minor` minor units of `currency` written in major units without the code: `25.00`.
pub(super) fn major(minor: i64, currency: Currency) -> String {
    let shown = Money::new(minor, currency).shown();
    shown
        .rsplit_once(' ')
        .map_or(shown.clone(), |(amount, _)| amount.to_owned())
}

/// An amount typed in major units of `currency` (`25`, `25.5`, `25.00`) in minor units; `None`
/// for anything else (a sign, more decimals than the currency has, a number too large).
pub(super) fn minor_units(typed: &str, currency: Currency) -> Option<i64> {
    let digits = currency.minor_digits();
    let (whole, fraction) = typed.trim().split_once('.').unwrap_or((typed.trim(), ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    if fraction.len() > digits as usize || (typed.contains('.') && fraction.is_empty()) {
        return None;
    }
    let unit = 10i64.checked_pow(digits)?;
    let padded = format!("{fraction:0<width$}", width = digits as usize);
    let fraction: i64 = if padded.is_empty() {
        0
    } else {
        padded.parse().ok()?
    };
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(unit)?
        .checked_add(fraction)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn an_amount_is_typed_in_major_units_of_the_currency() {
        let eur = Currency::parse("EUR").unwrap();
        let jpy = Currency::parse("JPY").unwrap();
        assert_eq!(minor_units("25", eur), Some(2500));
        assert_eq!(minor_units(" 25.5 ", eur), Some(2550));
        assert_eq!(minor_units("25.00", eur), Some(2500));
        assert_eq!(minor_units("0.07", eur), Some(7));
        assert_eq!(minor_units("1200", jpy), Some(1200));
        for refused in ["", "25.", ".5", "25.001", "-1", "1e3", "25,00", "12 00"] {
            assert_eq!(minor_units(refused, eur), None, "{refused:?}");
        }
        assert_eq!(minor_units("1.5", jpy), None);
        assert_eq!(minor_units("99999999999999999999", eur), None);
        assert_eq!(major(2500, eur), "25.00");
        assert_eq!(major(1200, jpy), "1200");
    }
}
