//! One-time links to set a password: an admin issues one on the command line
//! (`users reset-link`), valid once for an hour (`api::users::issue_reset`); the page behind it
//! sets the password as the user (`api::users::use_reset`).

use askama::Template;
use axum::{
    extract::{rejection::FormRejection, Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    Form,
};
use serde::Deserialize;

use super::{page, session, session::Unavailable};
use crate::{users::UserError, AppState};

#[derive(Template)]
#[template(path = "console/reset.html")]
struct ResetPage<'a> {
    token: &'a str,
    csrf: &'a str,
    message: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "console/reset_done.html")]
struct ResetDone;

/// A link's token: hex, as issued; anything else is not a link of ours.
fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What a used, expired or unknown link answers.
fn gone() -> Response {
    page::error(
        StatusCode::GONE,
        "This link was used or has expired. Ask an admin for a new one.",
    )
}

/// The form, with a fresh CSRF token in its own cookie (there is no session).
fn form(status: StatusCode, headers: &HeaderMap, token: &str, message: Option<&str>) -> Response {
    let csrf = session::token();
    let mut response = page::render(
        status,
        &ResetPage {
            token,
            csrf: &csrf,
            message,
        },
    );
    if let Ok(cookie) = session::set_cookie(session::SIGN_IN_COOKIE, &csrf, headers).parse() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

pub(super) async fn page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !well_formed(&token) {
        return gone();
    }
    match crate::users::reset_is_open(&state.log, &token).await {
        Ok(true) => form(StatusCode::OK, &headers, &token, None),
        Ok(false) => gone(),
        Err(error) => {
            tracing::warn!(%error, "a password reset could not be read");
            Unavailable.into_response()
        }
    }
}

/// The reset form's fields.
#[derive(Debug, Deserialize)]
pub(super) struct ResetFields {
    password: String,
    csrf: String,
}

pub(super) async fn set(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    fields: Result<Form<ResetFields>, FormRejection>,
) -> Response {
    if !well_formed(&token) {
        return gone();
    }
    let Ok(Form(fields)) = fields else {
        return form(
            StatusCode::UNPROCESSABLE_ENTITY,
            &headers,
            &token,
            Some("Give a new password."),
        );
    };
    if !session::form_token_matches(&headers, &fields.csrf) {
        return page::forged("Open the link again.");
    }
    match crate::users::use_reset(&state.log, &token, &fields.password).await {
        Ok(true) => {
            let mut response = page::render(StatusCode::OK, &ResetDone);
            if let Ok(cookie) = session::set_cookie(session::SIGN_IN_COOKIE, "", &headers).parse() {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            response
        }
        Ok(false) => gone(),
        Err(UserError::WeakPassword(why)) => form(
            StatusCode::UNPROCESSABLE_ENTITY,
            &headers,
            &token,
            Some(why),
        ),
        Err(error) => {
            tracing::warn!(%error, "a password reset failed");
            Unavailable.into_response()
        }
    }
}
