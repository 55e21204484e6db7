//! Running one SQL text on either backend: the macros that pick the backend's pool (or
//! transaction) and the form a time is bound in (`timestamptz` on PostgreSQL, fixed-width
//! RFC 3339 text on SQLite), so that a query is written once for both, and the few helpers
//! built on them. Crates that keep tables beside the log use them too: no other place matches
//! on the backend's pools to run a query. Where the SQL itself differs (row locks, JSON
//! functions, catalog queries), the text is chosen by [`EventLog::backend`] and still run
//! through these. What only one backend runs stays in `postgres.rs` and `sqlite.rs` (the
//! append, the gap-free read), and claims are an advisory lock or a file lock
//! (`subscription/claim.rs`).

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use crate::{error::StorageError, EventLog, LogTransaction, RecordedEvent};

/// Which database a log (or a transaction) is on: what a text that differs between the two
/// is chosen by.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, strum::Display, strum::IntoStaticStr,
)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// SQLite.
    Sqlite,
}

impl Backend {
    /// Its name, `postgres` or `sqlite`.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl EventLog {
    /// The backend this log is on.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }
}

impl LogTransaction {
    /// The backend this transaction is on.
    pub fn backend(&self) -> Backend {
        match self {
            Self::Postgres(_) => Backend::Postgres,
            Self::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// Runs `$body` with `$pool` the log's write pool and `$time` the function that turns a
/// `DateTime<Utc>` into the backend's bound form.
#[macro_export]
macro_rules! on_writer {
    ($log:expr, |$pool:ident, $time:ident| $body:expr) => {
        $crate::__on_pool!($log, writer, |$pool, $time| $body)
    };
}

/// Runs `$body` with `$pool` the log's pool for reads and `$time` as in [`on_writer!`].
#[macro_export]
macro_rules! on_readers {
    ($log:expr, |$pool:ident, $time:ident| $body:expr) => {
        $crate::__on_pool!($log, readers, |$pool, $time| $body)
    };
}

/// [`on_writer!`] and [`on_readers!`]: `$sqlite` names the SQLite pool; PostgreSQL has one.
#[doc(hidden)]
#[macro_export]
macro_rules! __on_pool {
    ($log:expr, $sqlite:ident, |$pool:ident, $time:ident| $body:expr) => {
        match $log {
            $crate::EventLog::Postgres(pg) => {
                let $pool = pg.pool();
                #[allow(unused_variables)]
                let $time = $crate::__private::postgres_time;
                $body
            }
            $crate::EventLog::Sqlite(lite) => {
                let $pool = lite.$sqlite();
                #[allow(unused_variables)]
                let $time = $crate::sqlite_time;
                $body
            }
        }
    };
}

/// Runs `$body` with `$conn` the connection of the transaction `$tx` (a `&mut LogTransaction`)
/// and `$time` as in [`on_writer!`].
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, |$conn:ident, $time:ident| $body:expr) => {
        match $tx {
            $crate::LogTransaction::Postgres(tx) => {
                let $conn: &mut $crate::__private::sqlx::PgConnection = &mut *tx;
                #[allow(unused_variables)]
                let $time = $crate::__private::postgres_time;
                $body
            }
            $crate::LogTransaction::Sqlite(tx) => {
                let $conn: &mut $crate::__private::sqlx::SqliteConnection = &mut *tx;
                #[allow(unused_variables)]
                let $time = $crate::sqlite_time;
                $body
            }
        }
    };
}

/// The function that builds a JSON object of columns on this backend, and the cast that
/// makes it text: a row read back as one JSON text decodes into a struct the same way on both.
pub fn json_object(log: &EventLog) -> (&'static str, &'static str) {
    match log.backend() {
        Backend::Postgres => ("json_build_object", "::text"),
        Backend::Sqlite => ("json_object", ""),
    }
}

/// A value bound to a query assembled at run time (filters that are there or not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// Text.
    Text(String),
    /// An integer.
    Int(i64),
    /// A time, bound in the backend's form.
    Time(DateTime<Utc>),
}

/// The rows `sql` answers on the readers' pool, `sql` selecting one column of JSON text (see
/// [`json_object`]) that serde decodes into `T`, with `params` bound in order. `context` names
/// what was read, in a failure.
pub async fn json_rows<T: DeserializeOwned>(
    log: &EventLog,
    sql: &str,
    params: &[Param],
    context: &'static str,
) -> Result<Vec<T>, StorageError> {
    let texts: Vec<String> = on_readers!(log, |pool, time| {
        let mut query = sqlx::query_scalar(sql);
        for param in params {
            query = match param {
                Param::Text(text) => query.bind(text.as_str()),
                Param::Int(n) => query.bind(*n),
                Param::Time(at) => query.bind(time(*at)),
            };
        }
        query.fetch_all(pool).await
    })
    .map_err(|source| StorageError::Database { context, source })?;
    texts
        .iter()
        .map(|text| {
            serde_json::from_str(text).map_err(|e| StorageError::Database {
                context,
                source: sqlx::Error::Decode(Box::new(e)),
            })
        })
        .collect()
}

/// A row of the events table, decoded by its backend's rules: what lets one query body read
/// events on either pool.
pub(crate) trait EventRow {
    /// The event the row holds.
    fn decode_event(&self) -> Result<RecordedEvent, StorageError>;
}

impl EventRow for sqlx::postgres::PgRow {
    fn decode_event(&self) -> Result<RecordedEvent, StorageError> {
        crate::postgres::decode_event(self)
    }
}

impl EventRow for sqlx::sqlite::SqliteRow {
    fn decode_event(&self) -> Result<RecordedEvent, StorageError> {
        crate::sqlite::decode_event(self)
    }
}
