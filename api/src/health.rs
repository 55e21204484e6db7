//! Health: liveness (the process answers) and readiness (this process can serve: the database
//! answers, every migration is applied, writes pass). A failed projection, or a process manager
//! holding parked or waiting steps, is reported in the body as `degraded`, without taking the
//! process out of rotation: another replica would see the same log. Neither needs a token.

use axum::{extract::State, http::StatusCode, response::IntoResponse, routing::get, Json, Router};
use serde_json::json;

use crate::AppState;

/// The health routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
}

async fn live() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(state): State<AppState>) -> axum::response::Response {
    let database = state.log.head().await;
    let migrations = state.log.migrations_applied().await;
    // A full disk or a deleted SQLite file fails writes while reads still pass.
    let writes = state.log.check_writable().await;
    let degraded: Vec<serde_json::Value> = match state.log.subscribers().await {
        Ok(subscribers) => subscribers
            .into_iter()
            .filter(eventlog::SubscriberStatus::is_degraded)
            .map(|s| {
                json!({
                    "name": s.name,
                    "state": s.state,
                    "parked": s.parked,
                    "waiting": s.waiting,
                    "last_error": s.last_error,
                })
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let workflows = if degraded.is_empty() {
        "ok"
    } else {
        "degraded"
    };
    let (status, body) = match (&database, &migrations) {
        (Ok(_), Ok(true)) if writes.is_ok() => (
            StatusCode::OK,
            json!({
                "status": "ready",
                "backend": state.log.backend(),
                "checks": { "database": "ok", "migrations": "ok", "writes": "ok", "workflows": workflows },
                "degraded": degraded,
            }),
        ),
        _ => {
            if let Err(error) = &database {
                tracing::warn!(error = %error, "readiness: the database does not answer");
            }
            if let Err(error) = &writes {
                tracing::warn!(error = %eventlog::error_chain(error), "readiness: writes fail");
            }
            let checks = json!({
                "database": if database.is_ok() { "ok" } else { "unreachable" },
                "migrations": match migrations { Ok(true) => "ok", Ok(false) => "pending", Err(_) => "unknown" },
                "writes": if writes.is_ok() { "ok" } else { "failing" },
                "workflows": workflows,
            });
            (
                StatusCode::SERVICE_UNAVAILABLE,
                json!({
                    "type": "https://backoffice.dev/problems/not-ready",
                    "title": "Service not ready",
                    "status": 503,
                    "code": "not_ready",
                    "detail": "a readiness check failed",
                    "checks": checks,
                }),
            )
        }
    };
    let mut response = (
        status,
        [(
            "content-type",
            if status.is_success() {
                "application/json"
            } else {
                "application/problem+json"
            },
        )],
        Json(body),
    )
        .into_response();
    if !status.is_success() {
        response.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static(crate::problem::RETRY_AFTER_SECS),
        );
    }
    response
}
