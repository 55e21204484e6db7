//! What a person sees of each destination (`backoffice integrations status`, `GET
//! /api/v1/admin/integrations`): how far it got in the log and how far behind it is, its
//! circuit, the messages it set aside (failing, parked, waiting), and what its attempts of the
//! last hour came to.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use eventlog::{EventLog, SetAsideStep, StepState, StorageError};
use serde::Serialize;

use super::engine::{counts_since, saved_circuit, subscriber_name, SavedCircuit};

/// A destination's status.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct DestinationStatus {
    /// Its name (`erp`, `crm`, `email`, `sms`, `events`, `stripe`).
    pub destination: String,
    /// Whether this process's configuration turns it on.
    pub configured: bool,
    /// The log position it has handled up to.
    pub position: i64,
    /// Events in the log after its position.
    pub lag_events: i64,
    /// How long ago the oldest of them was recorded, in seconds (0 when there is none).
    pub lag_seconds: f64,
    /// Its circuit as last saved (none before its first failure).
    pub circuit: Option<SavedCircuit>,
    /// Messages that failed and will be tried again by themselves.
    pub failing: usize,
    /// Messages parked after their attempts: each an attention item, waiting for a person.
    pub parked: usize,
    /// Messages waiting for a fact (a customer's address): each an attention item.
    pub waiting: usize,
    /// Messages held behind an earlier one of their lane.
    pub queued: usize,
    /// Its attempts of the last hour, by outcome (`sent`, `rejected`, `failed`, `throttled`).
    pub attempts_last_hour: BTreeMap<String, i64>,
    /// The last pull of the partner's own events (Stripe's, what webhooks may have missed; the
    /// ERP's catalog, its products' and stock's last runs together), for a partner pulled from.
    pub last_pull: Option<crate::inbound::pull::PullRun>,
}

/// The status of each destination in `names`, `configured` telling which this process runs.
pub async fn destinations(
    log: &EventLog,
    names: &[&str],
    configured: impl Fn(&str) -> bool,
) -> Result<Vec<DestinationStatus>, StorageError> {
    let head = log.head().await?;
    let now = Utc::now();
    let mut statuses = Vec::with_capacity(names.len());
    for name in names {
        let subscriber = subscriber_name(name);
        let position = log.checkpoint(&subscriber).await?;
        let lag_seconds = match log.recorded_after(position).await? {
            Some(oldest) if position < head => seconds_between(oldest, now),
            _ => 0.0,
        };
        let steps = log.set_aside_steps(Some(&subscriber)).await?;
        let count = |state: StepState| steps.iter().filter(|s| s.state == state).count();
        let attempts = counts_since(log, name, now - chrono::Duration::hours(1)).await?;
        statuses.push(DestinationStatus {
            destination: (*name).to_owned(),
            configured: configured(name),
            position,
            lag_events: (head - position).max(0),
            lag_seconds,
            circuit: saved_circuit(log, name).await?,
            failing: count(StepState::Retrying) + count(StepState::Requested),
            parked: count(StepState::Parked),
            waiting: count(StepState::Waiting),
            queued: count(StepState::Queued),
            attempts_last_hour: attempts.into_iter().collect(),
            last_pull: crate::inbound::pull::last_pull(
                &crate::inbound::inbox::Inbox::new(log.clone()),
                name,
            )
            .await?,
        });
    }
    Ok(statuses)
}

/// The messages `destination` has set aside, by lane and position.
pub async fn messages(
    log: &EventLog,
    destination: &str,
) -> Result<Vec<SetAsideStep>, StorageError> {
    log.set_aside_steps(Some(&subscriber_name(destination)))
        .await
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let millis = (to - from).num_milliseconds().max(0);
    // Lag in seconds with millisecond precision; i64 milliseconds fit an f64 exactly far
    // beyond any lag.
    #[allow(clippy::cast_precision_loss)]
    let seconds = millis as f64 / 1000.0;
    seconds
}
