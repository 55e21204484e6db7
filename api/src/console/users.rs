//! User administration for admins (`admin`): the users with their roles, creating one, changing
//! a role, deactivating (confirmed by typing the name), and a one-time link to set a password,
//! shown once. Each change goes through `api::users` as on the command line, so it is an event
//! of the user's stream (`user/{id}`) with the signed-in admin as its actor.

use askama::Template;
use axum::{
    extract::{rejection::FormRejection, rejection::QueryRejection, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Router,
};
use serde::Deserialize;

use super::{
    page, session,
    session::{Session, Unavailable},
    view::{forbidden, query_string},
};
use crate::{
    auth::{Grants, Permission, Role},
    users::UserError,
    AppState,
};

/// The users routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/users", get(list).post(create))
        .route("/console/users/role", post(change_role))
        .route("/console/users/deactivate", post(deactivate))
        .route("/console/users/reset-link", post(reset_link))
}

/// A user as listed.
struct Listed {
    name: String,
    role: String,
    active: bool,
    has_password: bool,
    history: String,
}

#[derive(Template)]
#[template(path = "console/users.html")]
struct UsersPage<'a> {
    me: session::Me,
    users: Vec<Listed>,
    roles: Vec<&'static str>,
    new_name: &'a str,
    new_role: &'a str,
    notice: Option<&'static str>,
    message: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/users_reset.html")]
struct ResetIssued<'a> {
    me: session::Me,
    name: &'a str,
    link: &'a str,
}

/// Every user, by name: whether active, whether it has a console password (never the hash).
async fn users(state: &AppState) -> Result<Vec<Listed>, eventlog::StorageError> {
    let sql = "SELECT user_id, name, role, deactivated_at_ms, \
               CAST(CASE WHEN password_hash IS NULL THEN 0 ELSE 1 END AS BIGINT) \
               FROM api_users ORDER BY name";
    let rows: Vec<(String, String, String, Option<i64>, i64)> =
        eventlog::on_readers!(&state.log, |pool, _time| sqlx::query_as(sql)
            .fetch_all(pool)
            .await)
        .map_err(crate::db::storage("listing users"))?;
    Ok(rows
        .into_iter()
        .map(
            |(user_id, name, role, deactivated_at_ms, has_password)| Listed {
                history: format!(
                    "/console/audit{}",
                    query_string(&[(
                        "stream",
                        Some(&format!("{}/{user_id}", domain::user::AGGREGATE_TYPE))
                    )])
                ),
                name,
                role,
                active: deactivated_at_ms.is_none(),
                has_password: has_password != 0,
            },
        )
        .collect())
}

/// The page, with `message` (and the create form's fields as given) when an action failed.
async fn users_page(
    state: &AppState,
    session: &Session,
    status: StatusCode,
    notice: Option<&'static str>,
    message: Option<&str>,
    new: (&str, &str),
) -> Response {
    let Ok(users) = users(state).await else {
        return Unavailable.into_response();
    };
    let page = UsersPage {
        me: session.me(),
        users,
        roles: Role::ALL.iter().map(|role| role.name()).collect(),
        new_name: new.0,
        new_role: new.1,
        notice,
        message,
    };
    page::render(status, &page)
}

/// The list's query: what was just done.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    done: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    if !session.role.grants(Permission::Admin) {
        return forbidden(&session, Permission::Admin);
    }
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let notice = match query.done.as_deref() {
        Some("created") => {
            Some("The user was created. Issue a reset link so they can set a password.")
        }
        Some("role") => Some("The role was changed; it holds from the user's next request."),
        Some("deactivated") => {
            Some("The user was deactivated; their sessions and tokens end at their next request.")
        }
        _ => None,
    };
    users_page(&state, &session, StatusCode::OK, notice, None, ("", "")).await
}

/// What a users form answers instead of acting, if anything: without its CSRF token, or
/// without the admin permission.
fn not_allowed(session: &Session, csrf: &str) -> Option<Response> {
    if !session.csrf_matches(csrf) {
        return Some(page::forged("Open the users page again."));
    }
    if !session.role.grants(Permission::Admin) {
        return Some(forbidden(session, Permission::Admin));
    }
    None
}

/// What a refused change answers: the users page with why, or the console's 503 page.
async fn refused(
    state: &AppState,
    session: &Session,
    error: UserError,
    new: (&str, &str),
) -> Response {
    let status = match &error {
        UserError::InvalidName | UserError::WeakPassword(_) => StatusCode::UNPROCESSABLE_ENTITY,
        UserError::NameTaken(_) | UserError::Deactivated(_) | UserError::Contended(_) => {
            StatusCode::CONFLICT
        }
        UserError::Storage(_) => return Unavailable.into_response(),
        UserError::Inconsistent { .. } => {
            tracing::error!(%error, "a user could not be changed");
            return page::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "What is stored of this user cannot be read; the change was not made.",
            );
        }
    };
    let message = capitalized(&error.to_string());
    users_page(state, session, status, None, Some(&message), new).await
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => format!("{}{}.", first.to_uppercase(), chars.as_str()),
        None => String::new(),
    }
}

/// The create form's fields.
#[derive(Debug, Deserialize)]
struct CreateFields {
    csrf: String,
    name: String,
    role: String,
}

async fn create(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<CreateFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged("Open the users page again.");
    };
    if let Some(answer) = not_allowed(&session, &fields.csrf) {
        return answer;
    }
    let new = (fields.name.as_str(), fields.role.as_str());
    let Some(role) = Role::named(&fields.role) else {
        let message = "Choose a role from the list.";
        return users_page(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(message),
            new,
        )
        .await;
    };
    // The user's first API token is made as on the command line; a person signs in with a
    // password instead, so it is not shown (only its hash is kept; `tokens create` gives one).
    match crate::users::create_user(&state.log, &fields.name, role, &session.actor()).await {
        Ok(_token) => Redirect::to("/console/users?done=created").into_response(),
        Err(error) => refused(&state, &session, error, new).await,
    }
}

/// The role form's fields.
#[derive(Debug, Deserialize)]
struct RoleFields {
    csrf: String,
    name: String,
    role: String,
}

async fn change_role(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<RoleFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged("Open the users page again.");
    };
    if let Some(answer) = not_allowed(&session, &fields.csrf) {
        return answer;
    }
    let Some(role) = Role::named(&fields.role) else {
        let message = "Choose a role from the list.";
        return users_page(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(message),
            ("", ""),
        )
        .await;
    };
    match crate::users::set_role(&state.log, &fields.name, role, &session.actor()).await {
        Ok(true) => Redirect::to("/console/users?done=role").into_response(),
        Ok(false) => no_such_user(),
        Err(error) => refused(&state, &session, error, ("", "")).await,
    }
}

fn no_such_user() -> Response {
    page::error(StatusCode::NOT_FOUND, "There is no such user.")
}

/// The deactivation form's fields: `confirm` must repeat the name.
#[derive(Debug, Deserialize)]
struct DeactivateFields {
    csrf: String,
    name: String,
    #[serde(default)]
    confirm: String,
}

async fn deactivate(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<DeactivateFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged("Open the users page again.");
    };
    if let Some(answer) = not_allowed(&session, &fields.csrf) {
        return answer;
    }
    if fields.confirm.trim() != fields.name {
        let message = "To deactivate a user, type their name in its confirmation field.";
        return users_page(
            &state,
            &session,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(message),
            ("", ""),
        )
        .await;
    }
    match crate::users::deactivate_user(&state.log, &fields.name, &session.actor()).await {
        Ok(true) => Redirect::to("/console/users?done=deactivated").into_response(),
        Ok(false) => page::error(
            StatusCode::CONFLICT,
            "There is no active user of that name.",
        ),
        Err(error) => refused(&state, &session, error, ("", "")).await,
    }
}

/// The reset link form's fields.
#[derive(Debug, Deserialize)]
struct ResetFields {
    csrf: String,
    name: String,
}

async fn reset_link(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    form: Result<Form<ResetFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged("Open the users page again.");
    };
    if let Some(answer) = not_allowed(&session, &fields.csrf) {
        return answer;
    }
    match crate::users::issue_reset(&state.log, &fields.name, &session.actor()).await {
        // Shown once, on this answer (never cached: the console's pages are `no-store`).
        Ok(Some(token)) => {
            let link = format!("{}/console/reset/{token}", origin(&headers));
            let page = ResetIssued {
                me: session.me(),
                name: &fields.name,
                link: &link,
            };
            page::render(StatusCode::OK, &page)
        }
        Ok(None) => no_such_user(),
        Err(error) => refused(&state, &session, error, ("", "")).await,
    }
}

/// Where the console was reached, as the browser addressed it: `https` when a proxy in front
/// says the client used TLS; nothing if the request named no host (the link is then relative).
fn origin(headers: &HeaderMap) -> String {
    let Some(host) = headers
        .get(axum::http::header::HOST)
        .and_then(|host| host.to_str().ok())
    else {
        return String::new();
    };
    let tls = headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"));
    format!("{}://{host}", if tls { "https" } else { "http" })
}
