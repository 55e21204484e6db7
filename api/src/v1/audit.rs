//! Audit: the full history of one stream, a query over the whole log, and the inclusion proof
//! of one event against its signed seal; all read the log itself, never a read model.

use axum::{
    extract::{Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
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

/// A seal as signed and published (docs/audit.md): the signed message is the canonical JSON of
/// these fields but `signature`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SignedSeal {
    /// `backoffice/audit-seal/1`.
    pub format: String,
    /// 1, 2, 3 … in the order the seals were made.
    pub number: i64,
    /// The first position it covers (the one after the previous seal's last).
    pub first: i64,
    /// The last position it covers: an event's.
    pub last: i64,
    /// The number of leaves of its Merkle tree: the events in `first..=last` (a position no
    /// event holds, left by an append that rolled back, is no leaf).
    pub leaves: i64,
    /// The link of `last` (hex).
    pub head: String,
    /// The RFC 6962 Merkle root over the links of the events in `first..=last`, in position
    /// order (hex).
    pub root: String,
    /// When it was made, in microseconds since the Unix epoch.
    pub sealed_at: i64,
    /// The Ed25519 public key that signed it (base64).
    pub public_key: String,
    /// The previous seal's signature (base64); null for the first seal.
    pub previous_signature: Option<String>,
    /// The Ed25519 signature (base64).
    pub signature: String,
}

/// What shows, with nothing but the service's public key, that one event is in the log as it
/// was sealed: its content hash and link recomputed from the fields below, the audit path from
/// its link to the seal's Merkle root, and the seal's signature (`scripts/verify_proof.py`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InclusionProof {
    /// The event's fields exactly as hashed into its content hash: `event_id`, `stream_type`,
    /// `stream_id`, `event_type`, `event_version`, `payload` and `metadata`, as stored (personal
    /// fields sealed, as the log holds them).
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
    /// Its global log position.
    pub position: i64,
    /// Its version within its stream.
    pub sequence: i64,
    /// When it was recorded, in microseconds since the Unix epoch.
    pub recorded_at_micros: i64,
    /// The link of the event before it (hex; 32 zero bytes before the chain's first).
    pub previous_link: String,
    /// Its link (hex).
    pub link: String,
    /// Its leaf's index in the seal's tree: its rank among the events in the seal's range (the
    /// events before it there).
    pub leaf_index: u64,
    /// The number of leaves of the seal's tree: the seal's `leaves`.
    pub tree_size: u64,
    /// The RFC 6962 audit path: sibling hashes (hex) from the event's leaf up to the root.
    pub audit_path: Vec<String>,
    /// The seal over the event's range.
    pub seal: SignedSeal,
}

/// The inclusion proof of one event in the log: the event as hashed, its link, its audit path
/// in its seal's Merkle tree and the signed seal. An event is sealed within `[audit]
/// seal_every_secs` of being linked; before that the answer is a 409 `not_sealed_yet`.
#[utoipa::path(get, path = "/audit/proof/{event_id}", tag = "audit",
    params(("event_id" = String, Path, format = Uuid, description = "The event's id")),
    responses((status = 200, body = InclusionProof), (status = 400, description = "The id is not a UUID", body = ProblemDetails),
        (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails),
        (status = 409, description = "`not_sealed_yet` (ask again after `Retry-After` seconds), or `not_sealed`: from before the chain", body = ProblemDetails),
        (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn proof(
    State(state): State<AppState>,
    caller: Caller,
    Path(event_id): Path<String>,
) -> Result<Response, Problem> {
    caller.require(Permission::AuditView)?;
    let Ok(id) = event_id.parse::<uuid::Uuid>() else {
        let mut problem = Problem::new(
            StatusCode::BAD_REQUEST,
            "malformed_id",
            "The id is malformed",
            format!("{event_id:?} is not an event id (a UUID)"),
        );
        problem.field = Some("event_id".to_owned());
        return Err(problem);
    };
    let proof = match eventlog::proof::prove(&state.log, id).await? {
        eventlog::proof::Proven::Proof(proof) => proof,
        eventlog::proof::Proven::NoSuchEvent => return Err(Problem::not_found("event", &event_id)),
        eventlog::proof::Proven::BeforeTheChain(position) => {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "not_sealed",
                "Not sealed",
                format!(
                    "the event at position {position} is from before the hash chain began: no \
                     seal covers it"
                ),
            ))
        }
        eventlog::proof::Proven::NotSealedYet {
            position,
            sealed_up_to,
        } => {
            let every = state.sealer.as_ref().map(|s| s.every.as_secs().max(1));
            let detail = format!(
                "the event at position {position} is not sealed yet ({}); {}",
                match sealed_up_to {
                    Some(last) => format!("the seals reach position {last}"),
                    None => "there is no seal yet".to_owned(),
                },
                match every {
                    Some(secs) => format!("it is sealed within {secs} s of being linked"),
                    None => "this process makes no seals".to_owned(),
                }
            );
            let problem = Problem::new(
                StatusCode::CONFLICT,
                "not_sealed_yet",
                "Not sealed yet",
                detail,
            );
            let mut response = problem.into_response();
            if let Some(secs) = every {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            return Ok(response);
        }
    };
    let seal: SignedSeal =
        serde_json::from_value(proof.seal.to_json()).map_err(|e| Problem::internal(&e))?;
    Ok(Json(InclusionProof {
        event: proof.event,
        position: proof.position,
        sequence: proof.sequence,
        recorded_at_micros: proof.recorded_at,
        previous_link: hex::encode(proof.previous_link),
        link: hex::encode(proof.link),
        leaf_index: proof.leaf_index,
        tree_size: proof.tree_size,
        audit_path: proof.audit_path.iter().map(hex::encode).collect(),
        seal,
    })
    .into_response())
}
