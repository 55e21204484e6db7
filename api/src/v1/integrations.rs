//! The outbound integrations (ADR 0011), for the people who run them: each destination's
//! status (position, lag, circuit, messages set aside, attempts of the last hour), the
//! messages it set aside, the attempts at one message, and a person's retry of a parked or
//! waiting message (the same as retrying its attention item, and recorded on it).

use adapters::outbound::{
    self,
    engine::{subscriber_name, Attempt},
    status::DestinationStatus,
};
use axum::{
    extract::{Path, State},
    response::Response,
    Json,
};
use chrono::{DateTime, Utc};
use eventlog::StepState;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::accepted;
use crate::{
    auth::{Caller, Permission},
    extract::CommandContext,
    problem::{Problem, ProblemDetails},
    AppState,
};

/// A message a destination set aside.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OutboundMessage {
    /// The event the message is for: the idempotency key the partner sees.
    pub event_id: Uuid,
    /// Its log position.
    pub position: i64,
    /// Its event type.
    pub event_type: String,
    /// Its lane (`order/0190…`): later messages of the lane wait behind it.
    pub lane: String,
    /// `retrying` (failing, tried again by itself), `parked` (waits for a person), `waiting`
    /// (for a fact such as the customer's address), `queued` (behind an earlier one of its
    /// lane) or `requested` (a person asked for another attempt).
    pub state: String,
    /// Attempts so far.
    pub attempts: i32,
    /// When it is tried next (retrying and waiting messages).
    pub next_attempt_at: DateTime<Utc>,
    /// Why its last attempt failed.
    pub last_error: Option<String>,
    /// When it was first set aside.
    pub set_aside_at: DateTime<Utc>,
    /// Its attention item, for a parked, waiting or requested message.
    pub attention_id: Option<String>,
}

fn destination(name: &str) -> Result<&'static str, Problem> {
    outbound::NAMES
        .iter()
        .copied()
        .find(|known| *known == name)
        .ok_or_else(|| Problem::not_found("destination", name))
}

fn event_id(text: &str) -> Result<Uuid, Problem> {
    text.parse()
        .map_err(|_| Problem::not_found("message", text))
}

/// Every destination's status, configured or not.
#[utoipa::path(get, path = "/admin/integrations", tag = "admin",
    responses((status = 200, body = Vec<DestinationStatus>), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<DestinationStatus>>, Problem> {
    caller.require(Permission::IntegrationsView)?;
    let statuses = outbound::status::destinations(&state.log, outbound::NAMES, |name| {
        state.outbound.is_configured(name)
    })
    .await?;
    Ok(Json(statuses))
}

/// The messages a destination set aside, by lane and position.
#[utoipa::path(get, path = "/admin/integrations/{destination}/messages", tag = "admin",
    params(("destination" = String, Path, description = "erp, crm, email, sms or events")),
    responses((status = 200, body = Vec<OutboundMessage>), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<Vec<OutboundMessage>>, Problem> {
    caller.require(Permission::IntegrationsView)?;
    let name = destination(&name)?;
    let subscriber = subscriber_name(name);
    let steps = outbound::status::messages(&state.log, name).await?;
    let mut messages = Vec::with_capacity(steps.len());
    for step in steps {
        let event = state.log.event_at(step.position).await?;
        let attention_id = event
            .as_ref()
            .filter(|_| step.state.is_visible())
            .map(|event| commands::attention::item_of(&subscriber, event).to_string());
        messages.push(OutboundMessage {
            event_id: step.event_id,
            position: step.position,
            event_type: event.map(|e| e.event_type).unwrap_or_default(),
            lane: step.lane,
            state: step.state.as_str().to_owned(),
            attempts: step.attempts,
            next_attempt_at: step.next_attempt_at,
            last_error: step.last_error,
            set_aside_at: step.set_aside_at,
            attention_id,
        });
    }
    Ok(Json(messages))
}

/// Every attempt at a destination's message for one event, oldest first.
#[utoipa::path(get, path = "/admin/integrations/{destination}/messages/{event_id}/attempts", tag = "admin",
    params(("destination" = String, Path, description = "erp, crm, email, sms or events"),
        ("event_id" = String, Path, description = "The event's id")),
    responses((status = 200, body = Vec<Attempt>), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn attempts(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
) -> Result<Json<Vec<Attempt>>, Problem> {
    caller.require(Permission::IntegrationsView)?;
    let name = destination(&name)?;
    let id = event_id(&id)?;
    let attempts = outbound::engine::attempts(&state.log, name, id).await?;
    Ok(Json(attempts))
}

/// Tries a parked or waiting message once more (after its cause was fixed): recorded on its
/// attention item, which is resolved when the message goes through.
#[utoipa::path(post, path = "/admin/integrations/{destination}/messages/{event_id}/retry", tag = "admin",
    params(("destination" = String, Path, description = "erp, crm, email, sms or events"),
        ("event_id" = String, Path, description = "The event's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 200, body = super::Accepted), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 422, body = ProblemDetails),
        (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn retry(
    State(state): State<AppState>,
    ctx: CommandContext,
    Path((name, id)): Path<(String, String)>,
) -> Result<Response, Problem> {
    ctx.caller.require(Permission::AttentionResolve)?;
    let name = destination(&name)?;
    let id = event_id(&id)?;
    let subscriber = subscriber_name(name);
    let step = state
        .log
        .set_aside_steps(Some(&subscriber))
        .await?
        .into_iter()
        .find(|step| step.event_id == id)
        .ok_or_else(|| Problem::not_found("message set aside", &id.to_string()))?;
    if !step.state.is_visible() {
        let when = match step.state {
            StepState::Queued => "it waits behind an earlier message of its lane".to_owned(),
            _ => format!("it is tried again by itself at {}", step.next_attempt_at),
        };
        return Err(Problem::new(
            axum::http::StatusCode::CONFLICT,
            "not_parked",
            "The message is not waiting for a person",
            format!("{subscriber} has not parked the message for {id}: {when}"),
        ));
    }
    let event = state
        .log
        .event_at(step.position)
        .await?
        .ok_or_else(|| Problem::not_found("message", &id.to_string()))?;
    let item = commands::attention::item_of(&subscriber, &event);
    let executed =
        commands::attention::retry(&state.handler, item, &ctx.meta, crate::workers::lane_of)
            .await
            .map_err(super::attention::action_problem)?;
    Ok(accepted(&executed, &item.to_string(), None))
}
