//! Checkpoints and status of subscribers: where each has read the log to, whether it runs or
//! has failed (on which position, why), and when its last batch ran.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use crate::{
    error::{Context, StorageError},
    on_readers, on_tx, on_writer, EventLog, LogTransaction,
};

/// A subscriber as its status shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubscriberStatus {
    /// Its name.
    pub name: String,
    /// The position it has handled up to.
    pub position: i64,
    /// `running` or `failed`.
    pub state: String,
    /// Why its last batch failed, while it is failed.
    pub last_error: Option<String>,
    /// The first position of the batch that failed.
    pub error_position: Option<i64>,
    /// When its last batch was handled.
    pub last_batch_at: Option<DateTime<Utc>>,
    /// Steps parked after their attempts, waiting for a person.
    pub parked: i64,
    /// Steps waiting for an entity that does not exist yet.
    pub waiting: i64,
    /// Steps set aside that will be tried again by themselves (failed, queued behind another
    /// of their lane, or asked for by a person).
    pub retrying: i64,
}

impl SubscriberStatus {
    /// Whether it needs a look: failed, or holding parked or waiting steps. A degraded
    /// subscriber still runs (everything not behind its steps goes on); the process serving it
    /// is ready all the same.
    pub fn is_degraded(&self) -> bool {
        self.state == "failed" || self.parked > 0 || self.waiting > 0
    }
}

// Times are bound from Rust on both backends (`$3` and the like), so that each text serves both.
const SAVE: &str = "INSERT INTO subscription_checkpoints \
     (name, position, state, last_batch_at, updated_at) VALUES ($1, $2, 'running', $3, $3) \
     ON CONFLICT (name) DO UPDATE SET position = excluded.position, state = 'running', \
     last_error = NULL, error_position = NULL, last_batch_at = $3, updated_at = $3 \
     WHERE subscription_checkpoints.position <= excluded.position";
const SET: &str = "INSERT INTO subscription_checkpoints \
     (name, position, state, last_batch_at, updated_at) VALUES ($1, $2, 'running', $3, $3) \
     ON CONFLICT (name) DO UPDATE SET position = excluded.position, state = 'running', \
     last_error = NULL, error_position = NULL, last_batch_at = $3, updated_at = $3";
/// Creates the row if missing and locks it until the transaction ends; answers its position.
const LOCK: &str = "INSERT INTO subscription_checkpoints (name, position, updated_at) \
     VALUES ($1, 0, $2) ON CONFLICT (name) DO UPDATE SET name = excluded.name RETURNING position";
const DELETE: &str = "DELETE FROM subscription_checkpoints WHERE name = $1";
const FAIL: &str = "INSERT INTO subscription_checkpoints \
     (name, position, state, last_error, error_position, updated_at) VALUES ($1, 0, 'failed', $2, $3, $4) \
     ON CONFLICT (name) DO UPDATE SET state = 'failed', last_error = excluded.last_error, \
     error_position = excluded.error_position, updated_at = excluded.updated_at";
const STATUS: &str = "SELECT name, position, state, last_error, error_position, last_batch_at, \
     (SELECT count(*) FROM subscription_steps s WHERE s.subscriber = c.name \
        AND s.state = 'parked') AS parked, \
     (SELECT count(*) FROM subscription_steps s WHERE s.subscriber = c.name \
        AND s.state = 'waiting') AS waiting, \
     (SELECT count(*) FROM subscription_steps s WHERE s.subscriber = c.name \
        AND s.state IN ('queued', 'retrying', 'requested')) AS retrying \
     FROM subscription_checkpoints c ORDER BY name";

impl EventLog {
    /// The position subscriber `name` has handled up to (0: nothing yet).
    pub async fn checkpoint(&self, name: &str) -> Result<i64, StorageError> {
        let sql = "SELECT position FROM subscription_checkpoints WHERE name = $1";
        let position: Option<i64> = on_readers!(self, |pool, _time| sqlx::query_scalar(sql)
            .bind(name)
            .fetch_optional(pool)
            .await)
        .context("reading a checkpoint")?;
        Ok(position.unwrap_or(0))
    }

    /// Moves subscriber `name`'s checkpoint to `position`, backwards too: a deliberate replay,
    /// which handles the events after it again. Nothing is applied twice (a projection's rows
    /// are folded again from their streams and its sums take each event once; a process
    /// manager's commands carry idempotency keys), but a replay is not invisible: while it
    /// catches up, a projection's rows show the state as of the batch it replays, and a step
    /// the domain refused is taken again against today's state (it may pass now, or raise its
    /// attention item again).
    pub async fn reset_checkpoint(&self, name: &str, position: i64) -> Result<(), StorageError> {
        let sql = "UPDATE subscription_checkpoints SET position = $2 WHERE name = $1";
        on_writer!(self, |pool, _time| sqlx::query(sql)
            .bind(name)
            .bind(position)
            .execute(pool)
            .await
            .map(|_| ()))
        .context("resetting a checkpoint")
    }

    /// Records that subscriber `name` has handled everything up to `position`, and runs. A
    /// checkpoint only moves forward: a runner that lost its claim without knowing cannot move
    /// it back.
    pub async fn save_checkpoint(&self, name: &str, position: i64) -> Result<(), StorageError> {
        on_writer!(self, |pool, time| sqlx::query(SAVE)
            .bind(name)
            .bind(position)
            .bind(time(Utc::now()))
            .execute(pool)
            .await
            .map(|_| ()))
        .context("saving a checkpoint")
    }

    /// The same as [`EventLog::save_checkpoint`], within `tx`: it commits with the batch's rows.
    pub async fn save_checkpoint_in(
        &self,
        tx: &mut LogTransaction,
        name: &str,
        position: i64,
    ) -> Result<(), StorageError> {
        on_tx!(tx, |conn, time| sqlx::query(SAVE)
            .bind(name)
            .bind(position)
            .bind(time(Utc::now()))
            .execute(&mut *conn)
            .await
            .map(|_| ()))
        .context("saving a checkpoint")
    }

    /// Locks subscriber `name`'s checkpoint within `tx` (creating it at 0) and answers its
    /// position: whoever else moves it waits until `tx` ends. A projection's batch takes this
    /// lock first, so two runners (or a runner and a rebuild's swap) never apply the same
    /// events twice, whatever their claims say.
    pub async fn lock_checkpoint_in(
        &self,
        tx: &mut LogTransaction,
        name: &str,
    ) -> Result<i64, StorageError> {
        on_tx!(tx, |conn, time| sqlx::query_scalar(LOCK)
            .bind(name)
            .bind(time(Utc::now()))
            .fetch_one(&mut *conn)
            .await)
        .context("locking a checkpoint")
    }

    /// Sets subscriber `name`'s checkpoint to `position` within `tx`, backwards too, and marks
    /// it running: a rebuild's swap hands its position to the live projection this way.
    pub async fn set_checkpoint_in(
        &self,
        tx: &mut LogTransaction,
        name: &str,
        position: i64,
    ) -> Result<(), StorageError> {
        on_tx!(tx, |conn, time| sqlx::query(SET)
            .bind(name)
            .bind(position)
            .bind(time(Utc::now()))
            .execute(&mut *conn)
            .await
            .map(|_| ()))
        .context("setting a checkpoint")
    }

    /// Forgets subscriber `name` within `tx`: its checkpoint and status.
    pub async fn delete_checkpoint_in(
        &self,
        tx: &mut LogTransaction,
        name: &str,
    ) -> Result<(), StorageError> {
        on_tx!(tx, |conn, _time| sqlx::query(DELETE)
            .bind(name)
            .execute(&mut *conn)
            .await
            .map(|_| ()))
        .context("deleting a checkpoint")
    }

    /// Marks subscriber `name` failed at `position` with `error`; its checkpoint stays.
    pub async fn record_failure(
        &self,
        name: &str,
        position: i64,
        error: &str,
    ) -> Result<(), StorageError> {
        on_writer!(self, |pool, time| sqlx::query(FAIL)
            .bind(name)
            .bind(error)
            .bind(position)
            .bind(time(Utc::now()))
            .execute(pool)
            .await
            .map(|_| ()))
        .context("recording a subscriber failure")
    }

    /// Every subscriber's status, by name.
    pub async fn subscribers(&self) -> Result<Vec<SubscriberStatus>, StorageError> {
        let statuses = on_readers!(self, |pool, _time| {
            let rows = sqlx::query(STATUS)
                .fetch_all(pool)
                .await
                .context("reading statuses")?;
            rows.iter()
                .map(|row| {
                    Ok(SubscriberStatus {
                        name: row.try_get("name")?,
                        position: row.try_get("position")?,
                        state: row.try_get("state")?,
                        last_error: row.try_get("last_error")?,
                        error_position: row.try_get("error_position")?,
                        // SQLite's text decodes as the RFC 3339 it was written as.
                        last_batch_at: row.try_get("last_batch_at")?,
                        parked: row.try_get("parked")?,
                        waiting: row.try_get("waiting")?,
                        retrying: row.try_get("retrying")?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
        });
        statuses.context("reading statuses")
    }
}
