//! The operator console: server-rendered pages under `/console` for people, signed in with a
//! password into a session (ADR 0023). It reads through the same query layer as the REST API
//! (`projections`) and changes state only through the same command handlers and permissions
//! (and users only through `api::users`), one module per section: the dashboard here, then
//! orders, payments, shipments, attention, deliveries, projection status, users and audit;
//! `view` holds what they all share, `detail` what the order, payment and shipment pages do.

mod attention;
mod audit;
mod deliveries;
mod detail;
mod orders;
mod own_password;
mod page;
pub mod password;
mod payments;
mod projection_status;
mod refunds;
mod reset;
pub mod session;
mod shipments;
mod users;
mod view;

use std::net::IpAddr;

use askama::Template;
use axum::{
    extract::{rejection::FormRejection, State},
    http::{header, HeaderMap, StatusCode},
    middleware,
    response::{IntoResponse, Redirect, Response},
    routing::get,
    Extension, Form, Router,
};
use domain::{Currency, Money};
use projections::{attention::AttentionFilter, daily_sales::DailySalesFilter};
use serde::Deserialize;

pub use page::CONTENT_SECURITY_POLICY;
use session::{NoSession, Session, Unavailable};

use crate::{
    auth::{Grants, Permission},
    db::now_ms,
    AppState,
};

/// The address of the client at the other end of the connection, as the server accepted it:
/// failed sign-ins are counted per address too.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddress(pub IpAddr);

/// The console's routes, with its headers on every answer.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(dashboard))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", axum::routing::post(sign_out))
        .route(
            "/console/password",
            get(own_password::page).post(own_password::change),
        )
        .route("/console/reset/{token}", get(reset::page).post(reset::set))
        .route("/console/console.css", get(stylesheet))
        .merge(attention::routes())
        .merge(audit::routes())
        .merge(deliveries::routes())
        .merge(projection_status::routes())
        .merge(users::routes())
        .merge(orders::routes())
        .merge(payments::routes())
        .merge(shipments::routes())
        .layer(middleware::from_fn(page::headers))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        include_str!("../../templates/console/console.css"),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    name: &'a str,
    message: Option<&'a str>,
}

/// The sign-in form, with a fresh CSRF token in its own cookie (there is no session yet).
fn sign_in_form(
    status: StatusCode,
    headers: &HeaderMap,
    name: &str,
    message: Option<&str>,
) -> Response {
    let csrf = session::token();
    let mut response = page::render(
        status,
        &SignInPage {
            csrf: &csrf,
            name,
            message,
        },
    );
    if let Ok(cookie) = session::set_cookie(session::SIGN_IN_COOKIE, &csrf, headers).parse() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

async fn sign_in_page(headers: HeaderMap) -> Response {
    sign_in_form(StatusCode::OK, &headers, "", None)
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
struct SignInFields {
    name: String,
    password: String,
    csrf: String,
}

/// Why a sign-in failed, as shown: the same for an unknown name and a wrong password.
const WRONG: &str = "Wrong name or password.";

async fn sign_in(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddress>>,
    headers: HeaderMap,
    form: Result<Form<SignInFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return sign_in_form(
            StatusCode::UNPROCESSABLE_ENTITY,
            &headers,
            "",
            Some("Give a name and a password."),
        );
    };
    if !session::form_token_matches(&headers, &fields.csrf) {
        return page::forged("Open the sign-in page again.");
    }
    match try_sign_in(&state, client.map(|Extension(c)| c), &headers, fields).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(%error, "a sign-in failed on storage");
            Unavailable.into_response()
        }
    }
}

async fn try_sign_in(
    state: &AppState,
    client: Option<ClientAddress>,
    headers: &HeaderMap,
    fields: SignInFields,
) -> Result<Response, eventlog::StorageError> {
    let log = &state.log;
    let name = fields.name.trim().to_owned();
    let account = password::account(&name);
    let address = client.map(|ClientAddress(ip)| password::address(ip));
    let subjects: Vec<&str> = std::iter::once(account.as_str())
        .chain(address.as_deref())
        .collect();
    for subject in &subjects {
        if let Some(until) = password::locked_until(log, subject).await? {
            let seconds = (until - now_ms() + 999) / 1000;
            let message =
                format!("Too many failed sign-ins: try again in {seconds} s, or ask an admin.");
            return Ok(sign_in_form(
                StatusCode::TOO_MANY_REQUESTS,
                headers,
                &name,
                Some(&message),
            ));
        }
    }
    let user: Option<(String, Option<String>)> = eventlog::on_readers!(log, |pool, _time| {
        sqlx::query_as(
            "SELECT user_id, password_hash FROM api_users \
             WHERE name = $1 AND deactivated_at_ms IS NULL",
        )
        .bind(&name)
        .fetch_optional(pool)
        .await
    })
    .map_err(crate::db::storage("finding a user"))?;
    let stored = user.as_ref().and_then(|(_, hash)| hash.clone());
    let password = fields.password;
    // Hashing takes tens of milliseconds of CPU: off the async workers.
    let matches =
        tokio::task::spawn_blocking(move || password::verify(&password, stored.as_deref()))
            .await
            .unwrap_or(false);
    let Some((user_id, _)) = user.filter(|_| matches) else {
        for subject in &subjects {
            password::record_failure(log, subject).await?;
        }
        return Ok(sign_in_form(
            StatusCode::UNAUTHORIZED,
            headers,
            &name,
            Some(WRONG),
        ));
    };
    // An account's failures end with its success; an address's do not (one valid account must
    // not reset the count of guesses at others from the same place).
    password::clear(log, &account).await?;
    let token = session::start(log, &user_id).await?;
    let mut response = Redirect::to("/console").into_response();
    for cookie in [
        session::set_cookie(session::COOKIE, &token, headers),
        session::set_cookie(session::SIGN_IN_COOKIE, "", headers),
    ] {
        if let Ok(cookie) = cookie.parse() {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
    }
    Ok(response)
}

/// A form that carries only its CSRF token.
#[derive(Debug, Deserialize)]
struct CsrfOnly {
    csrf: String,
}

async fn sign_out(
    State(state): State<AppState>,
    session: Result<Session, NoSession>,
    headers: HeaderMap,
    form: Result<Form<CsrfOnly>, FormRejection>,
) -> Response {
    let session = match session {
        Ok(session) => session,
        Err(no_session) => return no_session.into_response(),
    };
    let forged = || page::forged("Open the page again.");
    let Ok(Form(form)) = form else {
        return forged();
    };
    if !session.csrf_matches(&form.csrf) {
        return forged();
    }
    if let Err(error) = session::end(&state.log, &session).await {
        tracing::warn!(%error, "a session could not be ended");
        return Unavailable.into_response();
    }
    let mut response = Redirect::to("/console/sign-in").into_response();
    if let Ok(cookie) = session::set_cookie(session::COOKIE, "", &headers).parse() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// A day's sales in one currency, as shown.
struct SalesShown {
    currency: String,
    orders_placed: i64,
    orders_cancelled: i64,
    gross: String,
    net: String,
}

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct Dashboard {
    me: session::Me,
    day: String,
    sales: Vec<SalesShown>,
    open_items: usize,
    more_items: bool,
    /// The read models and process managers that are not running cleanly (degraded, failed,
    /// or more than [`LAGGING`] events behind), to roles with `integrations.view`.
    health: Option<Health>,
}

/// How the background work stands, as the dashboard sums it up.
struct Health {
    /// Subscribers `serve` runs, and how many of them are behind, degraded or failed.
    subscribers: usize,
    troubled: Vec<String>,
    /// Configured outbound destinations, and those with an open circuit or messages set aside.
    destinations: usize,
    troubled_destinations: Vec<String>,
}

/// More events behind the log's head than this, a subscriber is shown as lagging.
const LAGGING: i64 = 1_000;

/// The health the dashboard shows: what `/console/projections` and `/console/deliveries` hold
/// in full.
async fn health(state: &AppState) -> Result<Health, eventlog::StorageError> {
    let head = state.log.head().await?;
    let known = state.log.subscribers().await?;
    let served: Vec<&str> = crate::workers::subscriber_names().collect();
    let troubled = served
        .iter()
        .filter_map(|name| {
            let status = known.iter().find(|s| s.name == *name)?;
            let lag = head.saturating_sub(status.position);
            let state = if status.state == "failed" {
                "failed".to_owned()
            } else if status.is_degraded() {
                format!(
                    "degraded ({} parked, {} waiting)",
                    status.parked, status.waiting
                )
            } else if lag > LAGGING {
                format!("{lag} events behind")
            } else {
                return None;
            };
            Some(format!("{name}: {state}"))
        })
        .collect();
    let destinations =
        adapters::outbound::status::destinations(&state.log, adapters::outbound::NAMES, |name| {
            state.outbound.is_configured(name)
        })
        .await?;
    let configured: Vec<_> = destinations.iter().filter(|d| d.configured).collect();
    let troubled_destinations = configured
        .iter()
        .filter_map(|d| {
            let circuit = d.circuit.as_ref().map_or("closed", |c| c.state.as_str());
            (circuit != "closed" || d.parked + d.waiting + d.failing > 0).then(|| {
                format!(
                    "{}: circuit {circuit}, {} failing, {} parked, {} waiting",
                    d.destination, d.failing, d.parked, d.waiting
                )
            })
        })
        .collect();
    Ok(Health {
        subscribers: served.len(),
        troubled,
        destinations: configured.len(),
        troubled_destinations,
    })
}

/// How many open attention items the dashboard counts at most.
const ITEMS_COUNTED: u32 = 200;

async fn dashboard(State(state): State<AppState>, session: Session) -> Response {
    let today = chrono::Utc::now().date_naive();
    let filter = DailySalesFilter {
        from: Some(today),
        to: Some(today),
        currency: None,
    };
    let sales = projections::daily_sales::list_daily_sales(&state.log, &filter, None, 200).await;
    let open = AttentionFilter {
        status: Some("open".to_owned()),
        ..AttentionFilter::default()
    };
    let items = projections::attention::list_items(&state.log, &open, None, ITEMS_COUNTED).await;
    let (Ok(sales), Ok(items)) = (sales, items) else {
        return Unavailable.into_response();
    };
    let health = if session.role.grants(Permission::IntegrationsView) {
        match health(&state).await {
            Ok(health) => Some(health),
            Err(error) => {
                tracing::warn!(%error, "the dashboard could not read the workers' health");
                return Unavailable.into_response();
            }
        }
    } else {
        None
    };
    let shown = |minor: i64, currency: &str| {
        Currency::parse(currency)
            .map(|currency| Money::new(minor, currency).shown())
            .unwrap_or_else(|_| format!("{minor} {currency} (minor units)"))
    };
    let page = Dashboard {
        me: session.me(),
        day: today.format("%Y-%m-%d").to_string(),
        sales: sales
            .items
            .iter()
            .map(|row| SalesShown {
                currency: row.currency.clone(),
                orders_placed: row.orders_placed,
                orders_cancelled: row.orders_cancelled,
                gross: shown(row.gross_minor, &row.currency),
                net: shown(row.net_minor, &row.currency),
            })
            .collect(),
        open_items: items.items.len(),
        more_items: items.next_cursor.is_some(),
        health,
    };
    page::render(StatusCode::OK, &page)
}
