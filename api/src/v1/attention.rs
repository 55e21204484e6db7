//! Attention items (ADR 0010): what a workflow could not finish by itself, listed for a person
//! with its cause chain, and retried or dismissed with a reason (each change an event).

use axum::{
    extract::{Path, State},
    response::Response,
    Json,
};
use commands::attention::ActionError;
use domain::{
    attention::{AttentionKind, AttentionStatus},
    AttentionId, NonEmptyText,
};
use projections::{
    attention::{AttentionFilter, AttentionRow},
    Page, ReadModel,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{accepted, page_answer, status_filter, Accepted, Paging};
use crate::{
    auth::{Caller, Permission},
    extract::{CommandContext, JsonBody, MinPosition},
    problem::{Problem, ProblemDetails, QueryParams},
    AppState,
};

/// Filters of the attention list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AttentionQuery {
    /// `refused_step`, `parked_step` or `waiting_step`.
    pub kind: Option<String>,
    /// `open`, `retrying`, `resolved` or `dismissed`.
    pub status: Option<String>,
    /// The order concerned.
    pub order_id: Option<String>,
    /// The process whose step it is (`process:order-cancellation`).
    pub process: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Wait until the list includes this log position (read by `MinPosition`; declared here
    /// for the OpenAPI document).
    #[allow(dead_code)]
    pub min_position: Option<i64>,
}

/// Why a step is not to be done.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DismissRequest {
    /// The reason, kept in the audit trail.
    #[schema(schema_with = super::schema::text_2000)]
    pub reason: NonEmptyText,
}

/// One event of a cause chain.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CauseLink {
    /// The event's id.
    pub event_id: String,
    /// Its log position.
    pub position: i64,
    /// Its stream (`order/0190…`).
    pub stream: String,
    /// Its type.
    pub event_type: String,
    /// Who caused it (`user:ana`, `webhook:stripe`, `process:order-cancellation`).
    pub actor: Option<String>,
    /// Where it came from (`api`, `webhook:stripe`, …).
    pub source: Option<String>,
    /// When it was recorded.
    pub recorded_at: chrono::DateTime<chrono::Utc>,
}

/// An attention item with the chain of events that led to it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttentionDetail {
    /// The item.
    #[serde(flatten)]
    pub item: AttentionRow,
    /// The cause first, then what caused it, back to the request or delivery that began it
    /// (whose id is the last link's `causation_id` in the audit trail).
    pub cause_chain: Vec<CauseLink>,
}

/// How many links of a cause chain are followed at most.
const CHAIN_LIMIT: usize = 20;

/// Attention items, newest first.
#[utoipa::path(get, path = "/attention", tag = "attention", params(AttentionQuery),
    responses((status = 200, body = Page<AttentionRow>), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 422, body = ProblemDetails), (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    consistency: MinPosition,
    QueryParams(query): QueryParams<AttentionQuery>,
) -> Result<Json<Page<AttentionRow>>, Problem> {
    caller.require(Permission::AttentionView)?;
    consistency
        .wait(&state, ReadModel::Attention.name())
        .await?;
    let filter = AttentionFilter {
        kind: status_filter::<AttentionKind>(query.kind, "kind")?,
        status: status_filter::<AttentionStatus>(query.status, "status")?,
        order_id: query.order_id,
        process: query.process,
    };
    let paging = Paging {
        cursor: query.cursor,
        limit: query.limit,
    };
    let (cursor, limit) = paging.parts()?;
    page_answer(projections::attention::list_items(&state.log, &filter, cursor, limit).await)
}

/// An attention item with its cause chain.
#[utoipa::path(get, path = "/attention/{id}", tag = "attention",
    params(("id" = String, Path, description = "The item's id"),
        ("X-Min-Position" = Option<i64>, Header, description = "Wait until the read includes this log position")),
    responses((status = 200, body = AttentionDetail), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 422, body = ProblemDetails), (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    consistency: MinPosition,
    Path(id): Path<String>,
) -> Result<Json<AttentionDetail>, Problem> {
    caller.require(Permission::AttentionView)?;
    consistency
        .wait(&state, ReadModel::Attention.name())
        .await?;
    let item = projections::attention::get_item(&state.log, &id)
        .await?
        .ok_or_else(|| Problem::not_found("attention item", &id))?;
    let mut cause_chain = Vec::new();
    let mut next = item.cause_event_id.parse::<uuid::Uuid>().ok();
    while let Some(event_id) = next.filter(|_| cause_chain.len() < CHAIN_LIMIT) {
        let Some(event) = state.log.event_by_id(event_id).await? else {
            break;
        };
        next = event
            .metadata
            .causation_id
            .as_deref()
            .and_then(|id| id.parse().ok());
        cause_chain.push(CauseLink {
            event_id: event.event_id.to_string(),
            position: event.position,
            stream: event.stream.to_string(),
            event_type: event.event_type,
            actor: event.metadata.actor,
            source: event.metadata.source,
            recorded_at: event.recorded_at,
        });
    }
    Ok(Json(AttentionDetail { item, cause_chain }))
}

fn item_id(id: &str) -> Result<AttentionId, Problem> {
    id.parse()
        .map_err(|_| Problem::not_found("attention item", id))
}

pub(super) fn action_problem(error: ActionError) -> Problem {
    match error {
        ActionError::Refused(error) => error.into(),
        ActionError::StepGone(why) => Problem::new(
            axum::http::StatusCode::CONFLICT,
            "step_gone",
            "The item's step cannot be taken again",
            why,
        ),
    }
}

/// Tries the item's step once more (after its cause was fixed); the attempt is recorded on
/// the item, which is resolved if the step goes through and open again if not.
#[utoipa::path(post, path = "/attention/{id}/retry", tag = "attention",
    params(("id" = String, Path, description = "The item's id"), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
        ("If-Match" = Option<String>, Header, description = "Only if the item is still at this stream version")),
    responses((status = 200, body = Accepted), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    ctx: CommandContext,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    ctx.caller.require(Permission::AttentionResolve)?;
    let executed = commands::attention::retry(
        &state.handler,
        item_id(&id)?,
        &ctx.meta,
        crate::workers::lane_of,
    )
    .await
    .map_err(action_problem)?;
    Ok(accepted(&executed, &id, None))
}

/// Decides the item's step is not to be done, with a reason; the later steps held behind it
/// go on.
#[utoipa::path(post, path = "/attention/{id}/dismiss", tag = "attention", request_body = DismissRequest,
    params(("id" = String, Path, description = "The item's id"), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
        ("If-Match" = Option<String>, Header, description = "Only if the item is still at this stream version")),
    responses((status = 200, body = Accepted), (status = 400, body = ProblemDetails), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 415, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn dismiss(
    State(state): State<AppState>,
    ctx: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<DismissRequest>,
) -> Result<Response, Problem> {
    ctx.caller.require(Permission::AttentionResolve)?;
    let executed =
        commands::attention::dismiss(&state.handler, item_id(&id)?, body.reason, &ctx.meta)
            .await
            .map_err(action_problem)?;
    Ok(accepted(&executed, &id, None))
}
