//! The log on SQLite, the embedded default: one writer connection (so commit order is position
//! order and readers never skip), a pool of readers, WAL mode, group commit.

use std::{
    path::{Path, PathBuf},
    str::FromStr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
};

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use sqlx::{
    sqlite::{
        SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
    },
    Connection as _, QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool, Transaction,
};
use uuid::Uuid;

use crate::{
    chain::ChainHead,
    error::{AppendError, Context, StorageError},
    group_commit::{BatchWriter, GroupCommit},
    integrity,
    model::{Append, Appended, Metadata, RecordedEvent, StreamId},
    sqlite_file::DatabaseFile,
    ConnectOptions, WriteHealth,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

const EVENT_COLUMNS: &str = "position, event_id, aggregate_type, aggregate_id, sequence, \
     event_type, event_version, payload, metadata, recorded_at";

/// The writer's commits wait for the disk, but for a transaction of derived rows.
const DURABLE: &str = "PRAGMA synchronous = FULL";

/// SQLite allows 32766 bound parameters per statement; an event takes 11.
const EVENTS_PER_INSERT: usize = 1000;

/// The event log on SQLite.
#[derive(Debug, Clone)]
pub struct SqliteLog {
    writer: SqlitePool,
    readers: SqlitePool,
    group_commit: GroupCommit,
    /// The database file: claims are locks on files beside it.
    path: PathBuf,
    /// The file opened, to tell when it is deleted or replaced.
    file: DatabaseFile,
    /// Whether writes are failing for want of storage.
    pub(crate) health: WriteHealth,
    /// The master keys that seal and open personal data (`crate::privacy`), if configured.
    pub(crate) vault: Option<Arc<crate::privacy::Vault>>,
    /// Whether the writer's last transaction committed without waiting for the disk: its
    /// release sets it back to `synchronous = FULL` before anyone else may use it.
    relaxed: Arc<AtomicBool>,
}

impl SqliteLog {
    /// Opens (creating if missing, with its folder) the database file named by `url`.
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Self, StorageError> {
        let connect = SqliteConnectOptions::from_str(url)
            .context("parsing the SQLite URL")?
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a committed event survives a power cut; group commit pays for the fsyncs.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(options.acquire_timeout);
        // Created here, readable by its owner only (SQLite gives the -wal and -shm files the
        // database file's mode); never created again by a later connection, so that a file
        // deleted while serving fails writes instead of starting an empty database.
        let path = connect.get_filename().to_path_buf();
        let file = DatabaseFile::open(&path)?;
        let connect = connect.create_if_missing(false);
        let mut claims = path.as_os_str().to_owned();
        claims.push(".claims");
        std::fs::create_dir_all(Path::new(&claims)).map_err(|e| StorageError::Database {
            context: "creating the claims folder",
            source: sqlx::Error::Io(e),
        })?;
        let relaxed = Arc::new(AtomicBool::new(false));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .after_connect({
                let file = file.clone();
                move |_, _| {
                    let file = file.clone();
                    Box::pin(async move { file.check().map_err(sqlx::Error::from) })
                }
            })
            .before_acquire({
                let file = file.clone();
                move |_, _| {
                    let file = file.clone();
                    Box::pin(async move { Ok(file.check().is_ok()) })
                }
            })
            // A connection handed back inside a transaction (a failed COMMIT that SQLite
            // rolled back itself, as on a full disk, leaves sqlx counting one) would refuse
            // every later BEGIN: close it; the pool opens a fresh one. One handed back from a
            // transaction of derived rows is durable again before its next use.
            .after_release({
                let relaxed = relaxed.clone();
                move |conn, _| {
                    let in_transaction = conn.is_in_transaction();
                    let relaxed = relaxed.swap(false, Ordering::AcqRel);
                    Box::pin(async move {
                        if in_transaction {
                            return Ok(false);
                        }
                        if relaxed {
                            // Not kept prepared: a pragma acts when its statement is prepared.
                            let durable = sqlx::query(DURABLE)
                                .persistent(false)
                                .execute(&mut *conn)
                                .await;
                            return Ok(durable.is_ok());
                        }
                        Ok(true)
                    })
                }
            })
            .connect_with(connect.clone())
            .await
            .context("opening the SQLite database")?;
        let readers = SqlitePoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.read_only(true))
            .await
            .context("opening the SQLite database for reading")?;
        let health = WriteHealth::default();
        let group_commit = GroupCommit::start(
            SqliteBatchWriter {
                writer: writer.clone(),
                health: health.clone(),
            },
            1,
        );
        Ok(Self {
            writer,
            readers,
            group_commit,
            path,
            file,
            health,
            vault: None,
            relaxed,
        })
    }

    /// Whether this process can write: the database file is the one it opened, and the last
    /// write did not fail for want of storage (else a small write is tried, and passes once
    /// space is back).
    pub async fn check_writable(&self) -> Result<(), StorageError> {
        self.file.check()?;
        if !self.health.failing() {
            return Ok(());
        }
        let probe = async {
            let mut tx = self.begin().await?;
            sqlx::query(
                "INSERT INTO write_probe (id, probed_at) VALUES (1, ?) \
                 ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at",
            )
            .bind(sqlite_time(Utc::now()))
            .execute(&mut *tx)
            .await
            .context("probing a write")?;
            tx.commit().await.context("committing a write probe")
        };
        self.health.record_probe(probe.await)
    }

    /// The single writer connection's pool, for the crates that keep tables beside the log.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The readers' pool.
    pub fn readers(&self) -> &SqlitePool {
        &self.readers
    }

    /// This process's appends and the reads of the log's tail its subscribers share.
    pub(crate) fn tail(&self) -> &crate::subscription::Tail {
        &self.group_commit.tail
    }

    /// Applies the embedded migrations.
    pub async fn migrate(&self) -> Result<(), StorageError> {
        MIGRATOR.run(&self.writer).await?;
        Ok(())
    }

    /// Whether every embedded migration has been applied.
    pub async fn migrations_applied(&self) -> Result<bool, StorageError> {
        crate::migrations_applied(&self.readers, &MIGRATOR).await
    }

    /// Appends, sharing a commit with concurrent appends.
    pub async fn append(&self, append: Append) -> Result<Appended, AppendError> {
        append.validate()?;
        self.group_commit.append(append).await
    }

    /// Appends `appends` within `tx` (a writer transaction from [`SqliteLog::begin`]), all or
    /// nothing; they commit with it. See [`crate::EventLog::append_all_in`].
    pub async fn append_all_in(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        appends: &[Append],
    ) -> Result<Vec<Appended>, AppendError> {
        crate::model::validate_group(appends)?;
        // A failed statement does not abort a SQLite transaction: without the savepoint a
        // caller that commits anyway would keep a key without its events, or half a group.
        sqlx::query("SAVEPOINT append")
            .execute(&mut **tx)
            .await
            .context("opening a savepoint")?;
        let mut outcomes = Vec::with_capacity(appends.len());
        let mut head = ChainHead::read(tx).await?;
        for append in appends {
            let outcome = append_one(tx, append, &mut head).await;
            let stop = !matches!(&outcome, Ok(appended) if !appended.replayed);
            outcomes.push(outcome);
            if stop {
                break;
            }
        }
        let outcome = crate::model::all_or_nothing(outcomes);
        if !matches!(&outcome, Ok(appended) if !appended[0].replayed) {
            sqlx::query("ROLLBACK TO append")
                .execute(&mut **tx)
                .await
                .context("rolling back an append")?;
        }
        sqlx::query("RELEASE append")
            .execute(&mut **tx)
            .await
            .context("releasing a savepoint")?;
        outcome
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE`: it holds the write lock from the start).
    pub async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StorageError> {
        self.begin_with("BEGIN IMMEDIATE").await
    }

    /// Starts a write transaction of rows derived from the log that commits without waiting
    /// for the disk (`synchronous = NORMAL` in WAL mode: a power cut may lose the last such
    /// commits, each whole; the next durable commit makes them durable too). Under load most
    /// of the writer's commits are a projection's: each no longer waits for an fsync, nor
    /// makes the appends queued behind it wait for one.
    pub(crate) async fn begin_derived(&self) -> Result<Transaction<'static, Sqlite>, StorageError> {
        // The pragma may not change inside a transaction, so it comes first.
        let began = self
            .begin_with("PRAGMA synchronous = NORMAL; BEGIN IMMEDIATE")
            .await;
        match began {
            // Marked once the writer is this transaction's: its release is the next one.
            Ok(tx) => {
                self.relaxed.store(true, Ordering::Release);
                Ok(tx)
            }
            Err(error) => {
                // The pragma may have run before BEGIN failed.
                let _ = sqlx::query(DURABLE)
                    .persistent(false)
                    .execute(&self.writer)
                    .await;
                Err(error)
            }
        }
    }

    async fn begin_with(
        &self,
        statement: &'static str,
    ) -> Result<Transaction<'static, Sqlite>, StorageError> {
        self.file.check()?;
        match self.writer.begin_with(statement).await {
            Err(sqlx::Error::InvalidSavePointStatement) => {
                // A caller cancelled between sqlx running BEGIN and handing over its
                // transaction left the writer inside a transaction no one owns, so every later
                // BEGIN fails (sqlx 0.8). Close that connection, which rolls it back and frees
                // the write lock; the pool opens a fresh one.
                tracing::warn!("closing a SQLite writer left inside an orphaned transaction");
                let orphaned = self
                    .writer
                    .acquire()
                    .await
                    .context("acquiring the writer")?;
                let _ = orphaned.close().await;
                self.writer.begin_with(statement).await
            }
            other => other,
        }
        .context("beginning a write transaction")
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
            "SELECT {EVENT_COLUMNS} FROM events \
             WHERE aggregate_type = ? AND aggregate_id IN (SELECT value FROM json_each(?)) \
             AND position <= ? ORDER BY aggregate_id, sequence"
        );
        // A list of strings always encodes.
        let ids = serde_json::to_string(ids).unwrap_or_default();
        let rows = sqlx::query(&sql)
            .bind(aggregate_type)
            .bind(ids)
            .bind(up_to)
            .fetch_all(&self.readers)
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
        let sql = format!("SELECT {EVENT_COLUMNS} FROM events WHERE position = ? OR event_id = ?");
        let row = sqlx::query(&sql)
            .bind(position)
            .bind(event_id.map(|id| id.to_string()))
            .fetch_optional(&self.readers)
            .await
            .context("reading an event")?;
        row.as_ref().map(decode_event).transpose()
    }

    /// Up to `limit` events after position `after`, in position order. With one writer, commit
    /// order is position order, so a reader never skips an event.
    pub async fn read_all(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StorageError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(limit)
            .fetch_all(&self.readers)
            .await
            .context("reading the log")?;
        rows.iter().map(decode_event).collect()
    }

    /// The position of the last event (0: empty).
    pub async fn head(&self) -> Result<i64, StorageError> {
        sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
            .fetch_one(&self.readers)
            .await
            .context("reading the head position")
    }
}

#[derive(Debug, Clone)]
struct SqliteBatchWriter {
    writer: SqlitePool,
    health: WriteHealth,
}

impl BatchWriter for SqliteBatchWriter {
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

impl SqliteBatchWriter {
    async fn write(
        &self,
        appends: &[Append],
    ) -> Result<Vec<Result<Appended, AppendError>>, AppendError> {
        let mut tx = self
            .writer
            .begin_with("BEGIN IMMEDIATE")
            .await
            .context("beginning a write transaction")?;
        let mut outcomes = Vec::with_capacity(appends.len());
        let mut head = ChainHead::read(&mut tx).await?;
        for append in appends {
            // These refusals come before the append writes anything, so the others may commit;
            // any other failure rolls the batch back and group commit retries one by one.
            match append_one(&mut tx, append, &mut head).await {
                outcome @ (Ok(_)
                | Err(
                    AppendError::WrongExpectedVersion { .. } | AppendError::DuplicateKey { .. },
                )) => outcomes.push(outcome),
                Err(error) => return Err(error),
            }
        }
        tx.commit().await.context("committing appends")?;
        Ok(outcomes)
    }
}

async fn append_one(
    conn: &mut SqliteConnection,
    append: &Append,
    head: &mut ChainHead,
) -> Result<Appended, AppendError> {
    if let Some(key) = &append.idempotency_key {
        if let Some(replayed) = replay(conn, key, append).await? {
            return Ok(replayed);
        }
    }
    let actual: i64 = sqlx::query_scalar(
        "SELECT coalesce(max(sequence), 0) FROM events WHERE aggregate_type = ? AND aggregate_id = ?",
    )
    .bind(&append.stream.aggregate_type)
    .bind(&append.stream.aggregate_id)
    .fetch_one(&mut *conn)
    .await
    .context("reading a stream version")?;
    let actual_version = u64::try_from(actual).unwrap_or(0);
    if !append.expected.admits(actual_version) {
        return Err(AppendError::WrongExpectedVersion {
            stream: append.stream.clone(),
            expected: append.expected,
            actual: actual_version,
        });
    }
    let count =
        i64::try_from(append.events.len()).map_err(|_| AppendError::Invalid("append too large"))?;
    // Stored with microseconds, as on PostgreSQL; returned exactly as a later read returns it.
    let recorded_at = Utc::now().trunc_subsecs(6);
    let recorded_text = sqlite_time(recorded_at);
    if let Some(key) = &append.idempotency_key {
        sqlx::query(
            "INSERT INTO event_idempotency_keys \
             (idempotency_key, aggregate_type, aggregate_id, first_sequence, last_sequence, recorded_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(key)
        .bind(&append.stream.aggregate_type)
        .bind(&append.stream.aggregate_id)
        .bind(actual + 1)
        .bind(actual + count)
        .bind(&recorded_text)
        .execute(&mut *conn)
        .await
        .context("recording an idempotency key")?;
    }

    let mut recorded = Vec::with_capacity(append.events.len());
    for (chunk_index, chunk) in append.events.chunks(EVENTS_PER_INSERT).enumerate() {
        let offset =
            actual + 1 + i64::try_from(chunk_index * EVENTS_PER_INSERT).unwrap_or(i64::MAX);
        let mut insert = QueryBuilder::<Sqlite>::new(
            "INSERT INTO events (position, event_id, aggregate_type, aggregate_id, sequence, \
             event_type, event_version, payload, metadata, recorded_at, chain_hash) ",
        );
        // Positions are given here, under the single writer, so that each event's link can
        // name its own.
        let micros = integrity::micros(recorded_at);
        let rows: Vec<(i64, i64, String, integrity::Hash)> = chunk
            .iter()
            .zip(offset..)
            .map(|(event, sequence)| {
                let metadata = serde_json::to_value(&event.metadata).unwrap_or_default();
                let content = integrity::Content {
                    event_id: event.event_id,
                    stream_type: &append.stream.aggregate_type,
                    stream_id: &append.stream.aggregate_id,
                    event_type: &event.event_type,
                    event_version: event.event_version,
                    payload: &event.payload,
                    metadata: &metadata,
                }
                .hash();
                let (position, link) = head.advance(sequence, micros, &content);
                (position, sequence, metadata.to_string(), link)
            })
            .collect();
        insert.push_values(
            chunk.iter().zip(&rows),
            |mut row, (event, (position, sequence, metadata, link))| {
                row.push_bind(*position)
                    .push_bind(event.event_id.to_string())
                    .push_bind(&append.stream.aggregate_type)
                    .push_bind(&append.stream.aggregate_id)
                    .push_bind(*sequence)
                    .push_bind(&event.event_type)
                    .push_bind(event.event_version)
                    .push_bind(event.payload.to_string())
                    .push_bind(metadata.as_str())
                    .push_bind(&recorded_text)
                    .push_bind(link.as_slice());
            },
        );
        insert
            .build()
            .execute(&mut *conn)
            .await
            .map_err(classify_append_error)?;
        for (event, (position, sequence, _, _)) in chunk.iter().zip(rows) {
            recorded.push(RecordedEvent {
                position,
                event_id: event.event_id,
                stream: append.stream.clone(),
                sequence,
                event_type: event.event_type.clone(),
                event_version: event.event_version,
                payload: event.payload.clone(),
                metadata: event.metadata.clone(),
                recorded_at,
            });
        }
    }
    Ok(Appended {
        stream: append.stream.clone(),
        events: recorded,
        replayed: false,
    })
}

/// The first append's result when `key` is recorded (or the error if it was for another stream).
async fn replay(
    conn: &mut SqliteConnection,
    key: &str,
    append: &Append,
) -> Result<Option<Appended>, AppendError> {
    let rows = sqlx::query(crate::RECORDED_BY_KEY)
        .bind(key)
        .fetch_all(&mut *conn)
        .await
        .context("reading the append that recorded a key")?;
    let events = rows.iter().map(decode_event).collect::<Result<_, _>>()?;
    append.replay_of(events)
}

/// The text SQLite stores a time as: RFC 3339, UTC, microseconds, fixed width, so that text
/// order is time order.
pub fn sqlite_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn classify_append_error(error: sqlx::Error) -> AppendError {
    if let sqlx::Error::Database(db) = &error {
        if db.message().contains("events.event_id") {
            return AppendError::Invalid("an event id is already in the log");
        }
    }
    AppendError::Storage(StorageError::Database {
        context: "appending events",
        source: error,
    })
}

pub(crate) fn decode_event(row: &SqliteRow) -> Result<RecordedEvent, StorageError> {
    let position: i64 = row.try_get("position").context("reading an event")?;
    let corrupt = |reason: String| StorageError::Corrupt { position, reason };
    let event_id: String = row.try_get("event_id").context("reading an event")?;
    let payload: String = row.try_get("payload").context("reading an event")?;
    let metadata: String = row.try_get("metadata").context("reading an event")?;
    let recorded_at: String = row.try_get("recorded_at").context("reading an event")?;
    Ok(RecordedEvent {
        position,
        event_id: Uuid::parse_str(&event_id).map_err(|e| corrupt(e.to_string()))?,
        stream: StreamId::new(
            row.try_get::<String, _>("aggregate_type")
                .context("reading an event")?,
            row.try_get::<String, _>("aggregate_id")
                .context("reading an event")?,
        ),
        sequence: row.try_get("sequence").context("reading an event")?,
        event_type: row.try_get("event_type").context("reading an event")?,
        event_version: row.try_get("event_version").context("reading an event")?,
        payload: serde_json::from_str(&payload).map_err(|e| corrupt(e.to_string()))?,
        metadata: serde_json::from_str::<Metadata>(&metadata)
            .map_err(|e| corrupt(e.to_string()))?,
        recorded_at: DateTime::parse_from_rfc3339(&recorded_at)
            .map_err(|e| corrupt(e.to_string()))?
            .with_timezone(&Utc),
    })
}
