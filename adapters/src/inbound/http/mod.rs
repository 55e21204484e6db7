//! The webhook endpoint (`POST /webhooks/{source}`, for each source declared in
//! [`crate::inbound::sources`]) and, separately, the inbox's admin routes, as axum routers the
//! api crate mounts.
//!
//! A delivery is read raw (at most [`MAX_BODY`] bytes), verified with the source's own scheme,
//! keyed by (source, provider event id) and stored before any 2xx: 202 when new, 200 for a
//! duplicate, which is neither stored nor processed again. A refused signature is 401 and
//! stores nothing but a log line; a verified body that is no event envelope is 400.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Path, Request, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use chrono::{DateTime, Utc};
use eventlog::EventLog;
use problem::Problem;
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use crate::inbound::{
    config::Verifiers,
    inbox::{Inbox, NewDelivery, Stored},
    payload::InboxKey,
    signature,
    sources::{self, SourceSpec},
};

mod admin;
mod refusals;

pub use admin::admin_routes;

/// The largest body accepted: 1 MiB (Stripe's events stay far below it).
pub const MAX_BODY: usize = 1024 * 1024;

/// Headers whose values are secrets or signatures: stored by name only.
/// Parts of header names that mark a credential (`authorization`, `x-api-key`,
/// `stripe-signature`, `x-auth-token`, `cookie`, …): such values are stored as `[redacted]`.
const CREDENTIAL_MARKS: [&str; 9] = [
    "auth",
    "cookie",
    "signature",
    "secret",
    "token",
    "key",
    "password",
    "credential",
    "session",
];

/// Whether header `name` (lowercase) may carry a credential.
fn is_credential(name: &str) -> bool {
    CREDENTIAL_MARKS.iter().any(|mark| name.contains(mark))
}

/// What the routes share: the inbox, the verifiers, the clock and the worker's wake-up.
#[derive(Debug, Clone)]
pub struct WebhookState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    inbox: Inbox,
    verifiers: Verifiers,
    clock: fn() -> DateTime<Utc>,
    wake: Arc<Notify>,
}

impl WebhookState {
    /// Routes storing into the inbox beside `log`, verifying with `verifiers`
    /// ([`crate::inbound::WebhookSecrets::verifiers`]).
    pub fn new(log: EventLog, verifiers: Verifiers) -> Self {
        Self {
            inner: Arc::new(Inner {
                inbox: Inbox::new(log),
                verifiers,
                clock: Utc::now,
                wake: Arc::new(Notify::new()),
            }),
        }
    }

    /// The same state with another clock (tests of the timestamp window).
    pub fn with_clock(self, clock: fn() -> DateTime<Utc>) -> Self {
        let inner = &self.inner;
        Self {
            inner: Arc::new(Inner {
                inbox: inner.inbox.clone(),
                verifiers: inner.verifiers.clone(),
                clock,
                wake: inner.wake.clone(),
            }),
        }
    }

    /// The inbox.
    pub fn inbox(&self) -> &Inbox {
        &self.inner.inbox
    }

    /// Notified after each new delivery: give it to [`crate::inbound::Worker::woken_by`] so
    /// that a worker in the same process starts at once instead of at its next poll.
    pub fn wake(&self) -> Arc<Notify> {
        self.inner.wake.clone()
    }
}

/// `POST /webhooks/{source}`, for each declared source (`inbound::sources::SOURCES`).
pub fn routes(state: WebhookState) -> Router {
    Router::new()
        .route("/webhooks/{source}", post(delivery))
        .with_state(state)
}

async fn delivery(
    State(state): State<WebhookState>,
    Path(name): Path<String>,
    request: Request,
) -> Response {
    match sources::named(&name) {
        Some(spec) => receive(&state, spec, request).await,
        None => Problem::not_found("webhook source", &name).into_response(),
    }
}

#[tracing::instrument(skip_all, fields(source = %spec.source, event_id))]
async fn receive(state: &WebhookState, spec: &SourceSpec, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(error) => return Problem::unreadable_body(&error, MAX_BODY).into_response(),
    };
    let key = match verify(state, spec, &parts.headers, &body) {
        Ok(key) => key,
        Err(problem) => {
            tracing::warn!(code = problem.code, detail = %problem.detail, "webhook refused");
            received(spec, "refused");
            if problem.status == StatusCode::UNAUTHORIZED.as_u16() {
                metrics::counter!("backoffice_webhook_signature_failures_total", "source" => spec.source.as_str())
                    .increment(1);
            }
            return problem.into_response();
        }
    };
    tracing::Span::current().record("event_id", key.event_id.as_str());
    // A body that parsed as JSON is UTF-8; this only guards the invariant.
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        received(spec, "refused");
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_payload",
            "Malformed payload",
            "the body is not UTF-8",
        )
        .with_field("body")
        .into_response();
    };
    let delivery = NewDelivery {
        body: text,
        headers: stored_headers(&parts.headers),
        received_at: (state.inner.clock)(),
        key,
    };
    match state.inbox().store(&delivery).await {
        Ok(Stored::New) => {
            received(spec, "stored");
            state.inner.wake.notify_one();
            answer(StatusCode::ACCEPTED, "accepted", &delivery.key)
        }
        Ok(Stored::Duplicate) => {
            received(spec, "duplicate");
            answer(StatusCode::OK, "duplicate", &delivery.key)
        }
        Err(error) => Problem::unavailable(&error).into_response(),
    }
}

/// Counts a delivery of `spec`'s source: `stored`, `duplicate` or `refused`.
fn received(spec: &SourceSpec, outcome: &'static str) {
    metrics::counter!("backoffice_webhook_received_total", "source" => spec.source.as_str(), "outcome" => outcome)
        .increment(1);
}

/// Checks the signature with the source's scheme, then reads the inbox key.
fn verify(
    state: &WebhookState,
    spec: &SourceSpec,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<InboxKey, Problem> {
    let source = spec.source;
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let disabled = || {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "source_disabled",
            "Webhook source disabled",
            format!("no secret is configured for {source}"),
        )
    };
    let verifier = state.inner.verifiers.of(source).ok_or_else(disabled)?;
    let signed_id = verifier.verify(header, body, (state.inner.clock)())?;
    (spec.inbox_key)(signed_id, body).map_err(|e| {
        let problem = Problem::from(e);
        // A message id the signature covers came from its header.
        if signed_id.is_some() && problem.field.as_deref() == Some("id") {
            problem.with_field(signature::standard::ID_HEADER)
        } else {
            problem
        }
    })
}

/// The request headers as a JSON object (lowercase names; repeated headers joined with `, `),
/// secret values replaced by `"[redacted]"`.
fn stored_headers(headers: &HeaderMap) -> Value {
    let mut object = Map::new();
    for name in headers.keys() {
        let value = if is_credential(name.as_str()) {
            "[redacted]".to_owned()
        } else {
            headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        };
        object.insert(name.as_str().to_owned(), Value::String(value));
    }
    Value::Object(object)
}

fn answer(status: StatusCode, outcome: &str, key: &InboxKey) -> Response {
    let body = json!({
        "status": outcome,
        "source": key.source,
        "event_id": key.event_id.as_str(),
    });
    (status, Json(body)).into_response()
}
