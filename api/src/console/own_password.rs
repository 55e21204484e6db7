//! A signed-in person changes their own password: the current one first (a session left open
//! on a shared screen must not be enough), then the new one; every session of theirs ends, this
//! one too, and they sign in again.

use askama::Template;
use axum::{
    extract::{rejection::FormRejection, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    Form,
};
use serde::Deserialize;

use super::{page, password, session, session::Session, session::Unavailable};
use crate::{users::UserError, AppState};

#[derive(Template)]
#[template(path = "console/password.html")]
struct PasswordPage<'a> {
    me: session::Me,
    message: Option<&'a str>,
}

fn form(status: StatusCode, session: &Session, message: Option<&str>) -> Response {
    page::render(
        status,
        &PasswordPage {
            me: session.me(),
            message,
        },
    )
}

pub(super) async fn page(session: Session) -> Response {
    form(StatusCode::OK, &session, None)
}

/// The form's fields.
#[derive(Debug, Deserialize)]
pub(super) struct Fields {
    current: String,
    new: String,
    csrf: String,
}

pub(super) async fn change(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    fields: Result<Form<Fields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = fields else {
        return form(
            StatusCode::UNPROCESSABLE_ENTITY,
            &session,
            Some("Give your current password and a new one."),
        );
    };
    if !session.csrf_matches(&fields.csrf) {
        return page::forged("Open the page again.");
    }
    let log = &state.log;
    let account = password::account(&session.name);
    let stored: Result<Option<Option<String>>, _> = eventlog::on_readers!(log, |pool, _time| {
        sqlx::query_scalar("SELECT password_hash FROM api_users WHERE user_id = $1")
            .bind(&session.user_id)
            .fetch_optional(pool)
            .await
    });
    let Ok(stored) = stored else {
        return Unavailable.into_response();
    };
    let current = fields.current;
    let stored = stored.flatten();
    let matches =
        tokio::task::spawn_blocking(move || password::verify(&current, stored.as_deref()))
            .await
            .unwrap_or(false);
    if !matches {
        // Counted as a failed sign-in of the account: guessing here is guessing there.
        if password::record_failure(log, &account).await.is_err() {
            return Unavailable.into_response();
        }
        return form(
            StatusCode::UNAUTHORIZED,
            &session,
            Some("The current password is wrong."),
        );
    }
    match crate::users::set_password(log, &session.name, &fields.new, &session.actor()).await {
        Ok(_) => {
            let mut response = Redirect::to("/console/sign-in").into_response();
            if let Ok(cookie) = session::set_cookie(session::COOKIE, "", &headers).parse() {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Err(UserError::WeakPassword(why)) => {
            form(StatusCode::UNPROCESSABLE_ENTITY, &session, Some(why))
        }
        Err(error) => {
            tracing::warn!(%error, "a password change failed");
            Unavailable.into_response()
        }
    }
}
