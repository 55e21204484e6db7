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
