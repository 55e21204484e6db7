//! Console sessions: a random token in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` when
//! the request came over TLS), kept only as a SHA-256; each with its own CSRF token that every
//! form carries. A session is looked up on each request with its user, so a deactivation ends
//! it and a role change holds from the next request.

use axum::{
    extract::FromRequestParts,
    http::{header, request::Parts, HeaderMap},
    response::{IntoResponse, Redirect, Response},
};
use commands::CommandMeta;
use eventlog::{EventLog, Metadata, StorageError};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{
    auth::Role,
    db::{now_ms, storage},
    AppState,
};

/// The session cookie.
pub const COOKIE: &str = "bo_session";
/// The cookie that carries the sign-in form's CSRF token (before there is a session).
pub const SIGN_IN_COOKIE: &str = "bo_sign_in";
/// How long a session lasts after sign-in.
const LIFETIME_MS: i64 = 12 * 3_600_000;

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Session {
    /// The user's id.
    pub user_id: String,
    /// The user's name.
    pub name: String,
    /// The user's role now.
    pub role: Role,
    /// The token each form of this session carries.
    pub csrf: String,
    /// The session's key (the SHA-256 of its token).
    key: String,
}

impl Session {
    /// The actor of the events this session causes: `user:{name}`.
    pub fn actor(&self) -> String {
        format!("user:{}", self.name)
    }

    /// The metadata of the commands this session's forms send: the person as actor, source
    /// `console`, the request's id as request and correlation id. `form_key` (a random key each
    /// rendered form carries, see [`token`]) makes a form posted twice run once.
    pub fn command_meta(&self, request_id: Option<String>, form_key: Option<&str>) -> CommandMeta {
        CommandMeta {
            metadata: Metadata {
                actor: Some(self.actor()),
                correlation_id: request_id.clone(),
                source: Some("console".to_owned()),
                request_id,
                ..Metadata::default()
            },
            idempotency_key: form_key
                .filter(|key| !key.is_empty())
                .map(|key| format!("console:{}:{key}", self.user_id)),
            expected_version: None,
        }
    }

    /// Whether `token` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, token: &str) -> bool {
        same(&self.csrf, token)
    }
}

/// Who is signed in, as every signed-in page's header shows it (`console/signed_in.html`).
#[derive(Debug, Clone)]
pub struct Me {
    /// The user's name.
    pub name: String,
    /// The user's role's name.
    pub role: &'static str,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: String,
}

impl Session {
    /// The header's view of this session.
    pub fn me(&self) -> Me {
        Me {
            name: self.name.clone(),
            role: self.role.name(),
            csrf: self.csrf.clone(),
        }
    }
}

/// Whether two secrets are equal, compared in constant time.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Whether a form posted before there is a session (sign-in, a reset link) repeats the token
/// its page set in the cookie [`SIGN_IN_COOKIE`].
pub fn form_token_matches(headers: &HeaderMap, posted: &str) -> bool {
    let expected = cookie(headers, SIGN_IN_COOKIE).unwrap_or_default();
    !expected.is_empty() && same(expected, posted)
}

/// A new random token: 256 bits, hex.
pub fn token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn key_of(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Starts a session for `user_id`; answers its token (for the cookie).
pub async fn start(log: &EventLog, user_id: &str) -> Result<String, StorageError> {
    let session = token();
    let now = now_ms();
    eventlog::on_writer!(log, |pool, _time| sqlx::query(
        "INSERT INTO console_sessions (session_sha256, user_id, csrf_token, created_at_ms, \
         expires_at_ms) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(key_of(&session))
    .bind(user_id)
    .bind(token())
    .bind(now)
    .bind(now + LIFETIME_MS)
    .execute(pool)
    .await
    .map(|_| ()))
    .map_err(storage("starting a session"))?;
    Ok(session)
}

/// Ends `session`.
pub async fn end(log: &EventLog, session: &Session) -> Result<(), StorageError> {
    eventlog::on_writer!(log, |pool, _time| sqlx::query(
        "UPDATE console_sessions SET ended_at_ms = $2 WHERE session_sha256 = $1"
    )
    .bind(&session.key)
    .bind(now_ms())
    .execute(pool)
    .await
    .map(|_| ()))
    .map_err(storage("ending a session"))
}

/// The live session of cookie token `token`, with its user as it is now.
async fn find(log: &EventLog, token: &str) -> Result<Option<Session>, StorageError> {
    let sql = "SELECT s.user_id, u.name, u.role, s.csrf_token FROM console_sessions s \
               JOIN api_users u ON u.user_id = s.user_id \
               WHERE s.session_sha256 = $1 AND s.ended_at_ms IS NULL AND s.expires_at_ms > $2 \
               AND u.deactivated_at_ms IS NULL";
    let key = key_of(token);
    let row: Option<(String, String, String, String)> =
        eventlog::on_readers!(log, |pool, _time| sqlx::query_as(sql)
            .bind(&key)
            .bind(now_ms())
            .fetch_optional(pool)
            .await)
        .map_err(storage("finding a session"))?;
    Ok(row.and_then(|(user_id, name, role, csrf)| {
        Some(Session {
            user_id,
            name,
            role: Role::named(&role)?,
            csrf,
            key,
        })
    }))
}

/// The value of cookie `name` in `headers`.
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value for `name`: `HttpOnly`, `SameSite=Strict`, for `/console`, `Secure`
/// when the request came over TLS (as a proxy in front says); `value` empty clears it.
pub fn set_cookie(name: &str, value: &str, headers: &HeaderMap) -> String {
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|proto| proto.as_bytes().eq_ignore_ascii_case(b"https"));
    let lifetime = if value.is_empty() {
        "; Max-Age=0".to_owned()
    } else {
        String::new()
    };
    let secure = if secure { "; Secure" } else { "" };
    format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict{secure}{lifetime}")
}

/// Without a live session a page sends the person to sign in.
#[derive(Debug)]
pub struct SignInFirst;

impl IntoResponse for SignInFirst {
    fn into_response(self) -> Response {
        Redirect::to("/console/sign-in").into_response()
    }
}

/// What a page answers when the database fails.
#[derive(Debug)]
pub struct Unavailable;

impl IntoResponse for Unavailable {
    fn into_response(self) -> Response {
        super::page::error(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "The service cannot reach its database; try again in a moment.",
        )
    }
}

/// Why a page could not find its session.
#[derive(Debug)]
pub enum NoSession {
    /// None, or it ended.
    SignIn(SignInFirst),
    /// The database failed.
    Unavailable(Unavailable),
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn(redirect) => redirect.into_response(),
            Self::Unavailable(page) => page.into_response(),
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = NoSession;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, NoSession> {
        let Some(token) = cookie(&parts.headers, COOKIE) else {
            return Err(NoSession::SignIn(SignInFirst));
        };
        match find(&state.log, token).await {
            Ok(Some(session)) => Ok(session),
            Ok(None) => Err(NoSession::SignIn(SignInFirst)),
            Err(error) => {
                tracing::warn!(%error, "a console session could not be read");
                Err(NoSession::Unavailable(Unavailable))
            }
        }
    }
}
