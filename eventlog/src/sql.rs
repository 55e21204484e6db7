//! Running one SQL text on either backend: the macros that pick the backend's pool (or
//! transaction) and the form a time is bound in (`timestamptz` on PostgreSQL, fixed-width
//! RFC 3339 text on SQLite), so that a query is written once for both. Crates that keep tables
//! beside the log use them too.

/// Runs `$body` with `$pool` the log's write pool and `$time` the function that turns a
/// `DateTime<Utc>` into the backend's bound form.
#[macro_export]
macro_rules! on_writer {
    ($log:expr, |$pool:ident, $time:ident| $body:expr) => {
        match $log {
            $crate::EventLog::Postgres(pg) => {
                let $pool = pg.pool();
                let $time = |at: ::chrono::DateTime<::chrono::Utc>| at;
                $body
            }
            $crate::EventLog::Sqlite(lite) => {
                let $pool = lite.writer();
                let $time = $crate::sqlite_time;
                $body
            }
        }
    };
}

/// Runs `$body` with `$pool` the log's pool for reads and `$time` as in [`on_writer!`].
#[macro_export]
macro_rules! on_readers {
    ($log:expr, |$pool:ident, $time:ident| $body:expr) => {
        match $log {
            $crate::EventLog::Postgres(pg) => {
                let $pool = pg.pool();
                #[allow(unused_variables)]
                let $time = |at: ::chrono::DateTime<::chrono::Utc>| at;
                $body
            }
            $crate::EventLog::Sqlite(lite) => {
                let $pool = lite.readers();
                #[allow(unused_variables)]
                let $time = $crate::sqlite_time;
                $body
            }
        }
    };
}

/// Runs `$body` with `$conn` the connection of the transaction `$tx` and `$time` as in
/// [`on_writer!`].
#[macro_export]
macro_rules! on_tx {
    ($tx:expr, |$conn:ident, $time:ident| $body:expr) => {
        match $tx {
            $crate::LogTransaction::Postgres(tx) => {
                let $conn: &mut ::sqlx::PgConnection = &mut *tx;
                let $time = |at: ::chrono::DateTime<::chrono::Utc>| at;
                $body
            }
            $crate::LogTransaction::Sqlite(tx) => {
                let $conn: &mut ::sqlx::SqliteConnection = &mut *tx;
                let $time = $crate::sqlite_time;
                $body
            }
        }
    };
}

/// The function that builds a JSON object of columns on this backend: a row read back as one
/// JSON text decodes into a struct the same way on both.
pub fn json_object(log: &crate::EventLog) -> (&'static str, &'static str) {
    match log {
        crate::EventLog::Postgres(_) => ("json_build_object", "::text"),
        crate::EventLog::Sqlite(_) => ("json_object", ""),
    }
}
