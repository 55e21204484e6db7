//! Why a command did not run: a refusal by the domain never mixes with a storage failure.

use domain::order::OrderError;
use eventlog::{StorageError, StreamId};

/// The outcome of a command that appended nothing new.
#[derive(Debug, thiserror::Error)]
pub enum CommandError<E> {
    /// The domain refused the command (a business rule).
    #[error("command refused")]
    Rejected(#[source] E),
    /// The order the command's aggregate is bound to refused what the command decided: a rule
    /// read across both (no dispatch once cancelled; no payment for a cancelled order), decided
    /// by both in one append (ADR 0009).
    #[error("{stream} refused the command")]
    RefusedBy {
        /// The order's stream.
        stream: StreamId,
        /// The order's refusal.
        #[source]
        refusal: OrderError,
    },
    /// The idempotency key was first used for another stream.
    #[error("idempotency key {key:?} was already used for {recorded_for}")]
    KeyReused {
        /// The key.
        key: String,
        /// The stream it was used for.
        recorded_for: StreamId,
    },
    /// The stream is not at the version the sender expected.
    #[error("{stream} is at version {actual}, not {expected} as the sender expected")]
    VersionConflict {
        /// The stream.
        stream: StreamId,
        /// The version the sender expected.
        expected: i64,
        /// The stream's version.
        actual: i64,
    },
    /// Other writers kept changing the stream while the command was decided.
    #[error("{stream} changed under the command {attempts} times")]
    Contended {
        /// The stream.
        stream: StreamId,
        /// How often it was decided.
        attempts: usize,
    },
    /// A stored event of the stream cannot be read.
    #[error("event {sequence} of {stream} cannot be read")]
    Corrupt {
        /// The stream.
        stream: StreamId,
        /// The event's version in it.
        sequence: i64,
        /// Why.
        #[source]
        source: domain::DecodeError,
    },
    /// The append was malformed (a bug, not bad input).
    #[error("invalid append: {0}")]
    Invalid(&'static str),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}
