//! Audit: the full history of one stream, and a query over the whole log; both read the log
//! itself, never a read model.

use axum::{
    extract::{Path, State},
    Json,
};
use chrono::{DateTime, Utc};
use eventlog::{AuditFilter, RecordedEvent, StreamId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::{Caller, Permission},
    problem::{Problem, ProblemDetails, QueryParams},
    AppState,
};

/// One event as the audit trail shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    /// Its global log position.
    pub position: i64,
    /// Its id.
    pub event_id: String,
    /// The stream's type (`order`, `payment`, `shipment`).
    pub stream_type: String,
    /// The stream's id.
    pub stream_id: String,
    /// Its version within the stream (1, 2, 3 …).
    pub version: i64,
    /// Its type (`OrderPlaced`).
    pub event_type: String,
    /// The schema version of its payload.
    pub schema_version: i32,
    /// What happened.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// Who and what caused it: actor, correlation id, causation id, source, idempotency key,
    /// request id.
    #[schema(value_type = Object)]
    pub metadata: eventlog::Metadata,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

impl From<RecordedEvent> for AuditEvent {
    fn from(event: RecordedEvent) -> Self {
        Self {
            position: event.position,
            event_id: event.event_id.to_string(),
            stream_type: event.stream.aggregate_type,
            stream_id: event.stream.aggregate_id,
            version: event.sequence,
            event_type: event.event_type,
            schema_version: event.event_version,
            payload: event.payload,
            metadata: event.metadata,
            recorded_at: event.recorded_at,
        }
    }
}

/// A page of the audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditPage {
    /// In position order.
    pub events: Vec<AuditEvent>,
    /// Pass as `after` for the next page; none on the last page.
    pub next_after: Option<i64>,
}

/// The audit query's parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Who caused the events (`user:ana`, `process:order-payments`, `webhook:stripe`).
    pub actor: Option<String>,
    /// `order`, `payment`, `shipment`, `attention` or `user`.
    pub stream_type: Option<String>,
    /// An event type (`OrderCancelled`).
    pub event_type: Option<String>,
    /// Every event one request caused (its `X-Request-Id`), process managers' included.
    pub correlation_id: Option<String>,
    /// Recorded at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Recorded before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Events after this log position (the previous page's `next_after`).
    pub after: Option<i64>,
    /// Events per page, 1 to 500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

/// Every event of one stream, in order.
#[utoipa::path(get, path = "/audit/streams/{stream_type}/{stream_id}", tag = "audit",
    params(("stream_type" = String, Path, description = "`order`, `payment`, `shipment`, `attention` or `user`"), ("stream_id" = String, Path, description = "The stream's id")),
    responses((status = 200, body = Vec<AuditEvent>), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn stream_history(
    State(state): State<AppState>,
    caller: Caller,
    Path((stream_type, stream_id)): Path<(String, String)>,
) -> Result<Json<Vec<AuditEvent>>, Problem> {
    caller.require(Permission::AuditView)?;
    let events = state
        .log
        .read_stream(&StreamId::new(&stream_type, &stream_id), 1)
        .await?;
    if events.is_empty() {
        return Err(Problem::not_found(&stream_type, &stream_id));
    }
    Ok(Json(events.into_iter().map(AuditEvent::from).collect()))
}

/// Events of the whole log by actor, stream type, event type, time and correlation id, in
/// position order, paged by position.
#[utoipa::path(get, path = "/audit/events", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn query(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<AuditPage>, Problem> {
    caller.require(Permission::AuditView)?;
    let limit = i64::from(problem::page_size(query.limit, 100, 500)?);
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(Problem::validation("after", "a log position is 0 or more"));
    }
    let filter = AuditFilter {
        actor: query.actor,
        stream_type: query.stream_type,
        event_type: query.event_type,
        correlation_id: query.correlation_id,
        from: query.from,
        to: query.to,
    };
    let events = state.log.audit(&filter, after, limit).await?;
    let next_after = if i64::try_from(events.len()).unwrap_or(i64::MAX) == limit {
        events.last().map(|e| e.position)
    } else {
        None
    };
    Ok(Json(AuditPage {
        events: events.into_iter().map(AuditEvent::from).collect(),
        next_after,
    }))
}
