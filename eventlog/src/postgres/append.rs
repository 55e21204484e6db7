//! The append statement: `append_events()` for a batch of appends in one round trip, and what
//! its rows, its refusals and its races mean for each append.

use chrono::{DateTime, Utc};
use sqlx::{postgres::PgRow, PgConnection, Row};
use uuid::Uuid;

use super::{decode_event, decode_event_with_stream, EVENT_COLUMNS};
use crate::{
    error::{AppendError, Context, StorageError},
    model::{Append, Appended, RecordedEvent, StreamId},
};

/// Another transaction appended to the stream between our version check and our insert.
pub(super) const STREAM_RACE: &str = "concurrent append to the same stream";

/// The error for an append that lost a race: the stream's version as committed now.
pub(super) async fn stale(executor: impl sqlx::PgExecutor<'_>, append: &Append) -> AppendError {
    let actual = sqlx::query_scalar::<_, i64>(
        "SELECT coalesce(max(sequence), 0) FROM events WHERE aggregate_type = $1 AND aggregate_id = $2",
    )
    .bind(&append.stream.aggregate_type)
    .bind(&append.stream.aggregate_id)
    .fetch_one(executor)
    .await;
    match actual {
        Ok(actual) => AppendError::WrongExpectedVersion {
            stream: append.stream.clone(),
            expected: append.expected,
            actual: u64::try_from(actual).unwrap_or(0),
        },
        Err(source) => AppendError::Storage(StorageError::Database {
            context: "reading a stream version after a lost race",
            source,
        }),
    }
}

/// Runs `append_events()` for `appends` on `conn`: one statement, one round trip.
pub(super) async fn append_batch(
    conn: &mut PgConnection,
    appends: &[Append],
) -> Result<Vec<Result<Appended, AppendError>>, AppendError> {
    let total: usize = appends.iter().map(|a| a.events.len()).sum();
    let mut a_type = Vec::with_capacity(appends.len());
    let mut a_id = Vec::with_capacity(appends.len());
    let mut a_expected = Vec::with_capacity(appends.len());
    let mut a_key = Vec::with_capacity(appends.len());
    let mut e_append = Vec::with_capacity(total);
    let mut e_offset = Vec::with_capacity(total);
    let mut e_id = Vec::with_capacity(total);
    let mut e_type = Vec::with_capacity(total);
    let mut e_version = Vec::with_capacity(total);
    let mut e_payload = Vec::with_capacity(total);
    let mut e_metadata = Vec::with_capacity(total);
    for (index, append) in appends.iter().enumerate() {
        a_type.push(append.stream.aggregate_type.as_str());
        a_id.push(append.stream.aggregate_id.as_str());
        a_expected.push(append.expected.as_sql());
        a_key.push(append.idempotency_key.as_deref());
        let number =
            i32::try_from(index + 1).map_err(|_| AppendError::Invalid("batch too large"))?;
        for (offset, event) in (1..).zip(&append.events) {
            e_append.push(number);
            e_offset.push(offset);
            e_id.push(event.event_id);
            e_type.push(event.event_type.as_str());
            e_version.push(event.event_version);
            e_payload.push(&event.payload);
            e_metadata.push(sqlx::types::Json(&event.metadata));
        }
    }
    let rows = sqlx::query(
        "SELECT append_no, outcome, stream_type, stream_id, version, position, sequence, \
                recorded_at, event_id, event_type, event_version, payload, metadata, \
                last_position, written \
         FROM append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&a_type)
    .bind(&a_id)
    .bind(&a_expected)
    .bind(&a_key)
    .bind(&e_append)
    .bind(&e_offset)
    .bind(&e_id)
    .bind(&e_type)
    .bind(&e_version)
    .bind(&e_payload)
    .bind(&e_metadata)
    .fetch_all(&mut *conn)
    .await
    .map_err(classify_append_error)?;

    let mut rows_per_append: Vec<Vec<&PgRow>> = vec![Vec::new(); appends.len()];
    for row in &rows {
        let number: i32 = row
            .try_get("append_no")
            .context("reading an append outcome")?;
        let slot = usize::try_from(number - 1)
            .ok()
            .and_then(|i| rows_per_append.get_mut(i))
            .ok_or(AppendError::Invalid(
                "the database answered an unknown append",
            ))?;
        slot.push(row);
    }
    let mut outcomes = Vec::with_capacity(appends.len());
    for (append, rows) in appends.iter().zip(rows_per_append) {
        let outcome = match outcome_of(append, &rows) {
            Err(AppendError::Invalid(KEY_RACE)) => replay_winner(conn, append).await,
            Err(AppendError::Invalid(NOT_CONSECUTIVE)) => read_back(conn, append).await,
            outcome => outcome,
        };
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

/// A concurrent append with the same idempotency key committed while this one waited for it.
const KEY_RACE: &str = "lost an idempotency key race";

/// The events the append that won the key race wrote (committed, so visible now).
async fn replay_winner(conn: &mut PgConnection, append: &Append) -> Result<Appended, AppendError> {
    let rows = sqlx::query(crate::RECORDED_BY_KEY)
        .bind(append.idempotency_key.as_deref().unwrap_or_default())
        .fetch_all(&mut *conn)
        .await
        .context("reading the append that recorded a key")?;
    let events = rows.iter().map(decode_event).collect::<Result<_, _>>()?;
    append.replay_of(events)?.ok_or(AppendError::Invalid(
        "a recorded idempotency key names no events",
    ))
}

fn outcome_of(append: &Append, rows: &[&PgRow]) -> Result<Appended, AppendError> {
    let first = rows
        .first()
        .ok_or(AppendError::Invalid("the database answered no outcome"))?;
    let outcome: String = first
        .try_get("outcome")
        .context("reading an append outcome")?;
    match outcome.as_str() {
        "retry" => Err(AppendError::Invalid(KEY_RACE)),
        "conflict" => {
            let actual: i64 = first
                .try_get("version")
                .context("reading an append outcome")?;
            Err(AppendError::WrongExpectedVersion {
                stream: append.stream.clone(),
                expected: append.expected,
                actual: u64::try_from(actual).unwrap_or(0),
            })
        }
        "duplicate" => {
            let recorded_for = StreamId::new(
                first
                    .try_get::<String, _>("stream_type")
                    .context("reading a duplicate")?,
                first
                    .try_get::<String, _>("stream_id")
                    .context("reading a duplicate")?,
            );
            if recorded_for != append.stream {
                return Err(AppendError::DuplicateKey {
                    key: append.idempotency_key.clone().unwrap_or_default(),
                    recorded_for,
                });
            }
            let events = rows
                .iter()
                .map(|row| decode_event_with_stream(row, recorded_for.clone()))
                .collect::<Result<_, _>>()?;
            Ok(Appended {
                stream: recorded_for,
                events,
                replayed: true,
            })
        }
        _ => {
            // One row: the append's events have consecutive positions from `position`.
            let first_position: i64 = first
                .try_get("position")
                .context("reading an append outcome")?;
            let last_position: i64 = first
                .try_get("last_position")
                .context("reading an append outcome")?;
            let written: i64 = first
                .try_get("written")
                .context("reading an append outcome")?;
            let first_sequence: i64 = first
                .try_get("sequence")
                .context("reading an append outcome")?;
            let recorded_at: DateTime<Utc> = first
                .try_get("recorded_at")
                .context("reading an append outcome")?;
            let count = i64::try_from(append.events.len()).unwrap_or(i64::MAX);
            if written != count || last_position - first_position + 1 != count {
                return Err(AppendError::Invalid(NOT_CONSECUTIVE));
            }
            let events = (0..)
                .zip(&append.events)
                .map(|(k, event)| RecordedEvent {
                    position: first_position + k,
                    event_id: event.event_id,
                    stream: append.stream.clone(),
                    sequence: first_sequence + k,
                    event_type: event.event_type.clone(),
                    event_version: event.event_version,
                    payload: event.payload.clone(),
                    metadata: event.metadata.clone(),
                    recorded_at,
                })
                .collect();
            Ok(Appended {
                stream: append.stream.clone(),
                events,
                replayed: false,
            })
        }
    }
}

/// The positions of an append's events were not consecutive (only if something wrote to the
/// events table without `append_events()`): its events are read back instead.
const NOT_CONSECUTIVE: &str = "an append's positions are not consecutive";

/// The events an append wrote, read back from the log (within its transaction).
pub(super) async fn read_back(
    conn: &mut PgConnection,
    append: &Append,
) -> Result<Appended, AppendError> {
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM events e WHERE e.event_id = ANY($1) ORDER BY e.sequence"
    );
    let ids: Vec<Uuid> = append.events.iter().map(|e| e.event_id).collect();
    let rows = sqlx::query(&sql)
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await
        .context("reading an append back")?;
    let events = rows.iter().map(decode_event).collect::<Result<_, _>>()?;
    Ok(Appended {
        stream: append.stream.clone(),
        events,
        replayed: false,
    })
}

/// A unique violation on the stream version means another transaction appended to the stream
/// after we read its version: the caller's expectation is stale.
fn classify_append_error(error: sqlx::Error) -> AppendError {
    if let sqlx::Error::Database(db) = &error {
        match db.constraint() {
            Some("events_stream_version_key") => return AppendError::Invalid(STREAM_RACE),
            Some("events_event_id_key") => {
                return AppendError::Invalid("an event id is already in the log")
            }
            _ => {}
        }
        if db.code().as_deref() == Some("BO001") {
            return AppendError::Invalid("an append must be the first write of its transaction");
        }
    }
    AppendError::Storage(StorageError::Database {
        context: "appending events",
        source: error,
    })
}
