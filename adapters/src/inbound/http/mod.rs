//! The webhook endpoints (`POST /webhooks/{stripe,easypost,erp,crm}`) and, separately, the
//! inbox's admin routes, as axum routers the api crate mounts.
//!
//! A delivery is read raw (at most [`MAX_BODY`] bytes), verified with the source's own scheme,
//! keyed by (source, provider event id) and stored before any 2xx: 202 when new, 200 for a
//! duplicate, which is neither stored nor processed again. A refused signature is 401 and
//! stores nothing but a log line; a verified body that is no event envelope is 400.

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Request, State},
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
    payload::{crm, easypost, erp, stripe, InboxKey, Source},
    signature::{self, StandardWebhookHeaders},
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

/// `POST /webhooks/stripe`, `/webhooks/easypost`, `/webhooks/erp` and `/webhooks/crm`.
pub fn routes(state: WebhookState) -> Router {
    Router::new()
        .route("/webhooks/stripe", post(stripe_delivery))
        .route("/webhooks/easypost", post(easypost_delivery))
        .route("/webhooks/erp", post(erp_delivery))
        .route("/webhooks/crm", post(crm_delivery))
        .with_state(state)
}

async fn stripe_delivery(State(state): State<WebhookState>, request: Request) -> Response {
    receive(&state, Source::Stripe, request).await
}

async fn easypost_delivery(State(state): State<WebhookState>, request: Request) -> Response {
    receive(&state, Source::EasyPost, request).await
}

async fn erp_delivery(State(state): State<WebhookState>, request: Request) -> Response {
    receive(&state, Source::Erp, request).await
}

async fn crm_delivery(State(state): State<WebhookState>, request: Request) -> Response {
    receive(&state, Source::Crm, request).await
}

#[tracing::instrument(skip_all, fields(source = %source, event_id))]
async fn receive(state: &WebhookState, source: Source, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(error) => return Problem::unreadable_body(&error, MAX_BODY).into_response(),
    };
    let key = match verify(state, source, &parts.headers, &body) {
        Ok(key) => key,
        Err(problem) => {
            tracing::warn!(code = problem.code, detail = %problem.detail, "webhook refused");
            return problem.into_response();
        }
    };
    tracing::Span::current().record("event_id", key.event_id.as_str());
    // A body that parsed as JSON is UTF-8; this only guards the invariant.
    let Ok(text) = String::from_utf8(body.to_vec()) else {
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
            state.inner.wake.notify_one();
            answer(StatusCode::ACCEPTED, "accepted", &delivery.key)
        }
        Ok(Stored::Duplicate) => answer(StatusCode::OK, "duplicate", &delivery.key),
        Err(error) => Problem::unavailable(&error).into_response(),
    }
}

/// Checks the signature with the source's scheme, then reads the inbox key.
fn verify(
    state: &WebhookState,
    source: Source,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<InboxKey, Problem> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let now = (state.inner.clock)();
    let verifiers = &state.inner.verifiers;
    let disabled = || {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "source_disabled",
            "Webhook source disabled",
            format!("no secret is configured for {source}"),
        )
    };
    match source {
        Source::Stripe => {
            let verifier = verifiers.stripe.as_ref().ok_or_else(disabled)?;
            verifier.verify(header(signature::stripe::HEADER), body, now)?;
            Ok(stripe::inbox_key(body)?)
        }
        Source::EasyPost => {
            let verifier = verifiers.easypost.as_ref().ok_or_else(disabled)?;
            verifier.verify(header(signature::easypost::HEADER), body)?;
            Ok(easypost::inbox_key(body)?)
        }
        Source::Erp | Source::Crm => {
            let verifier = match source {
                Source::Erp => verifiers.erp.as_ref(),
                _ => verifiers.crm.as_ref(),
            }
            .ok_or_else(disabled)?;
            let standard = StandardWebhookHeaders::from_lookup(header);
            verifier.verify(&standard, body, now)?;
            let id = standard.id.unwrap_or_default();
            let key = match source {
                Source::Erp => erp::inbox_key(id, body),
                _ => crm::inbox_key(id, body),
            };
            key.map_err(|e| {
                let problem = Problem::from(e);
                if problem.field.as_deref() == Some("id") {
                    problem.with_field(signature::standard::ID_HEADER)
                } else {
                    problem
                }
            })
        }
    }
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
