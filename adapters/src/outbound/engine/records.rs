//! What the engine writes beside the log: each attempt (`outbound_attempts`, the business log
//! of an integration) and each destination's circuit as last seen (`outbound_circuits`), both
//! for the status a person reads. Neither decides anything: the log and the subscriber's
//! checkpoint and steps do.

use chrono::{DateTime, Utc};
use eventlog::{json_object, json_rows, on_writer, EventLog, Param, StorageError};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::circuit::Circuit;

/// The most of a partner's answer an attempt keeps.
pub const ANSWER_EXCERPT: usize = 1024;

/// How an attempt ended.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AttemptOutcome {
    /// The partner took the message.
    Sent,
    /// The partner refused this message (a 4xx): it will not take it as it is.
    Rejected,
    /// The partner, or the way to it, failed (a 5xx, a timeout, no connection).
    Failed,
    /// The partner asked us to slow down (a 429).
    Throttled,
}

impl AttemptOutcome {
    /// The outcome as stored and shown (`sent`).
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// One attempt to send a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    /// The destination.
    pub destination: String,
    /// The event the message is for: the idempotency key the partner saw.
    pub event_id: Uuid,
    /// The event's position in the log.
    pub position: i64,
    /// When it started.
    pub attempted_at: DateTime<Utc>,
    /// How long it took, in milliseconds.
    pub duration_ms: i64,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// The partner's status code, if it answered (HTTP, or SMTP's reply code).
    pub status: Option<i32>,
    /// What went wrong (never a secret).
    pub error: Option<String>,
    /// The start of the partner's answer (at most 1 KiB).
    pub answer: Option<String>,
}

const INSERT: &str = "INSERT INTO outbound_attempts (destination, event_id, position, \
     attempted_at, duration_ms, outcome, status, error, answer) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

const SAVE_CIRCUIT: &str = "INSERT INTO outbound_circuits (destination, state, \
     consecutive_failures, open_until, last_error, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (destination) DO UPDATE SET state = excluded.state, \
     consecutive_failures = excluded.consecutive_failures, open_until = excluded.open_until, \
     last_error = excluded.last_error, updated_at = excluded.updated_at";

/// Records `attempt`.
pub async fn record_attempt(log: &EventLog, attempt: &Attempt) -> Result<(), StorageError> {
    let outcome: &'static str = attempt.outcome.into();
    on_writer!(log, |pool, time| sqlx::query(INSERT)
        .bind(&attempt.destination)
        .bind(attempt.event_id.to_string())
        .bind(attempt.position)
        .bind(time(attempt.attempted_at))
        .bind(attempt.duration_ms)
        .bind(outcome)
        .bind(attempt.status)
        .bind(attempt.error.as_deref())
        .bind(attempt.answer.as_deref())
        .execute(pool)
        .await
        .map(|_| ()))
    .map_err(|source| StorageError::Database {
        context: "recording an outbound attempt",
        source,
    })
}

/// Saves `destination`'s circuit as it is now.
pub async fn save_circuit(
    log: &EventLog,
    destination: &str,
    circuit: &Circuit,
) -> Result<(), StorageError> {
    on_writer!(log, |pool, time| sqlx::query(SAVE_CIRCUIT)
        .bind(destination)
        .bind(circuit.state().as_str())
        .bind(i64::from(circuit.consecutive_failures()))
        .bind(circuit.open_until().map(time))
        .bind(circuit.last_error())
        .bind(time(Utc::now()))
        .execute(pool)
        .await
        .map(|_| ()))
    .map_err(|source| StorageError::Database {
        context: "saving an outbound circuit",
        source,
    })
}

/// The attempts at `destination`'s message for `event_id`, oldest first.
pub async fn attempts(
    log: &EventLog,
    destination: &str,
    event_id: Uuid,
) -> Result<Vec<Attempt>, StorageError> {
    let (object, cast) = json_object(log);
    let sql = format!(
        "SELECT {object}('destination', destination, 'event_id', event_id, 'position', position, \
         'attempted_at', attempted_at, 'duration_ms', duration_ms, 'outcome', outcome, \
         'status', status, 'error', error, 'answer', answer){cast} \
         FROM outbound_attempts WHERE destination = $1 AND event_id = $2 ORDER BY id"
    );
    let params = [
        Param::Text(destination.to_owned()),
        Param::Text(event_id.to_string()),
    ];
    json_rows(log, &sql, &params, "reading outbound attempts").await
}

/// A destination's circuit as its subscriber last saved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SavedCircuit {
    /// `closed`, `open` or `half_open`.
    pub state: String,
    /// Failures in a row.
    pub consecutive_failures: i64,
    /// Until when it is open.
    pub open_until: Option<DateTime<Utc>>,
    /// The last failure's error.
    pub last_error: Option<String>,
    /// When it was saved.
    pub updated_at: DateTime<Utc>,
}

/// `destination`'s saved circuit, if its subscriber ever saved one.
pub async fn saved_circuit(
    log: &EventLog,
    destination: &str,
) -> Result<Option<SavedCircuit>, StorageError> {
    let (object, cast) = json_object(log);
    let sql = format!(
        "SELECT {object}('state', state, 'consecutive_failures', consecutive_failures, \
         'open_until', open_until, 'last_error', last_error, 'updated_at', updated_at){cast} \
         FROM outbound_circuits WHERE destination = $1"
    );
    let params = [Param::Text(destination.to_owned())];
    let rows = json_rows(log, &sql, &params, "reading an outbound circuit").await?;
    Ok(rows.into_iter().next())
}

/// The last attempt of each outcome at `destination` since `since`: counts for the status.
pub async fn counts_since(
    log: &EventLog,
    destination: &str,
    since: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, StorageError> {
    #[derive(Deserialize)]
    struct Row {
        outcome: String,
        count: i64,
    }
    let (object, cast) = json_object(log);
    let sql = format!(
        "SELECT {object}('outcome', outcome, 'count', count(*)){cast} FROM outbound_attempts \
         WHERE destination = $1 AND attempted_at >= $2 GROUP BY outcome ORDER BY outcome"
    );
    let params = [Param::Text(destination.to_owned()), Param::Time(since)];
    let rows: Vec<Row> = json_rows(log, &sql, &params, "counting outbound attempts").await?;
    Ok(rows.into_iter().map(|r| (r.outcome, r.count)).collect())
}
