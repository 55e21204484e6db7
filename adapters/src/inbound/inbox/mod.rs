//! The inbox of inbound webhooks (`webhook_inbox`, migration 0007, ADR 0007): verified
//! deliveries stored raw under (source, provider event id), claimed by the worker, finished in
//! the transaction that appends their events, listed and retried through the admin routes.
//!
//! One SQL text serves both backends for each statement but two (the claim, which locks rows on
//! PostgreSQL, and the release of a stopped process's claims, all of them on SQLite, which
//! serves one process); times are bound in the backend's form (`timestamptz` on PostgreSQL,
//! fixed-width RFC 3339 text on SQLite) and rows are read back as one JSON object each, built
//! by the database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use eventlog::{Backend, EventLog, LogTransaction, StorageError};
use serde::{Deserialize, Serialize};

use crate::inbound::payload::{InboxKey, Source};

mod admin;
mod figures;
pub(crate) mod sql;

pub use admin::{
    Attempt, DeliveryDetail, DeliveryFilter, DeliveryPage, DeliverySummary, ListError, RetryOutcome,
};
pub use figures::{InboxFigure, OPEN_STATUSES};

/// Where a delivery stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum DeliveryStatus {
    /// Stored, not processed yet.
    Pending,
    /// Processed: its commands ran (or decided nothing new).
    Done,
    /// The last attempt failed; retried after a backoff.
    Failed,
    /// Failed too often: left for an operator (admin retry).
    Dead,
    /// Names no payment or shipment we know yet; re-checked with a growing delay.
    Unmatched,
    /// Unmatched for longer than the configured age: no longer re-checked, still listed and
    /// retryable.
    UnmatchedExpired,
    /// A type the back office does not act on: kept, not processed.
    Ignored,
}

impl DeliveryStatus {
    /// The name stored in the `status` column.
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// A verified delivery, ready to store.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    /// Source, provider event id and type.
    pub key: InboxKey,
    /// The body exactly as received.
    pub body: String,
    /// Request headers (lowercase names) with signature values removed.
    pub headers: serde_json::Value,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// What storing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A new row.
    New,
    /// A row with the same (source, event id) was already there; nothing was written.
    Duplicate,
}

/// A delivery claimed by a worker for one attempt.
#[derive(Debug, Clone, Deserialize)]
pub struct Claimed {
    /// Who sent it.
    pub source: Source,
    /// The provider's event id.
    pub event_id: String,
    /// The provider's event type.
    pub event_type: String,
    /// The raw body.
    pub body: String,
    /// This attempt's number (1 for the first).
    pub attempts: i32,
    /// Failed attempts before this one (since the last admin retry).
    pub failures: i32,
    /// Where it stood when claimed.
    pub status: DeliveryStatus,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// The claim: only its holder may finish the attempt.
    pub claim_token: String,
    /// The W3C trace context the sender gave (its `traceparent` header): processing it
    /// continues that trace.
    #[serde(default)]
    pub traceparent: Option<String>,
    /// When the claim was made.
    #[serde(skip, default = "Utc::now")]
    pub claimed_at: DateTime<Utc>,
}

impl Claimed {
    /// `source:event_id`, the idempotency key of the commands this delivery causes.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.source, self.event_id)
    }
}

/// How an attempt ended, as recorded on the row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finish {
    /// The row's new status.
    pub status: DeliveryStatus,
    /// When to look at it again (failed and unmatched rows).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Why it did not end done.
    pub error: Option<String>,
}

/// The inbox table, on the log's database.
#[derive(Debug, Clone)]
pub struct Inbox {
    log: EventLog,
}

impl Inbox {
    /// The inbox beside `log` (migration 0007 must have run).
    pub fn new(log: EventLog) -> Self {
        Self { log }
    }

    /// The log whose database holds the inbox.
    pub fn log(&self) -> &EventLog {
        &self.log
    }

    /// Stores `delivery` unless its (source, event id) is already there.
    pub async fn store(&self, delivery: &NewDelivery) -> Result<Stored, StorageError> {
        let at = delivery.received_at;
        let (source, event_id) = (delivery.key.source.as_str(), delivery.key.event_id.as_str());
        let result = eventlog::on_writer!(&self.log, |pool, time| sqlx::query(sql::STORE)
            .bind(source)
            .bind(event_id)
            .bind(&delivery.key.event_type)
            .bind(&delivery.body)
            .bind(sqlx::types::Json(&delivery.headers))
            .bind(time(at))
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(sql::error("storing a delivery"))?;
        Ok(if result == 1 {
            Stored::New
        } else {
            Stored::Duplicate
        })
    }

    /// Claims up to `limit` deliveries due by `due_by` for one attempt each: their
    /// `next_attempt_at` moves `lease` past now (the time of this claim), so another worker
    /// skips them, and a worker that dies leaves them due again once the lease has run out. On
    /// PostgreSQL rows locked by a concurrent claim are skipped. The claim names `process`, so
    /// that [`Inbox::release_claims_of`] can free it early.
    pub async fn claim(
        &self,
        due_by: DateTime<Utc>,
        lease: Duration,
        limit: i64,
        process: &str,
    ) -> Result<Vec<Claimed>, StorageError> {
        let now = Utc::now();
        let until = now + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
        let token = format!("{process}/{}", uuid::Uuid::now_v7());
        // PostgreSQL skips rows a concurrent claim has locked; SQLite has one writer.
        let claim = match self.log.backend() {
            Backend::Postgres => sql::CLAIM_POSTGRES,
            Backend::Sqlite => sql::CLAIM_SQLITE,
        };
        let texts: Vec<String> = eventlog::on_writer!(&self.log, |pool, time| {
            sqlx::query_scalar(claim)
                .bind(time(due_by))
                .bind(limit)
                .bind(time(until))
                .bind(&token)
                .fetch_all(pool)
                .await
        })
        .map_err(sql::error("claiming deliveries"))?;
        texts
            .iter()
            .map(|text| {
                let mut claimed: Claimed = sql::decode(text)?;
                claimed.claimed_at = now;
                Ok(claimed)
            })
            .collect()
    }

    /// Gives up `claimed`'s claim, if it still holds the row: due again at `now`.
    pub async fn release(&self, claimed: &Claimed, now: DateTime<Utc>) -> Result<(), StorageError> {
        eventlog::on_writer!(&self.log, |pool, time| sqlx::query(sql::RELEASE_CLAIM)
            .bind(time(now))
            .bind(claimed.source.as_str())
            .bind(&claimed.event_id)
            .bind(&claimed.claim_token)
            .execute(pool)
            .await
            .map(|_| ()))
        .map_err(sql::error("releasing a claim"))
    }

    /// Makes the deliveries `process` had claimed due at `now`: called when that process
    /// starts again, so that a delivery claimed at a crash waits no longer for its lease. On
    /// SQLite, which serves one process, every claim is released. Safe even were the process
    /// alive: a claim taken over is never finished by its first holder (its append rolls back).
    pub async fn release_claims_of(
        &self,
        process: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, StorageError> {
        let pattern = format!("{}/%", process.replace('%', "\\%").replace('_', "\\_"));
        let release = match self.log.backend() {
            Backend::Postgres => sql::RELEASE_CLAIMS_POSTGRES,
            Backend::Sqlite => sql::RELEASE_CLAIMS_SQLITE,
        };
        eventlog::on_writer!(&self.log, |pool, time| sqlx::query(release)
            .bind(time(now))
            .bind(&pattern)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(sql::error("releasing a stopped process's claims"))
    }

    /// Records how `claimed`'s attempt ended, within `tx` (after its append, if any). False when
    /// the claim was lost (its lease ran out and another worker took the row): the caller must
    /// then roll `tx` back.
    pub async fn finish_in(
        &self,
        tx: &mut LogTransaction,
        claimed: &Claimed,
        finish: &Finish,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let status = finish.status.as_str();
        let failed = i32::from(matches!(
            finish.status,
            DeliveryStatus::Failed | DeliveryStatus::Dead
        ));
        let next = finish.next_attempt_at.unwrap_or(now);
        let processed = (finish.status == DeliveryStatus::Done).then_some(now);
        let updated = eventlog::on_tx!(tx, |conn, time| async {
            let updated = sqlx::query(sql::FINISH)
                .bind(status)
                .bind(failed)
                .bind(time(next))
                .bind(finish.error.as_deref())
                .bind(processed.map(time))
                .bind(claimed.source.as_str())
                .bind(&claimed.event_id)
                .bind(&claimed.claim_token)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            // A recheck that finds it still unmatched is no new attempt worth a row: the row's
            // last error says so.
            let recheck = claimed.status == DeliveryStatus::Unmatched
                && finish.status == DeliveryStatus::Unmatched;
            if updated == 1 && !recheck {
                sqlx::query(sql::RECORD_ATTEMPT)
                    .bind(claimed.source.as_str())
                    .bind(&claimed.event_id)
                    .bind(claimed.attempts)
                    .bind(time(claimed.claimed_at))
                    .bind(time(now))
                    .bind(status)
                    .bind(finish.error.as_deref())
                    .execute(&mut *conn)
                    .await?;
            }
            Ok::<_, sqlx::Error>(updated)
        }
        .await)
        .map_err(sql::error("finishing a delivery"))?;
        Ok(updated == 1)
    }

    /// Records how an attempt ended in a transaction of its own.
    pub async fn finish(
        &self,
        claimed: &Claimed,
        finish: &Finish,
        now: DateTime<Utc>,
    ) -> Result<bool, StorageError> {
        let mut tx = self.log.begin().await?;
        let finished = self.finish_in(&mut tx, claimed, finish, now).await?;
        if finished {
            tx.commit().await?;
        } else {
            tx.rollback().await?;
        }
        Ok(finished)
    }
}
