//! The HTTP side of backoffice: the axum router (health, REST `/api/v1`, its OpenAPI document
//! and docs page), authentication and authorization, idempotent POSTs, and the configuration
//! the `backoffice` binary starts from.

pub mod auth;
pub mod callers;
pub mod config;
pub mod console;
mod db;
mod extract;
pub mod forget;
pub mod health;
pub mod idempotency;
pub mod keys;
pub mod metrics;
mod nul;
pub mod openapi;
pub mod request_id;
pub mod sealing;
pub use ::problem;
pub use workers::spawn_workers;
pub mod server;
pub mod telemetry;
mod unread_body;
pub mod users;
pub mod v1;
pub mod workers;

use std::time::Duration;

use adapters::inbound::{Verifiers, WebhookState, WorkerOptions};
use axum::{
    extract::{DefaultBodyLimit, Request},
    http::{header, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::get,
    Json, Router,
};
use commands::CommandHandler;
use eventlog::EventLog;
use tower::ServiceBuilder;
use tower_http::{
    compression::CompressionLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer},
    timeout::TimeoutLayer,
    trace::TraceLayer,
};
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;

use crate::problem::{Problem, PROBLEM_JSON};

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The event log.
    pub log: EventLog,
    /// Commands against the log.
    pub handler: CommandHandler,
    /// The webhook inbox's side of the HTTP server.
    pub webhooks: WebhookState,
    /// How long a read asked for a log position waits for it before a 503
    /// (5 s unless set).
    pub consistency_wait: Duration,
    /// How the process managers read, retry and park their steps.
    pub process_options: eventlog::SubscriptionOptions,
    /// How the webhook inbox worker paces itself.
    pub inbox_options: WorkerOptions,
    /// This process's name, written into its claims (idempotency keys in flight, webhook
    /// deliveries), so that when it starts again it releases those it held.
    pub process: std::sync::Arc<str>,
    /// The idempotency keys this process runs a request for.
    pub running_keys: std::sync::Arc<idempotency::RunningKeys>,
    /// The outbound destinations this process is configured for.
    pub outbound: std::sync::Arc<adapters::outbound::OutboundConfig>,
    /// The callers of tokens seen lately, while `serve` listens for credential changes.
    pub callers: callers::KnownCallers,
    /// Above this many minor units a refund awaits a second person's approval (ADR 0026).
    pub refund_approval_above_minor: i64,
    /// The seal key and the master key (ADR 0028); random ones unless set.
    pub keys: std::sync::Arc<keys::Keys>,
    /// The sealer `spawn_workers` runs (`serve` sets it from `[audit]`); none: no seals made.
    pub sealer: Option<std::sync::Arc<eventlog::sealer::Sealer>>,
}

impl AppState {
    /// Over `log`, with every webhook source disabled (no secret).
    pub fn new(log: EventLog) -> Self {
        let webhooks = WebhookState::new(log.clone(), Verifiers::default());
        Self::with_webhooks(log, webhooks)
    }

    /// Over `log`, with webhooks verified and stored by `webhooks`.
    pub fn with_webhooks(log: EventLog, webhooks: WebhookState) -> Self {
        Self {
            handler: CommandHandler::new(log.clone()),
            log,
            webhooks,
            consistency_wait: extract::CONSISTENCY_WAIT,
            process_options: eventlog::SubscriptionOptions::default(),
            inbox_options: WorkerOptions::default(),
            process: std::sync::Arc::from("backoffice"),
            running_keys: std::sync::Arc::default(),
            outbound: std::sync::Arc::default(),
            callers: callers::KnownCallers::default(),
            refund_approval_above_minor: v1::refund_approvals::DEFAULT_APPROVAL_ABOVE_MINOR,
            keys: std::sync::Arc::new(keys::Keys::random()),
            sealer: None,
        }
    }

    /// Releases the claims this process held when it last stopped (a crash): its idempotency
    /// keys in flight and its claimed webhook deliveries; answers how many of each.
    pub async fn release_own_claims(&self) -> Result<(u64, u64), eventlog::StorageError> {
        let keys = idempotency::release_own_claims(self).await?;
        let deliveries = self
            .webhooks
            .inbox()
            .release_claims_of(&self.process, chrono::Utc::now())
            .await?;
        Ok((keys, deliveries))
    }
}

/// The `/api/v1` routes and the OpenAPI document of every route the router serves.
fn api_and_document() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, mut document) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .nest("/api/v1", v1::routes())
        .split_for_parts();
    openapi::document_webhook_routes(&mut document);
    openapi::declare_problem_media_type(&mut document);
    v1::schema::constrain_parameters(&mut document);
    (api, document)
}

/// The application's router.
pub fn router(state: AppState) -> Router {
    let (api, document) = api_and_document();
    let docs = openapi::docs_page(&document);
    let document = Json(document);
    let api = api.layer(middleware::from_fn_with_state(
        state.clone(),
        idempotency::idempotency,
    ));
    Router::new()
        .merge(api)
        .route("/api/v1/openapi.json", get(move || async move { document }))
        .route("/api/v1/docs", get(move || async move { Html(docs) }))
        .merge(adapters::inbound::routes(state.webhooks.clone()).with_state(()))
        .nest(
            "/api/v1/admin/webhooks",
            adapters::inbound::admin_routes(state.webhooks.clone())
                .with_state(())
                .layer(middleware::from_fn_with_state(state.clone(), admin_only)),
        )
        .merge(console::routes())
        .merge(health::routes())
        .route_layer(middleware::from_fn(metrics::remember_route))
        .fallback(|| async {
            Problem::new(StatusCode::NOT_FOUND, "not_found", "Not found", "no such route")
        })
        .with_state(state)
        // A request that takes too long is the server's failure to answer, not the client's
        // slowness (408): a 503, and inside the problem mapping, so it is problem details too.
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::from_fn(nul::refuse_nul))
        .layer(middleware::from_fn(problem_for_bare_errors))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request| {
                    let request_id = request
                        .extensions()
                        .get::<RequestId>()
                        .and_then(|id| id.header_value().to_str().ok())
                        .unwrap_or_default();
                    let span = tracing::info_span!("http", method = %request.method(), path = %request.uri().path(), request_id);
                    let traceparent = request.headers().get(eventlog::trace::TRACEPARENT);
                    eventlog::trace::continue_trace(&span, traceparent.and_then(|v| v.to_str().ok()));
                    span
                }))
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(CompressionLayer::new())
                .layer(DefaultBodyLimit::max(idempotency::BODY_LIMIT)),
        )
        .layer(middleware::from_fn(request_id::drop_invalid))
        .layer(middleware::from_fn(unread_body::close_if_body_unread))
        .layer(middleware::from_fn(metrics::track_requests))
}

/// How long a request may take before it is answered with a 503.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Lets only callers with the `admin` permission through.
async fn admin_only(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    use axum::extract::FromRequestParts as _;
    let (mut parts, body) = request.into_parts();
    let allowed = match auth::Caller::from_request_parts(&mut parts, &state).await {
        Ok(caller) => caller.require(auth::Permission::Admin),
        Err(problem) => Err(problem),
    };
    match allowed {
        Ok(()) => next.run(Request::from_parts(parts, body)).await,
        Err(problem) => problem.into_response(),
    }
}

/// Turns error responses made outside the handlers (method not allowed, body too large, time
/// out) into problem details like every other error.
async fn problem_for_bare_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE);
    let is_problem = content_type.is_some_and(|t| t == HeaderValue::from_static(PROBLEM_JSON));
    // The console's pages answer errors as pages.
    let is_page = content_type.is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if !(status.is_client_error() || status.is_server_error()) || is_problem || is_page {
        return response;
    }
    let (code, title) = match status {
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "Method not allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "The body is too large"),
        StatusCode::SERVICE_UNAVAILABLE => ("timeout", "The request took too long"),
        StatusCode::NOT_FOUND => ("not_found", "Not found"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "The body must be JSON"),
        s if s.is_server_error() => ("internal_error", "Internal error"),
        _ => ("bad_request", "Bad request"),
    };
    Problem::new(status, code, title, title.to_lowercase()).into_response()
}
