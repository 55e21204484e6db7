//! The log's typed errors: a denied append never mixes with a storage failure.

use crate::model::{ExpectedVersion, StreamId};

/// Why an append was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The stream is not at the version the caller expected.
    #[error("wrong expected version for {stream}: expected {expected:?}, actual {actual}")]
    WrongExpectedVersion {
        /// The stream appended to.
        stream: StreamId,
        /// What the caller expected.
        expected: ExpectedVersion,
        /// The stream's actual version (0: no stream).
        actual: u64,
    },
    /// The idempotency key was already used for an append to another stream.
    #[error("idempotency key {key:?} was already used for {recorded_for}")]
    DuplicateKey {
        /// The key.
        key: String,
        /// The stream the key's first append went to.
        recorded_for: StreamId,
    },
    /// The append is malformed (no events, an invalid version, …).
    #[error("invalid append: {0}")]
    Invalid(&'static str),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A failure of the database underneath, with its cause chain intact.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A query failed.
    #[error("database error while {context}")]
    Database {
        /// What the log was doing.
        context: &'static str,
        /// The cause.
        #[source]
        source: sqlx::Error,
    },
    /// A migration failed.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row could not be read back (corrupt JSON, bad id).
    #[error("stored event at position {position} is unreadable: {reason}")]
    Corrupt {
        /// The event's position.
        position: i64,
        /// What was wrong.
        reason: String,
    },
    /// The append's group-commit batch failed with an error given to another append of it
    /// (a broken connection, an unreachable database); whether it committed is unknown.
    #[error("the append's batch failed (database unreachable or connection lost); retry with its idempotency key")]
    BatchFailed,
    /// The log's writer tasks have stopped (the runtime is shutting down).
    #[error("the event log is shut down")]
    Closed,
    /// The database URL names no supported backend.
    #[error("unsupported database URL (expected postgres://… or sqlite:…): {0}")]
    UnsupportedUrl(String),
    /// The operation does not exist on this backend.
    #[error("{0}")]
    Unsupported(&'static str),
    /// The storage cannot take writes for a reason outside the database's answers (the SQLite
    /// file was deleted or replaced while serving).
    #[error("storage unavailable: {0}")]
    Unavailable(&'static str),
    /// Sealed personal data cannot be sealed or opened: a subject key wrapped by a master key
    /// that is not configured, or one that does not unwrap (ADR 0028).
    #[error("personal data: {0}")]
    Privacy(String),
}

impl StorageError {
    /// Whether the failure is the storage being unreachable or out of resources (connection
    /// lost or refused, pool timed out, disk full, read-only, busy), which a retry later may
    /// cure, rather than a bug: the API answers the first with a 503, the second with a 500.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Database { source, .. } => is_unavailable(source),
            Self::Migrate(sqlx::migrate::MigrateError::Execute(source)) => is_unavailable(source),
            Self::BatchFailed | Self::Closed | Self::Unavailable(_) => true,
            Self::Migrate(_)
            | Self::Corrupt { .. }
            | Self::UnsupportedUrl(_)
            | Self::Unsupported(_)
            | Self::Privacy(_) => false,
        }
    }
}

/// Whether a sqlx error means the storage is unavailable (see [`StorageError::is_unavailable`]).
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let Some(code) = db.code() else { return false };
            if db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some()
            {
                // 08: connection exception; 53: insufficient resources (disk full, out of
                // memory, too many connections); 57: operator intervention (terminated,
                // shutting down, cannot connect now, query canceled); 58: system error (I/O);
                // 25006: read-only transaction (a standby); 55P03: lock not available and
                // 40001/40P01: serialization failure, deadlock (a retry may pass). On
                // connecting: 28 (our credentials refused), 3D000 (no such database) and
                // 55000 (the database takes no connections now).
                matches!(&code[..2], "08" | "28" | "53" | "57" | "58")
                    || matches!(
                        &*code,
                        "25006" | "55P03" | "40001" | "40P01" | "3D000" | "55000"
                    )
            } else {
                // SQLite: the primary result code is the low byte of the extended one.
                // BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN.
                code.parse::<i32>()
                    .is_ok_and(|code| matches!(code & 0xff, 5 | 6 | 8 | 10 | 13 | 14))
            }
        }
        _ => false,
    }
}

/// Adds what the log was doing to a sqlx error.
pub(crate) trait Context<T> {
    fn context(self, context: &'static str) -> Result<T, StorageError>;
}

impl<T> Context<T> for Result<T, sqlx::Error> {
    fn context(self, context: &'static str) -> Result<T, StorageError> {
        self.map_err(|source| StorageError::Database { context, source })
    }
}
