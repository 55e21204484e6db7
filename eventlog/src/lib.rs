//! The append-only event log, on PostgreSQL (production) and SQLite (the embedded default),
//! behind one API: append with optimistic concurrency and idempotency keys, read a stream, read
//! the whole log gap-free, the head position. ADR 0001 and 0002 explain the design.

mod audit;
pub mod backoff;
pub mod chain;
mod error;
mod group_commit;
pub mod integrity;
mod model;
mod postgres;
pub mod privacy;
pub mod proof;
mod redact;
mod roles;
pub mod seal;
pub mod sealer;
mod sql;
mod sqlite;
mod sqlite_file;
mod subscription;
pub mod testing;
pub mod trace;

/// What the exported macros name, so that a crate using them needs no dependency of its own.
#[doc(hidden)]
pub mod __private {
    pub use sqlx;

    /// The form PostgreSQL binds a time in: the time itself (`timestamptz`).
    pub fn postgres_time(at: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
        at
    }
}

use std::time::Duration;

use tracing::Instrument as _;

pub use audit::AuditFilter;
pub use error::{is_unavailable, AppendError, StorageError};
pub use model::{Append, Appended, ExpectedVersion, Metadata, NewEvent, RecordedEvent, StreamId};
pub use postgres::PgLog;
pub use redact::redact_url;
use sql::EventRow;
pub use sql::{json_object, json_rows, Backend, Param};
pub use sqlite::{sqlite_time, SqliteLog};
pub use subscription::{
    error_chain, Claim, HandlerError, Projection, Refusal, SetAside, SetAsideStep, StepError,
    StepState, Subscriber, SubscriberStatus, SubscriptionError, SubscriptionOptions,
};

/// How to connect to the database.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// The most connections in the pool (readers, on SQLite).
    pub max_connections: u32,
    /// How long to wait for a connection before failing: an unreachable database fails fast.
    pub acquire_timeout: Duration,
    /// Concurrent group-commit writers on PostgreSQL (SQLite has one writer). One makes the
    /// largest batches (measured: 8 concurrent callers share each commit); more keep appends
    /// flowing while one batch waits on a lock (ADR 0001).
    pub group_commit_writers: usize,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            group_commit_writers: 1,
        }
    }
}

/// Whether the log's writes are failing for want of storage (unreachable, full, read-only):
/// set and cleared by the writers, read by readiness. A failure is remembered for
/// [`WriteHealth::MEMORY`] even when a later write passes: on a full disk, small writes into
/// pages SQLite or PostgreSQL already hold keep passing while real appends fail.
#[derive(Debug, Clone)]
pub(crate) struct WriteHealth(std::sync::Arc<WriteHealthState>);

#[derive(Debug)]
struct WriteHealthState {
    failing: std::sync::atomic::AtomicBool,
    /// Milliseconds after `since` of the last failure, plus one; zero for none.
    last_failure: std::sync::atomic::AtomicU64,
    since: std::time::Instant,
}

impl Default for WriteHealth {
    fn default() -> Self {
        Self(std::sync::Arc::new(WriteHealthState {
            failing: std::sync::atomic::AtomicBool::new(false),
            last_failure: std::sync::atomic::AtomicU64::new(0),
            since: std::time::Instant::now(),
        }))
    }
}

impl WriteHealth {
    /// How long a write that failed for want of storage keeps readiness failing.
    pub(crate) const MEMORY: Duration = Duration::from_secs(5);

    /// Whether the last write failed, or one did within [`Self::MEMORY`].
    pub(crate) fn failing(&self) -> bool {
        self.0.failing.load(std::sync::atomic::Ordering::Acquire) || self.failed_recently()
    }

    /// Whether a write failed for want of storage within [`Self::MEMORY`].
    pub(crate) fn failed_recently(&self) -> bool {
        let last = self
            .0
            .last_failure
            .load(std::sync::atomic::Ordering::Acquire);
        last != 0 && self.elapsed_ms() + 1 - last < Self::MEMORY.as_millis() as u64
    }

    fn elapsed_ms(&self) -> u64 {
        self.0.since.elapsed().as_millis() as u64
    }

    pub(crate) fn record_failure(&self, error: &StorageError) {
        if error.is_unavailable() {
            self.0
                .failing
                .store(true, std::sync::atomic::Ordering::Release);
            self.0
                .last_failure
                .store(self.elapsed_ms() + 1, std::sync::atomic::Ordering::Release);
        }
    }

    pub(crate) fn record_success(&self) {
        self.0
            .failing
            .store(false, std::sync::atomic::Ordering::Release);
    }

    /// Records a write probe's outcome and answers readiness: a probe that passes while a
    /// real write failed within [`Self::MEMORY`] still reports the storage unavailable.
    pub(crate) fn record_probe(
        &self,
        outcome: Result<(), StorageError>,
    ) -> Result<(), StorageError> {
        match outcome {
            Ok(()) => {
                self.record_success();
                if self.failed_recently() {
                    return Err(StorageError::Unavailable(
                        "an append failed for want of storage in the last 5 seconds",
                    ));
                }
                Ok(())
            }
            Err(error) => {
                self.record_failure(&error);
                Err(error)
            }
        }
    }
}

/// The event log on one of the two backends.
#[derive(Debug, Clone)]
pub enum EventLog {
    /// PostgreSQL: production, several processes.
    Postgres(PgLog),
    /// SQLite: the embedded default, one process.
    Sqlite(SqliteLog),
}

/// A write transaction on either backend; an append in it commits with its other writes.
#[derive(Debug)]
pub enum LogTransaction {
    /// On PostgreSQL.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    /// On SQLite.
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

impl LogTransaction {
    /// Commits.
    pub async fn commit(self) -> Result<(), StorageError> {
        use error::Context as _;
        match self {
            Self::Postgres(tx) => tx.commit().await.context("committing"),
            Self::Sqlite(tx) => tx.commit().await.context("committing"),
        }
    }

    /// Rolls back.
    pub async fn rollback(self) -> Result<(), StorageError> {
        use error::Context as _;
        match self {
            Self::Postgres(tx) => tx.rollback().await.context("rolling back"),
            Self::Sqlite(tx) => tx.rollback().await.context("rolling back"),
        }
    }
}

impl EventLog {
    /// Connects to `url`: `postgres://…`/`postgresql://…` or `sqlite:…` (file created if missing).
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Self, StorageError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(PgLog::connect(url, options).await?))
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(SqliteLog::connect(url, options).await?))
        } else {
            Err(StorageError::UnsupportedUrl(redact_url(url)))
        }
    }

    /// Applies the embedded migrations of this backend.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        match self {
            Self::Postgres(log) => log.migrate().await,
            Self::Sqlite(log) => log.migrate().await,
        }
    }

    /// Whether the connected role may migrate the schema: always on SQLite; on PostgreSQL,
    /// a fresh database or the role owning the schema (ADR 0021). A service role that may not
    /// checks [`EventLog::migrations_applied`] instead.
    pub async fn can_migrate(&self) -> Result<bool, StorageError> {
        match self {
            Self::Postgres(log) => roles::can_migrate(log.pool()).await,
            Self::Sqlite(_) => Ok(true),
        }
    }

    /// Grants PostgreSQL role `role` what `serve` needs and no more: read every table, write
    /// those beside the log, append to the log only through `append_events()` (ADR 0021).
    /// Run as the schema's owner, after migrating; SQLite has no roles.
    pub async fn grant_service_role(&self, role: &str) -> Result<(), StorageError> {
        match self {
            Self::Postgres(log) => roles::grant_service_role(log.pool(), role).await,
            Self::Sqlite(_) => Err(StorageError::Unsupported(
                "SQLite has no roles: a service role is a PostgreSQL set-up",
            )),
        }
    }

    /// Whether this process can write now: on SQLite the database file is still the one
    /// opened; on both, after a write failed for want of storage, a small write passes again.
    pub async fn check_writable(&self) -> Result<(), StorageError> {
        match self {
            Self::Postgres(log) => log.check_writable().await,
            Self::Sqlite(log) => log.check_writable().await,
        }
    }

    /// Whether every embedded migration has been applied.
    pub async fn migrations_applied(&self) -> Result<bool, StorageError> {
        match self {
            Self::Postgres(log) => log.migrations_applied().await,
            Self::Sqlite(log) => log.migrations_applied().await,
        }
    }

    /// Refreshes the query planner's statistics of the log (PostgreSQL; nothing to do on
    /// SQLite). Worth it before reading the whole log in large batches: without statistics
    /// (a log written faster than autovacuum looks at it), PostgreSQL may answer each batch
    /// by sorting every later event instead of walking the position index (ADR 0006).
    pub async fn refresh_statistics(&self) -> Result<(), StorageError> {
        match self {
            Self::Postgres(log) => log.refresh_statistics().await,
            Self::Sqlite(_) => Ok(()),
        }
    }

    /// Appends atomically; concurrent appends share a commit.
    pub async fn append(&self, mut append: Append) -> Result<Appended, AppendError> {
        let observed = Observed::start(std::slice::from_ref(&append));
        let plain = self
            .seal_appends(None, std::slice::from_mut(&mut append))
            .await?;
        let outcome = match self {
            Self::Postgres(log) => log.append(append).instrument(observed.span()).await,
            Self::Sqlite(log) => log.append(append).instrument(observed.span()).await,
        };
        observed.end(outcome.is_ok());
        let mut appended = outcome?;
        self.give_back(std::slice::from_mut(&mut appended), plain)
            .await?;
        Ok(appended)
    }

    /// Starts a write transaction. On SQLite it holds the only writer until it ends.
    pub async fn begin(&self) -> Result<LogTransaction, StorageError> {
        match self {
            Self::Postgres(log) => Ok(LogTransaction::Postgres(log.begin().await?)),
            Self::Sqlite(log) => Ok(LogTransaction::Sqlite(log.begin().await?)),
        }
    }

    /// Starts a subscriber's transaction of rows derived from the log, such as a projection's
    /// rows with its checkpoint: it commits without waiting for its write-ahead log to reach
    /// disk (PostgreSQL's `synchronous_commit = off`, on the subscribers' connections;
    /// SQLite's `synchronous = NORMAL` for this transaction, holding its only writer as
    /// [`EventLog::begin`] does). A crash may lose the last such commits, each whole, never a
    /// part of one, and they are applied again.
    pub async fn begin_derived(&self) -> Result<LogTransaction, StorageError> {
        match self {
            Self::Postgres(log) => Ok(LogTransaction::Postgres(log.begin_derived().await?)),
            Self::Sqlite(log) => Ok(LogTransaction::Sqlite(log.begin_derived().await?)),
        }
    }

    /// Appends within `tx`; on PostgreSQL the append must be its first write (ADR 0001).
    pub async fn append_in(
        &self,
        tx: &mut LogTransaction,
        append: Append,
    ) -> Result<Appended, AppendError> {
        let mut appended = self
            .append_all_in(tx, std::slice::from_ref(&append))
            .await?;
        appended
            .pop()
            .ok_or(AppendError::Invalid("the database answered no outcome"))
    }

    /// Appends to several streams within `tx`, all or nothing, each at its own expected version:
    /// a rule that reads two aggregates is decided by one append to both, so that a concurrent
    /// change to either conflicts (ADR 0009). Only the first append may carry an idempotency
    /// key, and a group names each stream once.
    ///
    /// Answers every append written; or, when the first append's key was recorded before, the
    /// first result alone with `replayed` set and nothing of the group written; or the first
    /// refusal (a stale version: [`AppendError::WrongExpectedVersion`] of that stream), with
    /// nothing written. On PostgreSQL the appends must be the first write of `tx`.
    pub async fn append_all_in(
        &self,
        tx: &mut LogTransaction,
        appends: &[Append],
    ) -> Result<Vec<Appended>, AppendError> {
        let observed = Observed::start(appends);
        let mut sealed = match self.seals_any(appends) {
            true => appends.to_vec(),
            false => Vec::new(),
        };
        let plain = self.seal_appends(Some(&mut *tx), &mut sealed).await?;
        let appends = if plain.is_some() {
            &sealed[..]
        } else {
            appends
        };
        let outcome = self
            .append_all_unobserved(tx, appends)
            .instrument(observed.span())
            .await;
        observed.end(outcome.is_ok());
        let mut appended = outcome?;
        self.give_back(&mut appended, plain).await?;
        Ok(appended)
    }

    async fn append_all_unobserved(
        &self,
        tx: &mut LogTransaction,
        appends: &[Append],
    ) -> Result<Vec<Appended>, AppendError> {
        match (self, tx) {
            (Self::Postgres(log), LogTransaction::Postgres(tx)) => {
                log.append_all_in(tx, appends).await
            }
            (Self::Sqlite(log), LogTransaction::Sqlite(tx)) => log.append_all_in(tx, appends).await,
            _ => Err(AppendError::Invalid("a transaction of the other backend")),
        }
    }

    /// [`EventLog::append_all_in`] in a transaction of its own, committed when every append
    /// is written and rolled back otherwise; subscribers of this process are woken after it.
    pub async fn append_all(&self, appends: &[Append]) -> Result<Vec<Appended>, AppendError> {
        let observed = Observed::start(appends);
        let mut sealed = match self.seals_any(appends) {
            true => appends.to_vec(),
            false => Vec::new(),
        };
        let plain = self.seal_appends(None, &mut sealed).await?;
        let appends = if plain.is_some() {
            &sealed[..]
        } else {
            appends
        };
        let mut tx = self.begin().await?;
        // A transaction of its own needs no savepoint: anything short of every append written
        // rolls it back whole.
        let outcome = match (self, &mut tx) {
            (Self::Postgres(log), LogTransaction::Postgres(tx)) => {
                log.append_group(tx, appends, false)
                    .instrument(observed.span())
                    .await
            }
            (log, tx) => {
                log.append_all_unobserved(tx, appends)
                    .instrument(observed.span())
                    .await
            }
        };
        match outcome {
            Ok(mut appended) if !appended[0].replayed => {
                tx.commit().await?;
                self.wake_subscribers();
                observed.end(true);
                self.give_back(&mut appended, plain).await?;
                Ok(appended)
            }
            other => {
                tx.rollback().await?;
                let mut appended = other?;
                self.give_back(&mut appended, plain).await?;
                Ok(appended)
            }
        }
    }

    /// Wakes this process's subscribers: for a writer that committed an append of its own
    /// transaction (group commit wakes them by itself).
    pub fn wake_subscribers(&self) {
        self.tail().signal();
    }

    fn tail(&self) -> &subscription::Tail {
        match self {
            Self::Postgres(log) => log.tail(),
            Self::Sqlite(log) => log.tail(),
        }
    }

    /// The events of `stream` from version `from_version` (1 = all).
    pub async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: i64,
    ) -> Result<Vec<RecordedEvent>, StorageError> {
        use error::Context as _;
        let sql = "SELECT position, event_id, aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata, recorded_at FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2 AND sequence >= $3 ORDER BY sequence";
        let mut events: Vec<RecordedEvent> = on_readers!(self, |pool, _time| {
            let rows = sqlx::query(sql)
                .bind(&stream.aggregate_type)
                .bind(&stream.aggregate_id)
                .bind(from_version)
                .fetch_all(pool)
                .await
                .context("reading a stream")?;
            rows.iter()
                .map(EventRow::decode_event)
                .collect::<Result<_, StorageError>>()
        })?;
        self.open_personal(&mut events).await?;
        Ok(events)
    }

    /// The events of the `aggregate_type` streams `ids` up to position `up_to`, grouped by
    /// stream in version order (streams in id order): one round trip for many streams.
    pub async fn read_streams(
        &self,
        aggregate_type: &str,
        ids: &[&str],
        up_to: i64,
    ) -> Result<Vec<RecordedEvent>, StorageError> {
        let mut events = match self {
            Self::Postgres(log) => log.read_streams(aggregate_type, ids, up_to).await,
            Self::Sqlite(log) => log.read_streams(aggregate_type, ids, up_to).await,
        }?;
        self.open_personal(&mut events).await?;
        Ok(events)
    }

    /// The event at `position`, if there is one.
    pub async fn event_at(&self, position: i64) -> Result<Option<RecordedEvent>, StorageError> {
        let event = match self {
            Self::Postgres(log) => log.event(Some(position), None).await,
            Self::Sqlite(log) => log.event(Some(position), None).await,
        }?;
        self.opened(event).await
    }

    /// The event with id `event_id`, if there is one.
    pub async fn event_by_id(
        &self,
        event_id: uuid::Uuid,
    ) -> Result<Option<RecordedEvent>, StorageError> {
        let event = match self {
            Self::Postgres(log) => log.event(None, Some(event_id)).await,
            Self::Sqlite(log) => log.event(None, Some(event_id)).await,
        }?;
        self.opened(event).await
    }

    /// Up to `limit` events after position `after`, in increasing position order, gap-free:
    /// an event not returned now because its transaction is still open is never skipped later.
    pub async fn read_all(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StorageError> {
        let mut events = match self {
            Self::Postgres(log) => log.read_all(after, limit).await,
            Self::Sqlite(log) => log.read_all(after, limit).await,
        }?;
        self.open_personal(&mut events).await?;
        Ok(events)
    }

    /// Waits until readers of the whole log can see `position`: true if they can, false after
    /// `timeout`. On PostgreSQL an event becomes visible once every write transaction older than
    /// it has ended (ADR 0001), so a reader of its own write waits here, bounded.
    pub async fn wait_until_visible(
        &self,
        position: i64,
        timeout: Duration,
    ) -> Result<bool, StorageError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            if self.head().await? >= position {
                return Ok(true);
            }
            if tokio::time::Instant::now() + pause > deadline {
                return Ok(false);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(50));
        }
    }

    /// Signalled after every append this process commits (through group commit or
    /// [`EventLog::append_all`]).
    pub fn appended(&self) -> &tokio::sync::Notify {
        &self.tail().appended
    }

    /// The append an idempotency key recorded, if any: its stream and events.
    pub async fn recorded(&self, key: &str) -> Result<Option<Appended>, StorageError> {
        use error::Context as _;
        let mut events = on_readers!(self, |pool, _time| {
            let rows = sqlx::query(RECORDED_BY_KEY)
                .bind(key)
                .fetch_all(pool)
                .await
                .context("reading a recorded key")?;
            rows.iter()
                .map(EventRow::decode_event)
                .collect::<Result<Vec<_>, _>>()?
        });
        self.open_personal(&mut events).await?;
        let stream = events.first().map(|first| first.stream.clone());
        Ok(stream.map(|stream| Appended {
            stream,
            events,
            replayed: true,
        }))
    }

    /// The position of the last event readers of the whole log can see (0: empty log).
    pub async fn head(&self) -> Result<i64, StorageError> {
        match self {
            Self::Postgres(log) => log.head().await,
            Self::Sqlite(log) => log.head().await,
        }
    }

    /// When the first event after `position` was recorded (none: nothing after it yet): how
    /// long a subscriber at `position` has kept that event waiting.
    pub async fn recorded_after(
        &self,
        position: i64,
    ) -> Result<Option<chrono::DateTime<chrono::Utc>>, StorageError> {
        Ok(self
            .read_all(position, 1)
            .await?
            .first()
            .map(|event| event.recorded_at))
    }

    /// The position of the last event stored (0: empty log), whether or not readers of the
    /// whole log see it yet: on PostgreSQL the visible [`EventLog::head`] lags it while any
    /// older transaction of the cluster is open (ADR 0001).
    pub async fn last_position(&self) -> Result<i64, StorageError> {
        use error::Context as _;
        let sql = "SELECT coalesce(max(position), 0) FROM events";
        on_readers!(self, |pool, _time| sqlx::query_scalar(sql)
            .fetch_one(pool)
            .await)
        .context("reading the last position")
    }
}

/// The events the append that recorded idempotency key `$1` wrote, in order; one SQL text
/// for both backends.
pub(crate) const RECORDED_BY_KEY: &str = "SELECT e.position, e.event_id, e.aggregate_type, \
     e.aggregate_id, e.sequence, e.event_type, e.event_version, e.payload, e.metadata, e.recorded_at \
     FROM events e JOIN event_idempotency_keys k \
       ON e.aggregate_type = k.aggregate_type AND e.aggregate_id = k.aggregate_id \
      AND e.sequence BETWEEN k.first_sequence AND k.last_sequence \
     WHERE k.idempotency_key = $1 ORDER BY e.sequence";

/// Whether every migration of `migrator` is recorded as applied (false, not an error, when
/// the migrations table itself is missing). Both backends' pools.
async fn migrations_applied<DB: sqlx::Database>(
    pool: &sqlx::Pool<DB>,
    migrator: &sqlx::migrate::Migrator,
) -> Result<bool, StorageError>
where
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
    i64: sqlx::Type<DB> + for<'r> sqlx::Decode<'r, DB>,
    usize: sqlx::ColumnIndex<DB::Row>,
{
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
            .fetch_all(pool)
            .await
            .unwrap_or_default();
    Ok(migrator.iter().all(|m| applied.contains(&m.version)))
}

/// Times an append and counts its events for the metrics (`docs/operations.md`).
struct Observed {
    events: usize,
    started: std::time::Instant,
}

impl Observed {
    fn start(appends: &[Append]) -> Self {
        Self {
            events: appends.iter().map(|a| a.events.len()).sum(),
            started: std::time::Instant::now(),
        }
    }

    /// The append's span.
    fn span(&self) -> tracing::Span {
        tracing::info_span!("append", events = self.events)
    }

    /// The append ended, `written` or not: only a written one is counted.
    fn end(self, written: bool) {
        if written {
            metrics::histogram!("backoffice_append_events").record(self.events as f64);
            metrics::histogram!("backoffice_append_duration_seconds")
                .record(self.started.elapsed().as_secs_f64());
        }
    }
}
