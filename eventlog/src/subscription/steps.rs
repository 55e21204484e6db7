//! Steps a subscriber set aside (`subscription_steps`, migration 0011, ADR 0010): an event whose
//! step failed and waits for its next attempt, waits for an entity that does not exist yet, was
//! parked after its attempts, or was asked to be tried again by a person; and the later events
//! of its lane, queued behind it. The subscriber goes on past them; its runner tries them again
//! when they are due, oldest first in each lane.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    error::{Context as _, StorageError},
    on_readers, on_tx, on_writer, EventLog, LogTransaction, RecordedEvent,
};

/// Where a step set aside stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Behind an earlier step of its lane; not tried yet.
    Queued,
    /// Failed; tried again at `next_attempt_at`.
    Retrying,
    /// What it needs does not exist yet; tried again at `next_attempt_at`, never parked.
    Waiting,
    /// Failed on every attempt; waits for a person.
    Parked,
    /// A person asked for one more attempt.
    Requested,
}

impl StepState {
    /// The state as stored.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Retrying => "retrying",
            Self::Waiting => "waiting",
            Self::Parked => "parked",
            Self::Requested => "requested",
        }
    }

    /// Whether a person has been told about it (an attention item is open for it).
    pub const fn is_visible(&self) -> bool {
        matches!(self, Self::Waiting | Self::Parked | Self::Requested)
    }
}

/// A step set aside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SetAsideStep {
    /// The subscriber.
    pub subscriber: String,
    /// The event's position.
    pub position: i64,
    /// The event's lane.
    pub lane: String,
    /// The event's id.
    pub event_id: Uuid,
    /// Where it stands.
    pub state: StepState,
    /// Attempts made so far.
    pub attempts: i32,
    /// When it is due next (queued and parked steps: when they were last changed).
    pub next_attempt_at: DateTime<Utc>,
    /// Why its last attempt failed.
    pub last_error: Option<String>,
    /// When it was first set aside.
    pub set_aside_at: DateTime<Utc>,
}

const COLUMNS: &str = "'subscriber', subscriber, 'position', position, 'lane', lane, \
     'event_id', event_id, 'state', state, 'attempts', attempts, \
     'next_attempt_at', next_attempt_at, 'last_error', last_error, 'set_aside_at', set_aside_at";

/// Sets a step aside unless it already is (a batch handled again after a crash).
const PUT: &str = "INSERT INTO subscription_steps (subscriber, position, lane, event_id, state, \
     attempts, next_attempt_at, last_error, set_aside_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) ON CONFLICT (subscriber, position) DO NOTHING";

const UPDATE: &str = "UPDATE subscription_steps SET state = $3, attempts = $4, \
     next_attempt_at = $5, last_error = $6, updated_at = $7 WHERE subscriber = $1 AND position = $2";

const REMOVE: &str = "DELETE FROM subscription_steps WHERE subscriber = $1 AND position = $2";

/// A person's request: the step (set aside or not) is tried once more, at once.
const REQUEST: &str =
    "INSERT INTO subscription_steps (subscriber, position, lane, event_id, state, \
     attempts, next_attempt_at, set_aside_at, updated_at) \
     VALUES ($1, $2, $3, $4, 'requested', 0, $5, $5, $5) ON CONFLICT (subscriber, position) \
     DO UPDATE SET state = 'requested', next_attempt_at = excluded.next_attempt_at, \
     updated_at = excluded.updated_at";

impl EventLog {
    /// The steps `subscriber` has set aside, by lane and position (all subscribers' if `None`).
    pub async fn set_aside_steps(
        &self,
        subscriber: Option<&str>,
    ) -> Result<Vec<SetAsideStep>, StorageError> {
        let (object, cast) = crate::sql::json_object(self);
        let sql = format!(
            "SELECT {object}({COLUMNS}){cast} FROM subscription_steps \
             WHERE $1 IS NULL OR subscriber = $1 ORDER BY subscriber, lane, position"
        );
        let texts: Vec<String> = on_readers!(self, |pool, _time| sqlx::query_scalar(&sql)
            .bind(subscriber)
            .fetch_all(pool)
            .await)
        .context("reading steps set aside")?;
        texts
            .iter()
            .map(|text| {
                serde_json::from_str(text).map_err(|e| StorageError::Database {
                    context: "reading a step set aside",
                    source: sqlx::Error::Decode(Box::new(e)),
                })
            })
            .collect()
    }

    /// The lanes `subscriber` holds back: those with a step set aside.
    pub(crate) async fn held_lanes(
        &self,
        subscriber: &str,
    ) -> Result<std::collections::HashSet<String>, StorageError> {
        let sql = "SELECT DISTINCT lane FROM subscription_steps WHERE subscriber = $1";
        let lanes: Vec<String> = on_readers!(self, |pool, _time| sqlx::query_scalar(sql)
            .bind(subscriber)
            .fetch_all(pool)
            .await)
        .context("reading held lanes")?;
        Ok(lanes.into_iter().collect())
    }

    /// Sets `event`'s step aside for `subscriber` in `lane` (a no-op if it already is).
    pub(crate) async fn put_step(
        &self,
        subscriber: &str,
        event: &RecordedEvent,
        lane: &str,
        state: StepState,
        next_attempt_at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), StorageError> {
        let attempts = i32::from(state != StepState::Queued);
        let now = Utc::now();
        on_writer!(self, |pool, time| sqlx::query(PUT)
            .bind(subscriber)
            .bind(event.position)
            .bind(lane)
            .bind(event.event_id.to_string())
            .bind(state.as_str())
            .bind(attempts)
            .bind(time(next_attempt_at))
            .bind(error)
            .bind(time(now))
            .execute(pool)
            .await
            .map(|_| ()))
        .context("setting a step aside")
    }

    /// Records how another attempt at a step ended.
    pub(crate) async fn update_step(
        &self,
        step: &SetAsideStep,
        state: StepState,
        attempts: i32,
        next_attempt_at: DateTime<Utc>,
        error: Option<&str>,
    ) -> Result<(), StorageError> {
        on_writer!(self, |pool, time| sqlx::query(UPDATE)
            .bind(&step.subscriber)
            .bind(step.position)
            .bind(state.as_str())
            .bind(attempts)
            .bind(time(next_attempt_at))
            .bind(error)
            .bind(time(Utc::now()))
            .execute(pool)
            .await
            .map(|_| ()))
        .context("recording an attempt at a step")
    }

    /// Forgets a step that went through.
    pub(crate) async fn remove_step(
        &self,
        subscriber: &str,
        position: i64,
    ) -> Result<(), StorageError> {
        on_writer!(self, |pool, _time| sqlx::query(REMOVE)
            .bind(subscriber)
            .bind(position)
            .execute(pool)
            .await
            .map(|_| ()))
        .context("removing a step")
    }

    /// Within `tx`: asks for `event`'s step of `subscriber` to be tried once more, at once,
    /// setting it aside in `lane` if it is not (a step the domain refused). Commits with the
    /// event that records who asked.
    pub async fn request_step_in(
        &self,
        tx: &mut LogTransaction,
        subscriber: &str,
        event: &RecordedEvent,
        lane: &str,
    ) -> Result<(), StorageError> {
        on_tx!(tx, |conn, time| sqlx::query(REQUEST)
            .bind(subscriber)
            .bind(event.position)
            .bind(lane)
            .bind(event.event_id.to_string())
            .bind(time(Utc::now()))
            .execute(&mut *conn)
            .await
            .map(|_| ()))
        .context("asking for a step again")
    }

    /// Within `tx`: gives up `subscriber`'s step at `position` (a person dismissed it), so that
    /// the later steps of its lane go on. Answers whether one was set aside.
    pub async fn drop_step_in(
        &self,
        tx: &mut LogTransaction,
        subscriber: &str,
        position: i64,
    ) -> Result<bool, StorageError> {
        let done = on_tx!(tx, |conn, _time| sqlx::query(REMOVE)
            .bind(subscriber)
            .bind(position)
            .execute(&mut *conn)
            .await
            .map(|done| done.rows_affected()))
        .context("dropping a step")?;
        Ok(done > 0)
    }
}
