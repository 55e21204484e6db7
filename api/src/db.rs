//! The API's own tables (users, tokens, idempotent requests): how they keep times and name a
//! failure. Their queries run on either backend through `eventlog::on_writer!` and
//! `eventlog::on_readers!`.

/// Milliseconds since the Unix epoch, as the API's tables keep times.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A storage failure of the API's own tables.
pub(crate) fn storage(context: &'static str) -> impl Fn(sqlx::Error) -> eventlog::StorageError {
    move |source| eventlog::StorageError::Database { context, source }
}
