//! `Idempotency-Key` on POST: the same key and body answer the stored response again; the
//! same key with another body is a 422; a key whose first request is still in flight is a
//! 409. Keys are scoped to the caller and kept 24 hours, then pruned (ADR 0008).

use axum::{
    body::{to_bytes, Body},
    extract::{FromRequestParts, Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicI64, Ordering};

use crate::{
    auth::Caller,
    db::{now_ms, storage, with_pool},
    extract::too_large,
    problem::{Problem, PROBLEM_JSON},
    AppState,
};

/// How long a key's response is kept.
pub const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;
/// Expired keys are deleted at most this often per process, not on every request.
const PRUNE_EVERY_MS: i64 = 60 * 1000;
static LAST_PRUNED_MS: AtomicI64 = AtomicI64::new(0);
/// A first request in flight for longer is taken as abandoned (its process died).
const ABANDONED_MS: i64 = 60 * 1000;
/// The largest request or stored response body.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// The middleware.
pub async fn idempotency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let key = request
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let (Some(key), true) = (key, request.method() == Method::POST) else {
        return next.run(request).await;
    };
    match handle(&state, key, request, next).await {
        Ok(response) | Err(response) => response,
    }
}

async fn handle(
    state: &AppState,
    key: String,
    request: Request,
    next: Next,
) -> Result<Response, Response> {
    if key.is_empty() || key.len() > 200 {
        return Err(
            Problem::validation("Idempotency-Key", "a key has 1 to 200 characters").into_response(),
        );
    }
    let (mut parts, body) = request.into_parts();
    let caller = Caller::from_request_parts(&mut parts, state)
        .await
        .map_err(IntoResponse::into_response)?;
    let bytes = to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| too_large().into_response())?;
    let path = parts.uri.path().to_owned();
    let mut hasher = Sha256::new();
    hasher.update(parts.method.as_str());
    hasher.update(b" ");
    hasher.update(path.as_bytes());
    hasher.update(b"\n");
    hasher.update(&bytes);
    let fingerprint = hex::encode(hasher.finalize());
    let actor = caller.user_id.clone();

    for _ in 0..2 {
        if claim(state, &actor, &key, &path, &fingerprint)
            .await
            .map_err(internal)?
        {
            let request = Request::from_parts(parts, Body::from(bytes));
            let response = next.run(request).await;
            return Ok(store(state, &actor, &key, response).await);
        }
        let Some((stored_fingerprint, status, body, created)) =
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
            Some(status) => return Ok(replay(status, body.unwrap_or_default())),
            None if now_ms() - created > ABANDONED_MS => {
                release(state, &actor, &key).await.map_err(internal)?;
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

/// Records the key as in flight; false if it is already recorded.
async fn claim(
    state: &AppState,
    actor: &str,
    key: &str,
    path: &str,
    fingerprint: &str,
) -> Result<bool, eventlog::StorageError> {
    let now = now_ms();
    let prune = now - LAST_PRUNED_MS.load(Ordering::Relaxed) >= PRUNE_EVERY_MS;
    if prune {
        LAST_PRUNED_MS.store(now, Ordering::Relaxed);
    }
    let inserted = with_pool!(&state.log, write, pool => async {
        if prune {
            sqlx::query("DELETE FROM idempotent_requests WHERE created_at_ms < $1")
                .bind(now - RETENTION_MS).execute(pool).await?;
        }
        sqlx::query("INSERT INTO idempotent_requests (actor, idempotency_key, method, path, request_sha256, created_at_ms) \
                     VALUES ($1, $2, 'POST', $3, $4, $5) ON CONFLICT (actor, idempotency_key) DO NOTHING")
            .bind(actor).bind(key).bind(path).bind(fingerprint).bind(now)
            .execute(pool).await.map(|done| done.rows_affected())
    }.await)
    .map_err(storage("recording an idempotency key"))?;
    Ok(inserted == 1)
}

type Stored = (String, Option<i32>, Option<String>, i64);

async fn lookup(
    state: &AppState,
    actor: &str,
    key: &str,
) -> Result<Option<Stored>, eventlog::StorageError> {
    with_pool!(&state.log, write, pool => {
        sqlx::query_as("SELECT request_sha256, status, response_body, created_at_ms FROM idempotent_requests \
                        WHERE actor = $1 AND idempotency_key = $2")
            .bind(actor).bind(key).fetch_optional(pool).await
    })
    .map_err(storage("reading an idempotency key"))
}

async fn release(state: &AppState, actor: &str, key: &str) -> Result<(), eventlog::StorageError> {
    with_pool!(&state.log, write, pool => {
        sqlx::query("DELETE FROM idempotent_requests WHERE actor = $1 AND idempotency_key = $2")
            .bind(actor).bind(key).execute(pool).await.map(|_| ())
    })
    .map_err(storage("releasing an idempotency key"))
}

/// Keeps the response under the key (a server error releases the key instead, so that a
/// retry runs again) and answers it.
async fn store(state: &AppState, actor: &str, key: &str, response: Response) -> Response {
    let status = response.status();
    if status.is_server_error() {
        if let Err(error) = release(state, actor, key).await {
            tracing::warn!(%error, "could not release an idempotency key");
        }
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, BODY_LIMIT).await else {
        let _ = release(state, actor, key).await;
        return Problem::internal(&"a response too large to keep").into_response();
    };
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let stored = with_pool!(&state.log, write, pool => {
        sqlx::query("UPDATE idempotent_requests SET status = $3, response_body = $4 WHERE actor = $1 AND idempotency_key = $2")
            .bind(actor).bind(key).bind(i32::from(status.as_u16())).bind(&text)
            .execute(pool).await.map(|_| ())
    });
    if let Err(error) = stored {
        tracing::warn!(%error, "could not keep an idempotent response");
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(status: i32, body: String) -> Response {
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
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}
