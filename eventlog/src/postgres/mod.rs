//! The log on PostgreSQL: appends through `append_events()` (one round trip, group commit),
//! gap-free reads below `pg_snapshot_xmin`.

use chrono::{DateTime, Utc};
use sqlx::{
    postgres::{PgPoolOptions, PgRow},
    PgPool, Postgres, Row, Transaction,
};
use uuid::Uuid;

mod append;

use append::{append_batch, read_back, stale, STREAM_RACE};

use crate::{
    error::{AppendError, Context, StorageError},
    group_commit::{BatchWriter, GroupCommit},
    model::{Append, Appended, Metadata, RecordedEvent, StreamId},
    ConnectOptions, WriteHealth,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

const EVENT_COLUMNS: &str =
    "e.position, e.event_id, e.aggregate_type, e.aggregate_id, e.sequence, \
     e.event_type, e.event_version, e.payload, e.metadata, e.recorded_at";

/// How recently a subscriber's connection must have been used to be trusted without a ping.
const KEPT_WARM: std::time::Duration = std::time::Duration::from_secs(1);

/// Readers see only events of transactions that have ended (ADR 0001).
const VISIBLE: &str = "transaction_id < pg_snapshot_xmin(pg_current_snapshot())";

/// The event log on PostgreSQL.
#[derive(Debug, Clone)]
pub struct PgLog {
    pool: PgPool,
    /// The subscribers' reads of the tail and their transactions (see [`PgLog::from_pool`]).
    subscribers: PgPool,
    group_commit: GroupCommit,
    /// Whether appends are failing for want of storage.
    pub(crate) health: WriteHealth,
    /// The master keys that seal and open personal data (`crate::privacy`), if configured.
    pub(crate) vault: Option<std::sync::Arc<crate::privacy::Vault>>,
}

impl PgLog {
    /// Connects, failing within the acquire timeout when the server is unreachable.
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Self, StorageError> {
        // A transaction left open (a task aborted mid-transaction: its rollback waits for the
        // connection's next use) holds back every whole-log reader (ADR 0001): the server ends
        // such a transaction after a while instead.
        let connect = url
            .parse::<sqlx::postgres::PgConnectOptions>()
            .context("parsing the PostgreSQL URL")?
            .options([("idle_in_transaction_session_timeout", "10s")]);
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .context("connecting to PostgreSQL")?;
        Ok(Self::from_pool(pool, options.group_commit_writers))
    }

    /// The log over an existing pool.
    ///
    /// Group commit gets a small pool of its own, one connection per writer: its connections
    /// stay warm (the first call of `append_events()` on a connection plans it) and are not
    /// pinged before each batch (a round trip per commit). A broken connection fails its batch
    /// and is dropped (see `PgBatchWriter`).
    ///
    /// The subscribers get one too, pinging only a connection idle for [`KEPT_WARM`] or more:
    /// under load their reads and transactions follow each other within milliseconds, and a
    /// ping before each was a round trip per read. A connection the server ended within that
    /// second fails one round, which the subscriber takes again (its backoff); requests keep the
    /// main pool, pinged before every use.
    pub fn from_pool(pool: PgPool, group_commit_writers: usize) -> Self {
        let writers = group_commit_writers.max(1);
        let writer_pool = PgPoolOptions::new()
            .max_connections(u32::try_from(writers).unwrap_or(u32::MAX))
            .acquire_timeout(pool.options().get_acquire_timeout())
            .test_before_acquire(false)
            .connect_lazy_with((*pool.connect_options()).clone());
        let health = WriteHealth::default();
        let group_commit = GroupCommit::start(
            PgBatchWriter {
                pool: writer_pool,
                health: health.clone(),
            },
            writers,
        );
        let subscribers = PgPoolOptions::new()
            .max_connections(pool.options().get_max_connections())
            .acquire_timeout(pool.options().get_acquire_timeout())
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for < KEPT_WARM {
                        return Ok(true);
                    }
                    Ok(sqlx::Connection::ping(conn).await.is_ok())
                })
            })
            .connect_lazy_with((*pool.connect_options()).clone());
        Self {
            pool,
            subscribers,
            group_commit,
            health,
            vault: None,
        }
    }

    /// After an append failed for want of storage (the server unreachable, its disk full),
    /// whether a small write passes again; otherwise nothing to check.
    pub async fn check_writable(&self) -> Result<(), StorageError> {
        if !self.health.failing() {
            return Ok(());
        }
        let outcome = sqlx::query(
            "INSERT INTO write_probe (id, probed_at) VALUES (1, now()) \
             ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at",
        )
        .execute(&self.pool)
        .await
        .map(|_| ())
        .context("probing a write");
        self.health.record_probe(outcome)
    }

    /// The pool, for the crates that keep their tables beside the log.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// This process's appends and the reads of the log's tail its subscribers share.
    pub(crate) fn tail(&self) -> &crate::subscription::Tail {
        &self.group_commit.tail
    }

    /// Applies the embedded migrations.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Whether every embedded migration has been applied.
    pub async fn migrations_applied(&self) -> Result<bool, StorageError> {
        crate::migrations_applied(&self.pool, &MIGRATOR).await
    }

    /// Appends, sharing a commit with concurrent appends.
    pub async fn append(&self, append: Append) -> Result<Appended, AppendError> {
        append.validate()?;
        self.group_commit.append(append).await
    }

    /// Appends `appends` within `tx`, all or nothing: the appends are the first write of their
    /// transaction (ADR 0001) and commit with `tx`. See [`crate::EventLog::append_all_in`].
    pub async fn append_all_in(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        appends: &[Append],
    ) -> Result<Vec<Appended>, AppendError> {
        // One append is written whole or not at all; several need a savepoint to undo the
        // others when one of them is refused.
        self.append_group(tx, appends, appends.len() > 1).await
    }

    /// Appends `appends` within `tx`; with `undo`, under a savepoint that a refusal rolls
    /// back (without: the caller rolls `tx` back whole unless every append is written).
    pub(crate) async fn append_group(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        appends: &[Append],
        undo: bool,
    ) -> Result<Vec<Appended>, AppendError> {
        crate::model::validate_group(appends)?;
        if undo {
            sqlx::query("SAVEPOINT append_all")
                .execute(&mut **tx)
                .await
                .context("opening a savepoint")?;
        }
        let outcome = match append_batch(tx, appends).await {
            Ok(outcomes) => crate::model::all_or_nothing(outcomes),
            Err(AppendError::Invalid(STREAM_RACE)) => Err(self.stale_of(appends).await),
            Err(error) => Err(error),
        };
        if undo {
            let end = match &outcome {
                Ok(appended) if !appended[0].replayed => "RELEASE append_all",
                _ => "ROLLBACK TO append_all",
            };
            sqlx::query(end)
                .execute(&mut **tx)
                .await
                .context("closing a savepoint")?;
        }
        outcome
    }

    /// The error for appends of which one lost a race: the first whose stream has moved.
    async fn stale_of(&self, appends: &[Append]) -> AppendError {
        let mut first = None;
        for append in appends {
            match stale(&self.pool, append).await {
                AppendError::WrongExpectedVersion { actual, .. }
                    if append.expected.admits(actual) => {}
                error => {
                    first = Some(error);
                    break;
                }
            }
        }
        first.unwrap_or(AppendError::Invalid(STREAM_RACE))
    }

    /// Starts a transaction on the log's pool.
    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, StorageError> {
        self.pool.begin().await.context("beginning a transaction")
    }

    /// Starts a subscriber's transaction of rows derived from the log, on the subscribers'
    /// pool, committing without waiting for the disk: one round trip to begin.
    pub(crate) async fn begin_derived(
        &self,
    ) -> Result<Transaction<'static, Postgres>, StorageError> {
        self.subscribers
            .begin_with("BEGIN; SET LOCAL synchronous_commit = off")
            .await
            .context("beginning a transaction of derived rows")
    }

    /// The events of the `aggregate_type` streams `ids` up to position `up_to`, by stream then
    /// version: one round trip for every stream a projection's batch touched.
    pub async fn read_streams(
        &self,
        aggregate_type: &str,
        ids: &[&str],
        up_to: i64,
    ) -> Result<Vec<RecordedEvent>, StorageError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events e \
             WHERE aggregate_type = $1 AND aggregate_id = ANY($2) AND position <= $3 \
             ORDER BY aggregate_id, sequence"
        );
        let rows = sqlx::query(&sql)
            .bind(aggregate_type)
            .bind(ids)
            .bind(up_to)
            .fetch_all(&self.pool)
            .await
            .context("reading streams")?;
        rows.iter().map(decode_event).collect()
    }

    /// The event at `position` or with id `event_id` (one of the two given).
    pub async fn event(
        &self,
        position: Option<i64>,
        event_id: Option<Uuid>,
    ) -> Result<Option<RecordedEvent>, StorageError> {
        let sql =
            format!("SELECT {EVENT_COLUMNS} FROM events e WHERE position = $1 OR event_id = $2");
        let row = sqlx::query(&sql)
            .bind(position)
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await
            .context("reading an event")?;
        row.as_ref().map(decode_event).transpose()
    }

    /// Up to `limit` events after position `after`, in position order, never skipping one that
    /// commits later (ADR 0001).
    pub async fn read_all(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StorageError> {
        read_all_on(&self.pool, after, limit).await
    }

    /// [`PgLog::read_all`] for the subscribers, on their pool.
    pub(crate) async fn read_tail(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StorageError> {
        read_all_on(&self.subscribers, after, limit).await
    }

    /// `ANALYZE` of the columns a read of the whole log filters and orders by (the payloads'
    /// statistics would cost far more and serve no query of ours): see
    /// [`crate::EventLog::refresh_statistics`].
    pub async fn refresh_statistics(&self) -> Result<(), StorageError> {
        sqlx::query("ANALYZE events (position, transaction_id)")
            .execute(&self.pool)
            .await
            .context("analyzing the events table")?;
        Ok(())
    }

    /// The position of the last event a reader of the whole log can see (0: empty).
    pub async fn head(&self) -> Result<i64, StorageError> {
        let sql = format!("SELECT coalesce(max(position), 0) FROM events WHERE {VISIBLE}");
        sqlx::query_scalar(&sql)
            .fetch_one(&self.pool)
            .await
            .context("reading the head position")
    }
}

#[derive(Debug, Clone)]
struct PgBatchWriter {
    pool: PgPool,
    health: WriteHealth,
}

impl BatchWriter for PgBatchWriter {
    async fn write_batch(
        &self,
        appends: &[Append],
    ) -> Result<Vec<Result<Appended, AppendError>>, AppendError> {
        let outcome = self.write(appends).await;
        if let Err(AppendError::Storage(error)) = &outcome {
            self.health.record_failure(error);
        } else {
            self.health.record_success();
        }
        outcome
    }
}

impl PgBatchWriter {
    async fn write(
        &self,
        appends: &[Append],
    ) -> Result<Vec<Result<Appended, AppendError>>, AppendError> {
        match self.attempt(appends).await {
            // The kept connection died (the server restarted or terminated it, a proxy cut
            // it): try once more on a new one, rather than fail the next write after every
            // restart of the database.
            Err(error) if lost_connection(&error) => {
                tracing::warn!(error = %crate::error_chain(&error), "an append's connection was lost; trying once more on a new one");
                self.after_lost_connection(appends).await
            }
            outcome => outcome,
        }
    }

    /// One statement in autocommit on the writer's connection: its own transaction, one round
    /// trip.
    async fn attempt(
        &self,
        appends: &[Append],
    ) -> Result<Vec<Result<Appended, AppendError>>, AppendError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .context("acquiring a connection")?;
        let outcome = append_batch(&mut conn, appends).await;
        if let Err(AppendError::Storage(StorageError::Database { source, .. })) = &outcome {
            if !matches!(source, sqlx::Error::Database(_)) || crate::is_unavailable(source) {
                // Not an error of the statement: the connection itself may be broken.
                conn.close_on_drop();
            }
        }
        match outcome {
            Err(AppendError::Invalid(STREAM_RACE)) if appends.len() == 1 => {
                // On the batch's own connection: the writer pool has no other.
                Ok(vec![Err(stale(&mut *conn, &appends[0]).await)])
            }
            other => other,
        }
    }

    /// The batch again after its connection was lost. Whether the lost statement committed
    /// is unknown; its events' ids are unique and ours, so the log says: an append whose
    /// first event is there was written (it is read back, never written twice), the others
    /// are tried again.
    async fn after_lost_connection(
        &self,
        appends: &[Append],
    ) -> Result<Vec<Result<Appended, AppendError>>, AppendError> {
        let firsts: Vec<Uuid> = appends
            .iter()
            .filter_map(|a| a.events.first().map(|e| e.event_id))
            .collect();
        let written: Vec<Uuid> = {
            let mut conn = self
                .pool
                .acquire()
                .await
                .context("acquiring a connection")?;
            sqlx::query_scalar("SELECT event_id FROM events WHERE event_id = ANY($1)")
                .bind(&firsts)
                .fetch_all(&mut *conn)
                .await
                .context("looking for the events of an append whose connection was lost")?
        };
        if written.is_empty() {
            return self.attempt(appends).await;
        }
        let mut outcomes = Vec::with_capacity(appends.len());
        for append in appends {
            let was_written = append
                .events
                .first()
                .is_some_and(|e| written.contains(&e.event_id));
            let outcome = if was_written {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .context("acquiring a connection")?;
                read_back(&mut conn, append).await
            } else {
                match self.attempt(std::slice::from_ref(append)).await {
                    Ok(mut outcomes) => outcomes.pop().unwrap_or(Err(AppendError::Invalid(
                        "the database answered no outcome",
                    ))),
                    Err(error) => Err(error),
                }
            };
            outcomes.push(outcome);
        }
        Ok(outcomes)
    }
}

/// Whether an append failed because its connection broke (closed, reset, or terminated by
/// the server), so that the statement may or may not have run.
fn lost_connection(error: &AppendError) -> bool {
    let AppendError::Storage(StorageError::Database { source, .. }) = error else {
        return false;
    };
    match source {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

pub(crate) fn decode_event(row: &PgRow) -> Result<RecordedEvent, StorageError> {
    let stream = StreamId::new(
        row.try_get::<String, _>("aggregate_type")
            .context("reading an event")?,
        row.try_get::<String, _>("aggregate_id")
            .context("reading an event")?,
    );
    decode_event_with_stream(row, stream)
}

pub(super) fn decode_event_with_stream(
    row: &PgRow,
    stream: StreamId,
) -> Result<RecordedEvent, StorageError> {
    let position: i64 = row.try_get("position").context("reading an event")?;
    // Straight from the column's JSON text into the struct, without a `Value` in between.
    let sqlx::types::Json(metadata) = row
        .try_get::<sqlx::types::Json<Metadata>, _>("metadata")
        .map_err(|e| StorageError::Corrupt {
            position,
            reason: e.to_string(),
        })?;
    let event_id: Uuid = row.try_get("event_id").context("reading an event")?;
    let recorded_at: DateTime<Utc> = row.try_get("recorded_at").context("reading an event")?;
    Ok(RecordedEvent {
        position,
        event_id,
        stream,
        sequence: row.try_get("sequence").context("reading an event")?,
        event_type: row.try_get("event_type").context("reading an event")?,
        event_version: row.try_get("event_version").context("reading an event")?,
        payload: row.try_get("payload").context("reading an event")?,
        metadata,
        recorded_at,
    })
}

/// The visible events after position `after`, at most `limit`, read on `pool`.
async fn read_all_on(
    pool: &PgPool,
    after: i64,
    limit: i64,
) -> Result<Vec<RecordedEvent>, StorageError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e WHERE position > $1 AND {VISIBLE} \
         ORDER BY position LIMIT $2"
    );
    let rows = sqlx::query(&sql)
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await
        .context("reading the log")?;
    rows.iter().map(decode_event).collect()
}
