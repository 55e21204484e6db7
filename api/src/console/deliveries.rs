//! Deliveries in and out. Webhook deliveries (`admin`, as `/api/v1/admin/webhooks`): the inbox
//! by source and status, newest first, and a retry of a dead, unmatched or failed one (the
//! inbox makes it due now and its worker processes it again). Outbound (`integrations.view`,
//! as `/api/v1/admin/integrations`): each destination's status and the messages it set aside,
//! with a retry of a parked or waiting one (`attention.resolve`, recorded on its attention item
//! as `POST /api/v1/admin/integrations/{destination}/messages/{event_id}/retry`).

use adapters::{
    inbound::{
        inbox::{DeliveryFilter, DeliveryStatus, ListError, RetryOutcome},
        payload::Source,
    },
    outbound::{self, engine::subscriber_name},
};
use askama::Template;
use axum::{
    extract::{
        rejection::{FormRejection, QueryRejection},
        Query, State,
    },
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Extension, Form, Router,
};
use chrono::Utc;
use eventlog::StepState;
use serde::Deserialize;
use tower_http::request_id::RequestId;

use super::{
    page, session,
    session::{Session, Unavailable},
    view::{action_refusal, forbidden, given, query_string, request_id, time},
};
use crate::{
    auth::{Grants, Permission},
    AppState,
};

/// The deliveries routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/deliveries", get(list))
        .route("/console/deliveries/retry", post(retry_delivery))
        .route("/console/deliveries/messages/retry", post(retry_message))
}

/// A webhook delivery as listed.
struct Delivery {
    received_at: String,
    source: &'static str,
    event_id: String,
    event_type: String,
    status: &'static str,
    attempts: i32,
    failures: i32,
    next_attempt_at: String,
    last_error: String,
    retryable: bool,
}

/// A destination's status as shown.
struct Destination {
    name: String,
    configured: bool,
    position: i64,
    lag_events: i64,
    lag_seconds: String,
    circuit: String,
    failing: usize,
    parked: usize,
    waiting: usize,
    queued: usize,
    attempts: String,
}

/// A message a destination set aside, as listed.
struct Message {
    destination: &'static str,
    event_id: String,
    event_type: String,
    lane: String,
    state: &'static str,
    attempts: i32,
    next_attempt_at: String,
    last_error: String,
    set_aside_at: String,
    attention_id: Option<String>,
    retryable: bool,
    /// The retry form's key (one per form: each retries another item).
    key: String,
}

#[derive(Template)]
#[template(path = "console/deliveries.html")]
struct DeliveriesPage<'a> {
    me: session::Me,
    show_inbox: bool,
    show_outbound: bool,
    can_retry_messages: bool,
    sources: Vec<&'static str>,
    statuses: Vec<&'static str>,
    source: &'a str,
    status: &'a str,
    deliveries: Vec<Delivery>,
    next: Option<String>,
    destinations: Vec<Destination>,
    messages: Vec<Message>,
    notice: Option<&'static str>,
    message: Option<&'a str>,
}

/// The page's query: the inbox filters, its page, and what was just done.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    source: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
    done: Option<String>,
}

/// Deliveries per page.
const PAGE_SIZE: u32 = 50;

/// The statuses an admin retry takes a delivery out of (the inbox's own rule).
const RETRYABLE: [DeliveryStatus; 4] = [
    DeliveryStatus::Dead,
    DeliveryStatus::Unmatched,
    DeliveryStatus::UnmatchedExpired,
    DeliveryStatus::Failed,
];

async fn list(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let show_inbox = session.role.grants(Permission::Admin);
    let show_outbound = session.role.grants(Permission::IntegrationsView);
    if !show_inbox && !show_outbound {
        return forbidden(&session, Permission::IntegrationsView);
    }
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let notice = match query.done.as_deref() {
        Some("delivery") => Some("The delivery is due again: the inbox worker processes it now."),
        Some("message") => Some("Another attempt at the message was asked for."),
        _ => None,
    };
    let source = given(query.source);
    let status = given(query.status);
    let mut page = DeliveriesPage {
        me: session.me(),
        show_inbox,
        show_outbound,
        can_retry_messages: session.role.grants(Permission::AttentionResolve),
        sources: Source::all().map(|s| s.as_str()).collect(),
        statuses: <DeliveryStatus as strum::VariantArray>::VARIANTS
            .iter()
            .map(DeliveryStatus::as_str)
            .collect(),
        source: source.as_deref().unwrap_or_default(),
        status: status.as_deref().unwrap_or_default(),
        deliveries: Vec::new(),
        next: None,
        destinations: Vec::new(),
        messages: Vec::new(),
        notice,
        message: None,
    };
    if show_inbox {
        let wanted_source = source.as_deref().map(Source::named);
        let wanted_status = status.as_deref().map(|name| {
            <DeliveryStatus as strum::VariantArray>::VARIANTS
                .iter()
                .copied()
                .find(|s| s.as_str() == name)
        });
        if matches!(wanted_source, Some(None)) || matches!(wanted_status, Some(None)) {
            page.message = Some("Choose a source and a status from the lists.");
            return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
        let filter = DeliveryFilter {
            source: wanted_source.flatten(),
            status: wanted_status.flatten(),
        };
        let cursor = given(query.cursor);
        let found = state
            .webhooks
            .inbox()
            .list(&filter, cursor.as_deref(), PAGE_SIZE)
            .await;
        let found = match found {
            Ok(found) => found,
            Err(ListError::InvalidCursor) => {
                page.message = Some("That page of the list no longer exists; start again.");
                return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
            }
            Err(ListError::Storage(_)) => return Unavailable.into_response(),
        };
        page.next = found.next_cursor.as_deref().map(|next| {
            format!(
                "/console/deliveries{}",
                query_string(&[
                    ("source", source.as_deref()),
                    ("status", status.as_deref()),
                    ("cursor", Some(next)),
                ])
            )
        });
        page.deliveries = found
            .items
            .into_iter()
            .map(|d| Delivery {
                received_at: time(&d.received_at),
                source: d.source.as_str(),
                event_id: d.event_id,
                event_type: d.event_type,
                status: d.status.as_str(),
                attempts: d.attempts,
                failures: d.failures,
                next_attempt_at: time(&d.next_attempt_at),
                last_error: d.last_error.unwrap_or_default(),
                retryable: RETRYABLE.contains(&d.status),
            })
            .collect();
    }
    if show_outbound {
        let Ok((destinations, messages)) = outbound_status(&state, page.can_retry_messages).await
        else {
            return Unavailable.into_response();
        };
        page.destinations = destinations;
        page.messages = messages;
    }
    page::render(StatusCode::OK, &page)
}

/// Every destination's status and the messages each set aside (as the integrations' admin
/// routes read them).
async fn outbound_status(
    state: &AppState,
    can_retry: bool,
) -> Result<(Vec<Destination>, Vec<Message>), eventlog::StorageError> {
    let statuses = outbound::status::destinations(&state.log, outbound::NAMES, |name| {
        state.outbound.is_configured(name)
    })
    .await?;
    let destinations = statuses
        .into_iter()
        .map(|s| Destination {
            circuit: s.circuit.map_or_else(
                || "closed".to_owned(),
                |c| match c.last_error {
                    Some(error) => {
                        format!("{} ({} failures: {error})", c.state, c.consecutive_failures)
                    }
                    None => c.state,
                },
            ),
            attempts: s
                .attempts_last_hour
                .iter()
                .map(|(outcome, n)| format!("{outcome} {n}"))
                .collect::<Vec<_>>()
                .join(", "),
            name: s.destination,
            configured: s.configured,
            position: s.position,
            lag_events: s.lag_events,
            lag_seconds: format!("{:.0}", s.lag_seconds),
            failing: s.failing,
            parked: s.parked,
            waiting: s.waiting,
            queued: s.queued,
        })
        .collect();
    let mut messages = Vec::new();
    for &name in outbound::NAMES {
        let subscriber = subscriber_name(name);
        for step in outbound::status::messages(&state.log, name).await? {
            let event = state.log.event_at(step.position).await?;
            let visible = step.state.is_visible();
            messages.push(Message {
                destination: name,
                event_id: step.event_id.to_string(),
                attention_id: event
                    .as_ref()
                    .filter(|_| visible)
                    .map(|event| commands::attention::item_of(&subscriber, event).to_string()),
                event_type: event.map(|e| e.event_type).unwrap_or_default(),
                lane: step.lane,
                state: step.state.as_str(),
                attempts: step.attempts,
                next_attempt_at: time(&step.next_attempt_at),
                last_error: step.last_error.unwrap_or_default(),
                set_aside_at: time(&step.set_aside_at),
                retryable: can_retry && visible,
                key: session::token(),
            });
        }
    }
    Ok((destinations, messages))
}

/// A delivery retry's fields.
#[derive(Debug, Deserialize)]
struct DeliveryFields {
    csrf: String,
    source: String,
    event_id: String,
}

async fn retry_delivery(
    State(state): State<AppState>,
    session: Session,
    form: Result<Form<DeliveryFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged("Open the deliveries page again.");
    };
    if !session.csrf_matches(&fields.csrf) {
        return page::forged("Open the deliveries page again.");
    }
    if !session.role.grants(Permission::Admin) {
        return forbidden(&session, Permission::Admin);
    }
    let not_found = || page::error(StatusCode::NOT_FOUND, "There is no such delivery.");
    let Some(source) = Source::named(&fields.source) else {
        return not_found();
    };
    let inbox = state.webhooks.inbox();
    match inbox.retry(source, &fields.event_id, Utc::now()).await {
        Ok(RetryOutcome::Retried) => {
            state.webhooks.wake().notify_one();
            tracing::info!(source = %source, event_id = %fields.event_id, by = %session.actor(),
                "a webhook delivery was retried from the console");
            Redirect::to("/console/deliveries?done=delivery").into_response()
        }
        Ok(RetryOutcome::NotFound) => not_found(),
        Ok(RetryOutcome::NotRetryable(status)) => page::error(
            StatusCode::CONFLICT,
            &format!(
                "The delivery is {}; only dead, unmatched, unmatched_expired or failed ones are \
                 retried.",
                status.as_str()
            ),
        ),
        Err(_) => Unavailable.into_response(),
    }
}

/// A message retry's fields.
#[derive(Debug, Deserialize)]
struct MessageFields {
    csrf: String,
    key: Option<String>,
    destination: String,
    event_id: String,
}

async fn retry_message(
    State(state): State<AppState>,
    session: Session,
    request: Option<Extension<RequestId>>,
    form: Result<Form<MessageFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged("Open the deliveries page again.");
    };
    if !session.csrf_matches(&fields.csrf) {
        return page::forged("Open the deliveries page again.");
    }
    if !session.role.grants(Permission::AttentionResolve) {
        return forbidden(&session, Permission::AttentionResolve);
    }
    let not_found = || {
        page::error(
            StatusCode::NOT_FOUND,
            "No destination set that message aside.",
        )
    };
    let Some(name) = outbound::NAMES
        .iter()
        .copied()
        .find(|known| *known == fields.destination)
    else {
        return not_found();
    };
    let Ok(id) = fields.event_id.parse::<uuid::Uuid>() else {
        return not_found();
    };
    let subscriber = subscriber_name(name);
    let Ok(steps) = state.log.set_aside_steps(Some(&subscriber)).await else {
        return Unavailable.into_response();
    };
    let Some(step) = steps.into_iter().find(|step| step.event_id == id) else {
        return not_found();
    };
    if !step.state.is_visible() {
        let when = match step.state {
            StepState::Queued => "it waits behind an earlier message of its lane".to_owned(),
            _ => format!(
                "it is tried again by itself at {}",
                time(&step.next_attempt_at)
            ),
        };
        return page::error(
            StatusCode::CONFLICT,
            &format!("The message is not waiting for a person: {when}."),
        );
    }
    let event = match state.log.event_at(step.position).await {
        Ok(Some(event)) => event,
        Ok(None) => return not_found(),
        Err(_) => return Unavailable.into_response(),
    };
    let item = commands::attention::item_of(&subscriber, &event);
    let meta = session.command_meta(request_id(request), fields.key.as_deref());
    match commands::attention::retry(&state.handler, item, &meta, crate::workers::lane_of).await {
        Ok(_) => Redirect::to("/console/deliveries?done=message").into_response(),
        Err(error) => action_refusal(error),
    }
}
