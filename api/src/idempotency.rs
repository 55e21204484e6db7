//! `Idempotency-Key` on POST: the same key and body answer the stored response again (with its
//! `Location` and `X-Position`); the same key with another body is a 422; a key whose first
//! request is still in flight is a 409. Only a decided answer (a success, a business-rule
//! refusal) is kept; any other error releases the key. Keys are scoped to the caller and kept
//! 24 hours, then pruned (ADR 0008).

mod running;

use axum::{
    body::{to_bytes, Body},
    extract::{FromRequestParts, Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicI64, Ordering};

pub use running::RunningKeys;

use crate::{
    auth::Caller,
    db::{now_ms, storage},
    extract::header_text,
    problem::{Problem, ProblemDetails, PROBLEM_JSON},
    AppState,
};

/// How long a key's response is kept.
pub const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;
/// Expired keys are deleted at most this often per process, not on every request.
const PRUNE_EVERY_MS: i64 = 60 * 1000;
static LAST_PRUNED_MS: AtomicI64 = AtomicI64::new(0);
/// A first request in flight for longer is taken as abandoned: it timed out (the request
/// time-out dropped it, unanswered and unreleased) or its process died.
const ABANDONED_MS: i64 = 35 * 1000;
/// The largest request or stored response body.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The fingerprint (method, path, body) of a request carrying an `Idempotency-Key`, for the
/// command it runs: the log records the key with it, so that the same key with the same body
/// finds its first result for good, while after the 24 hours the same key with another body is
/// a new request.
#[derive(Debug, Clone)]
pub struct RequestFingerprint(pub String);

/// The middleware.
pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST || !request.headers().contains_key("idempotency-key") {
        return next.run(request).await;
    }
    match handle(&state, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

/// A key is 1 to 200 visible ASCII characters (no space, no control character).
fn valid_key(key: &str) -> bool {
    (1..=200).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

async fn handle(state: &AppState, request: Request, next: Next) -> Result<Response, Response> {
    let (mut parts, body) = request.into_parts();
    // Who asks comes first: an unauthenticated request is a 401 whatever its key.
    let caller = Caller::from_request_parts(&mut parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    let key = header_text(&parts.headers, "Idempotency-Key")
        .map_err(IntoResponse::into_response)?
        .unwrap_or_default();
    if !valid_key(&key) {
        return Err(Problem::validation(
            "Idempotency-Key",
            "a key has 1 to 200 visible ASCII characters (no spaces)",
        )
        .into_response());
    }
    let bytes = to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|error| Problem::unreadable_body(&error, BODY_LIMIT).into_response())?;
    let path = parts.uri.path().to_owned();
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let fingerprint = hex::encode(hasher.finalize());
    parts
        .extensions
        .insert(RequestFingerprint(fingerprint.clone()));
    let actor = caller.user_id.clone();

    let mut running = state.running_keys.start(&actor, &key);
    for _ in 0..2 {
        if let Some(claimed_at) = claim(state, &actor, &key, &path, &fingerprint)
            .await
            .map_err(internal)?
        {
            running.claimed = true;
            let request = Request::from_parts(parts, Body::from(bytes));
            let response = next.run(request).await;
            let claim = Claim {
                actor: &actor,
                key: &key,
                claimed_at,
            };
            let answer = store(state, &claim, response).await;
            running.finished();
            return Ok(answer);
        }
        let Some((stored_fingerprint, status, body, headers, created, claimed_by)) =
            lookup(state, &actor, &key).await.map_err(internal)?
        else {
            continue;
        };
        if stored_fingerprint != fingerprint {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_key_reused",
                "The Idempotency-Key was used for another request",
                "this key was first sent with another method, path or body; use a new key",
            )
            .into_response());
        }
        match status {
            Some(status) => {
                return Ok(replay(status, headers.as_deref(), body.unwrap_or_default()))
            }
            // This process claimed it and runs it no more: the request ended without its key
            // being released (the storage failed at that moment) or was cut off a while ago.
            None if claimed_by.as_deref() == Some(&*state.process)
                && !state.running_keys.others_run(&actor, &key) =>
            {
                let ended = Claim {
                    actor: &actor,
                    key: &key,
                    claimed_at: created,
                };
                release(state, &ended).await.map_err(internal)?;
            }
            None if now_ms() - created > ABANDONED_MS => {
                let abandoned = Claim {
                    actor: &actor,
                    key: &key,
                    claimed_at: created,
                };
                release(state, &abandoned).await.map_err(internal)?;
            }
            None => {
                return Err(Problem::new(
                    StatusCode::CONFLICT,
                    "idempotency_key_in_flight",
                    "A request with this Idempotency-Key is in progress",
                    "wait for the first request to finish, then retry to get its response",
                )
                .into_response())
            }
        }
    }
    Err(internal(eventlog::StorageError::BatchFailed))
}

fn internal(error: eventlog::StorageError) -> Response {
    Problem::from(error).into_response()
}

/// A key recorded as in flight by one request: its caller, the key, and when it was claimed,
/// which tells this claim from a later one of the same key.
struct Claim<'a> {
    actor: &'a str,
    key: &'a str,
    claimed_at: i64,
}

/// Records the key as in flight and answers when; nothing if it is already recorded.
async fn claim(
    state: &AppState,
    actor: &str,
    key: &str,
    path: &str,
    fingerprint: &str,
) -> Result<Option<i64>, eventlog::StorageError> {
    let now = now_ms();
    let prune = now - LAST_PRUNED_MS.load(Ordering::Relaxed) >= PRUNE_EVERY_MS;
    if prune {
        LAST_PRUNED_MS.store(now, Ordering::Relaxed);
    }
    let inserted = eventlog::on_writer!(&state.log, |pool, _time| async {
        if prune {
            sqlx::query("DELETE FROM idempotent_requests WHERE created_at_ms < $1")
                .bind(now - RETENTION_MS).execute(pool).await?;
        }
        sqlx::query("INSERT INTO idempotent_requests (actor, idempotency_key, method, path, request_sha256, created_at_ms, claimed_by) \
                     VALUES ($1, $2, 'POST', $3, $4, $5, $6) ON CONFLICT (actor, idempotency_key) DO NOTHING")
            .bind(actor).bind(key).bind(path).bind(fingerprint).bind(now).bind(&*state.process)
            .execute(pool).await.map(|done| done.rows_affected())
    }.await)
    .map_err(storage("recording an idempotency key"))?;
    Ok((inserted == 1).then_some(now))
}

/// A kept request: its fingerprint, then (once answered) the status, body and kept headers,
/// and when it was claimed.
type Stored = (
    String,
    Option<i32>,
    Option<String>,
    Option<String>,
    i64,
    Option<String>,
);

/// The response headers a replay repeats: where a created resource is, and the log position.
const KEPT_HEADERS: [&str; 2] = ["location", "x-position"];

async fn lookup(
    state: &AppState,
    actor: &str,
    key: &str,
) -> Result<Option<Stored>, eventlog::StorageError> {
    eventlog::on_writer!(&state.log, |pool, _time| {
        sqlx::query_as("SELECT request_sha256, status, response_body, response_headers, created_at_ms, claimed_by FROM idempotent_requests \
                        WHERE actor = $1 AND idempotency_key = $2")
            .bind(actor).bind(key).fetch_optional(pool).await
    })
    .map_err(storage("reading an idempotency key"))
}

/// Forgets `claim` if it is still in flight, so that the next request with its key runs; a
/// later claim of the same key is left alone.
async fn release(state: &AppState, claim: &Claim<'_>) -> Result<(), eventlog::StorageError> {
    eventlog::on_writer!(&state.log, |pool, _time| {
        sqlx::query(
            "DELETE FROM idempotent_requests WHERE actor = $1 AND idempotency_key = $2 \
                     AND created_at_ms = $3 AND status IS NULL",
        )
        .bind(claim.actor)
        .bind(claim.key)
        .bind(claim.claimed_at)
        .execute(pool)
        .await
        .map(|_| ())
    })
    .map_err(storage("releasing an idempotency key"))
}

/// Releases the keys this process (`state.process`) held in flight when it stopped, so that
/// their retries run at once instead of answering 409 until the keys count as abandoned. Run
/// at start-up, before serving. On SQLite, which serves one process, every key in flight is
/// this process's. A retry then runs again; the log's record of the key keeps it from
/// applying twice (ADR 0008).
pub async fn release_own_claims(state: &AppState) -> Result<u64, eventlog::StorageError> {
    let sql = match state.log.backend() {
        eventlog::Backend::Postgres => {
            "DELETE FROM idempotent_requests WHERE status IS NULL AND claimed_by = $1"
        }
        // SQLite's text leaves the process's name unused: every key in flight is its own.
        eventlog::Backend::Sqlite => "DELETE FROM idempotent_requests WHERE status IS NULL",
    };
    eventlog::on_writer!(&state.log, |pool, _time| sqlx::query(sql)
        .bind(&*state.process)
        .execute(pool)
        .await
        .map(|done| done.rows_affected()))
    .map_err(storage("releasing this process's idempotency keys"))
}

/// Whether a response is the request's decided answer, kept for its retries: a success, or a
/// refusal by a business rule. Anything else (a malformed or invalid request, a stale
/// `If-Match`, a resource that kept changing, a missing permission, a server error) releases
/// the key, so that a corrected retry runs.
fn decided(status: StatusCode, body: &[u8]) -> bool {
    status.is_success()
        || (status == StatusCode::CONFLICT
            && serde_json::from_slice::<ProblemDetails>(body)
                .is_ok_and(|problem| problem.code == "business_rule"))
}

/// Keeps a decided response under the claim (anything else releases it) and answers it.
async fn store(state: &AppState, claim: &Claim<'_>, response: Response) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        let _ = release(state, claim).await;
        return Problem::internal(&"a response too large to keep").into_response();
    };
    if !decided(parts.status, &bytes) {
        if let Err(error) = release(state, claim).await {
            tracing::warn!(%error, "could not release an idempotency key");
        }
        return Response::from_parts(parts, Body::from(bytes));
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let headers: serde_json::Map<String, serde_json::Value> = KEPT_HEADERS
        .iter()
        .filter_map(|name| {
            let value = parts.headers.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.into()))
        })
        .collect();
    let headers = serde_json::Value::Object(headers).to_string();
    let stored = eventlog::on_writer!(&state.log, |pool, _time| {
        sqlx::query("UPDATE idempotent_requests SET status = $4, response_body = $5, response_headers = $6 \
                     WHERE actor = $1 AND idempotency_key = $2 AND created_at_ms = $3")
            .bind(claim.actor).bind(claim.key).bind(claim.claimed_at)
            .bind(i32::from(parts.status.as_u16())).bind(&text).bind(&headers)
            .execute(pool).await.map(|_| ())
    });
    if let Err(error) = stored {
        tracing::warn!(%error, "could not keep an idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(status: i32, headers: Option<&str>, body: String) -> Response {
    let status = u16::try_from(status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let content_type = if status.is_client_error() {
        PROBLEM_JSON
    } else {
        "application/json"
    };
    let mut response = (status, body).into_response();
    let replayed = response.headers_mut();
    replayed.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    replayed.insert("idempotent-replayed", HeaderValue::from_static("true"));
    let kept: serde_json::Map<String, serde_json::Value> = headers
        .and_then(|headers| serde_json::from_str(headers).ok())
        .unwrap_or_default();
    for name in KEPT_HEADERS {
        let value = kept.get(name).and_then(serde_json::Value::as_str);
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            replayed.insert(name, value);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::valid_key;

    #[test]
    fn a_key_is_one_to_two_hundred_visible_ascii_characters() {
        assert!(valid_key("order-1:retry_2"));
        assert!(valid_key(&"k".repeat(200)));
        for key in ["", "a b", " a", "a\t", &"k".repeat(201)] {
            assert!(!valid_key(key), "{key:?}");
        }
    }
}
