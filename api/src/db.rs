//! The API's own tables (users, tokens, idempotent requests) on either backend: one SQL text,
//! run on PostgreSQL's pool or SQLite's writer or readers.

/// Runs `$body` with `$pool` bound to the log's pool for writes (`write`) or reads (`read`).
macro_rules! with_pool {
    ($log:expr, write, $pool:ident => $body:expr) => {
        match $log {
            eventlog::EventLog::Postgres(pg) => {
                let $pool = pg.pool();
                $body
            }
            eventlog::EventLog::Sqlite(lite) => {
                let $pool = lite.writer();
                $body
            }
        }
    };
    ($log:expr, read, $pool:ident => $body:expr) => {
        match $log {
            eventlog::EventLog::Postgres(pg) => {
                let $pool = pg.pool();
                $body
            }
            eventlog::EventLog::Sqlite(lite) => {
                let $pool = lite.readers();
                $body
            }
        }
    };
}
pub(crate) use with_pool;

/// Milliseconds since the Unix epoch, as the API's tables keep times.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A storage failure of the API's own tables.
pub(crate) fn storage(context: &'static str) -> impl Fn(sqlx::Error) -> eventlog::StorageError {
    move |source| eventlog::StorageError::Database { context, source }
}
