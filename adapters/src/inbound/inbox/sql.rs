//! The inbox's SQL texts, run on either backend through `eventlog::on_writer!` and
//! `eventlog::on_tx!`: one text per statement, bound times in the backend's form, except where
//! the statement itself differs (a text per backend, chosen by `EventLog::backend`).
//!
//! Parameters appear in the order of their numbers (SQLite numbers `$n` parameters in order of
//! first appearance), except where a text per backend says otherwise.

use eventlog::{Backend, EventLog, StorageError};
use serde::de::DeserializeOwned;

/// Inserts a delivery unless its key is there; `$5` (headers) is bound as JSON.
pub(crate) const STORE: &str = "INSERT INTO webhook_inbox \
     (source, event_id, event_type, body, headers, received_at, next_attempt_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (source, event_id) DO NOTHING";

/// The claimed row as JSON; `$1` due by, `$2` limit, `$3` lease end, `$4` claim token.
/// Rows locked by a concurrent claim are skipped, not waited for.
pub(crate) const CLAIM_POSTGRES: &str = "WITH due AS (SELECT source, event_id FROM webhook_inbox \
       WHERE status IN ('pending', 'failed', 'unmatched') AND next_attempt_at <= $1 \
       ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED) \
     UPDATE webhook_inbox i SET attempts = i.attempts + 1, next_attempt_at = $3, claim_token = $4 \
     FROM due WHERE i.source = due.source AND i.event_id = due.event_id \
     RETURNING json_build_object('source', i.source, 'event_id', i.event_id, \
       'event_type', i.event_type, 'body', i.body, 'attempts', i.attempts, \
       'failures', i.failures, 'claim_token', i.claim_token, 'status', i.status, \
       'received_at', i.received_at, 'traceparent', i.headers->>'traceparent')::text";

/// The same on SQLite, whose single writer needs no row locks; `?n` fixes the numbering.
pub(crate) const CLAIM_SQLITE: &str = "UPDATE webhook_inbox \
     SET attempts = attempts + 1, next_attempt_at = ?3, claim_token = ?4 \
     WHERE rowid IN (SELECT rowid FROM webhook_inbox \
       WHERE status IN ('pending', 'failed', 'unmatched') AND next_attempt_at <= ?1 \
       ORDER BY next_attempt_at LIMIT ?2) \
     RETURNING json_object('source', source, 'event_id', event_id, 'event_type', event_type, \
       'body', body, 'attempts', attempts, 'failures', failures, 'claim_token', claim_token, \
       'status', status, 'received_at', received_at, \
       'traceparent', json_extract(headers, '$.traceparent'))";

/// Makes the claimed rows of process `$2` (a `LIKE` pattern of its tokens) due at `$1`.
pub(crate) const RELEASE_CLAIMS_POSTGRES: &str = "UPDATE webhook_inbox \
     SET next_attempt_at = $1, claim_token = NULL \
     WHERE claim_token LIKE $2 AND status IN ('pending', 'failed', 'unmatched') \
       AND next_attempt_at > $1";

/// The same on SQLite, whose claims are all this process's (it serves one): `$2` is unused.
pub(crate) const RELEASE_CLAIMS_SQLITE: &str = "UPDATE webhook_inbox \
     SET next_attempt_at = $1, claim_token = NULL \
     WHERE claim_token IS NOT NULL AND status IN ('pending', 'failed', 'unmatched') \
       AND next_attempt_at > $1";

/// Gives up claim `$4` of row (`$2`, `$3`): due at `$1`.
pub(crate) const RELEASE_CLAIM: &str = "UPDATE webhook_inbox SET next_attempt_at = $1, \
     claim_token = NULL WHERE source = $2 AND event_id = $3 AND claim_token = $4";

/// Records an attempt's end on the row, if the claim `$8` still holds it.
pub(crate) const FINISH: &str = "UPDATE webhook_inbox SET status = $1, failures = failures + $2, \
     next_attempt_at = $3, last_error = $4, processed_at = coalesce($5, processed_at), \
     claim_token = NULL WHERE source = $6 AND event_id = $7 AND claim_token = $8";

/// Appends to the attempt history.
pub(crate) const RECORD_ATTEMPT: &str = "INSERT INTO webhook_inbox_attempts \
     (source, event_id, attempt, started_at, finished_at, outcome, error) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Makes a dead, unmatched (or expired) or failed delivery due now (`$1`), as if new.
pub(crate) const RETRY: &str = "UPDATE webhook_inbox SET status = 'pending', failures = 0, \
     next_attempt_at = $1, claim_token = NULL \
     WHERE source = $2 AND event_id = $3 \
       AND status IN ('dead', 'unmatched', 'unmatched_expired', 'failed')";

/// The columns of a delivery as one JSON object; `full` adds the body and headers.
pub(crate) fn delivery_json(log: &EventLog, full: bool) -> String {
    let (object, cast) = eventlog::json_object(log);
    let mut columns = String::from(
        "'source', source, 'event_id', event_id, 'event_type', event_type, \
         'received_at', received_at, 'status', status, 'attempts', attempts, \
         'failures', failures, 'next_attempt_at', next_attempt_at, \
         'last_error', last_error, 'processed_at', processed_at",
    );
    if full {
        // SQLite keeps the headers as JSON text: `json()` nests them as an object, not a string.
        let headers = match log.backend() {
            Backend::Postgres => "headers",
            Backend::Sqlite => "json(headers)",
        };
        columns.push_str(&format!(", 'body', body, 'headers', {headers}"));
    }
    format!("{object}({columns}){cast}")
}

/// An attempt of the history as one JSON object.
pub(crate) fn attempt_json(log: &EventLog) -> String {
    let (object, cast) = eventlog::json_object(log);
    format!(
        "{object}('attempt', attempt, 'started_at', started_at, 'finished_at', finished_at, \
         'outcome', outcome, 'error', error){cast}"
    )
}

/// Maps a database error to the log's storage error, naming what the inbox was doing.
pub(crate) fn error(context: &'static str) -> impl Fn(sqlx::Error) -> StorageError {
    move |source| StorageError::Database { context, source }
}

/// Reads one row's JSON text.
pub(crate) fn decode<T: DeserializeOwned>(text: &str) -> Result<T, StorageError> {
    serde_json::from_str(text).map_err(|e| StorageError::Database {
        context: "reading an inbox row",
        source: sqlx::Error::Decode(Box::new(e)),
    })
}
