//! The HTTP side of backoffice: the axum router (health now; REST `/api/v1` to come) and the
//! configuration the `backoffice` binary starts from.

pub mod config;
pub mod health;

use axum::Router;
use eventlog::EventLog;

/// What every handler can reach.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The event log.
    pub log: EventLog,
}

/// The application's router.
pub fn router(state: AppState) -> Router {
    Router::new().merge(health::routes()).with_state(state)
}
