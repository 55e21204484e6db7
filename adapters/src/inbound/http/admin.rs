//! The inbox's admin routes, relative and without authentication: the api mounts them under
//! `/api/v1/admin/webhooks` behind its own auth and permissions.
//!
//! - `GET  /deliveries?source=&status=&cursor=&limit=`: newest first, keyset cursor;
//! - `GET  /deliveries/{source}/{event_id}`: one delivery with body, headers and attempts;
//! - `POST /deliveries/{source}/{event_id}/retry`: a dead, unmatched (or expired) or failed one,
//!   due now.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use chrono::Utc;
use problem::{Problem, QueryParams};
use serde::Deserialize;

use super::WebhookState;
use crate::inbound::{
    inbox::{DeliveryFilter, DeliveryStatus, ListError, RetryOutcome},
    payload::Source,
};

/// The admin routes over `state`'s inbox.
pub fn admin_routes(state: WebhookState) -> Router {
    Router::new()
        .route("/deliveries", get(list))
        .route("/deliveries/{source}/{event_id}", get(show))
        .route("/deliveries/{source}/{event_id}/retry", post(retry))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    source: Option<Source>,
    status: Option<DeliveryStatus>,
    cursor: Option<String>,
    limit: Option<u32>,
}

async fn list(
    State(state): State<WebhookState>,
    QueryParams(query): QueryParams<ListQuery>,
) -> Response {
    let limit = match problem::page_size(query.limit, 50, 200) {
        Ok(limit) => limit,
        Err(problem) => return problem.into_response(),
    };
    let filter = DeliveryFilter {
        source: query.source,
        status: query.status,
    };
    match state
        .inbox()
        .list(&filter, query.cursor.as_deref(), limit)
        .await
    {
        Ok(page) => Json(page).into_response(),
        Err(ListError::InvalidCursor) => {
            Problem::validation("cursor", "not a cursor this list gave out").into_response()
        }
        Err(ListError::Storage(error)) => Problem::unavailable(&error).into_response(),
    }
}

async fn show(
    State(state): State<WebhookState>,
    Path((source, event_id)): Path<(String, String)>,
) -> Response {
    let Some(source) = parse_source(&source) else {
        return not_found(&source, &event_id);
    };
    match state.inbox().get(source, &event_id).await {
        Ok(Some(detail)) => Json(detail).into_response(),
        Ok(None) => not_found(source.as_str(), &event_id),
        Err(error) => Problem::unavailable(&error).into_response(),
    }
}

async fn retry(
    State(state): State<WebhookState>,
    Path((source, event_id)): Path<(String, String)>,
) -> Response {
    let Some(source) = parse_source(&source) else {
        return not_found(&source, &event_id);
    };
    match state.inbox().retry(source, &event_id, Utc::now()).await {
        Ok(RetryOutcome::Retried) => {
            state.wake().notify_one();
            match state.inbox().get(source, &event_id).await {
                Ok(Some(detail)) => (StatusCode::ACCEPTED, Json(detail)).into_response(),
                Ok(None) => not_found(source.as_str(), &event_id),
                Err(error) => Problem::unavailable(&error).into_response(),
            }
        }
        Ok(RetryOutcome::NotFound) => not_found(source.as_str(), &event_id),
        Ok(RetryOutcome::NotRetryable(status)) => Problem::new(
            StatusCode::CONFLICT,
            "not_retryable",
            "Delivery not retryable",
            format!(
                "the delivery is {}; only dead, unmatched, unmatched_expired or failed ones are retried",
                status.as_str()
            ),
        )
        .with_field("status")
        .into_response(),
        Err(error) => Problem::unavailable(&error).into_response(),
    }
}

fn parse_source(text: &str) -> Option<Source> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

fn not_found(source: &str, event_id: &str) -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "delivery_not_found",
        "Delivery not found",
        format!("no delivery {event_id} from {source}"),
    )
    .into_response()
}
