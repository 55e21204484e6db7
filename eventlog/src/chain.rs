//! Checking the log's hash chain (eventlog/src/integrity.rs) against what is stored: each
//! event's content hashed again, each link computed again from the one before, in position
//! order; the first event whose stored link differs is where history was changed.

use chrono::DateTime;
use sqlx::Row;

use crate::{
    error::{Context, StorageError},
    integrity::{self, Hash},
    EventLog,
};

/// How many events are read per query.
const PAGE: i64 = 10_000;

/// Where the chain breaks: the first event whose stored link is not what its content and the
/// link before it give, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainBreak {
    /// The event's position.
    pub position: i64,
    /// What differs, for a person.
    pub reason: String,
}

/// What a check of the chain read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainChecked {
    /// Events checked.
    pub events: u64,
    /// Events before the chain began (written before the log kept one), not covered.
    pub before_chain: u64,
    /// The last event's position and link, once there is one.
    pub head: Option<(i64, Hash)>,
}

/// An event as stored, with what its link covers.
struct Stored {
    position: i64,
    sequence: i64,
    recorded_at: i64,
    content: Hash,
    link: Option<Vec<u8>>,
}

/// Checks the whole chain of `log`: `Ok(Err(break))` names the first event where it breaks.
pub async fn check(log: &EventLog) -> Result<Result<ChainChecked, ChainBreak>, StorageError> {
    let EventLog::Sqlite(sqlite) = log else {
        return Err(StorageError::Unsupported(
            "the hash chain is kept on SQLite only so far",
        ));
    };
    let mut checked = ChainChecked {
        events: 0,
        before_chain: 0,
        head: None,
    };
    let mut previous: Option<Hash> = None;
    let mut after = 0_i64;
    loop {
        let rows = sqlx::query(
            "SELECT position, event_id, aggregate_type, aggregate_id, sequence, event_type, \
             event_version, payload, metadata, recorded_at, chain_hash FROM events \
             WHERE position > ? ORDER BY position LIMIT ?",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(sqlite.readers())
        .await
        .context("reading events to check the chain")?;
        let Some(last) = rows.last() else { break };
        after = last.try_get("position").context("reading an event")?;
        for row in &rows {
            let event = match stored(row) {
                Ok(event) => event,
                Err(ChainBreakOr::Storage(error)) => return Err(error),
                Err(ChainBreakOr::Break(broken)) => return Ok(Err(broken)),
            };
            let Some(link) = event.link else {
                if previous.is_none() {
                    checked.before_chain += 1;
                    continue;
                }
                return Ok(Err(ChainBreak {
                    position: event.position,
                    reason: "it has no link: it was not written by the log's append".to_owned(),
                }));
            };
            let before = previous.unwrap_or(integrity::GENESIS);
            let expected = integrity::link(
                &before,
                event.position,
                event.sequence,
                event.recorded_at,
                &event.content,
            );
            if link.as_slice() != expected.as_slice() {
                return Ok(Err(ChainBreak {
                    position: event.position,
                    reason: format!(
                        "its stored link {} is not {} (the link of its content after the event \
                         before it): the event, or one before it, was changed, removed, added \
                         or moved",
                        hex(&link),
                        hex(&expected)
                    ),
                }));
            }
            previous = Some(expected);
            checked.events += 1;
            checked.head = Some((event.position, expected));
        }
    }
    Ok(Ok(checked))
}

enum ChainBreakOr {
    Storage(StorageError),
    Break(ChainBreak),
}

impl From<StorageError> for ChainBreakOr {
    fn from(error: StorageError) -> Self {
        Self::Storage(error)
    }
}

fn stored(row: &sqlx::sqlite::SqliteRow) -> Result<Stored, ChainBreakOr> {
    let get = |column: &str| -> Result<String, StorageError> {
        row.try_get(column).context("reading an event")
    };
    let position: i64 = row.try_get("position").context("reading an event")?;
    let broken = |reason: String| ChainBreakOr::Break(ChainBreak { position, reason });
    let json = |column: &str| -> Result<serde_json::Value, ChainBreakOr> {
        serde_json::from_str(&get(column)?)
            .map_err(|e| broken(format!("its {column} is not JSON: {e}")))
    };
    let (payload, metadata) = (json("payload")?, json("metadata")?);
    let event_id = get("event_id")?
        .parse()
        .map_err(|_| broken("its event_id is not a UUID".to_owned()))?;
    let recorded_at = DateTime::parse_from_rfc3339(&get("recorded_at")?)
        .map_err(|_| broken("its recorded_at is not a time".to_owned()))?;
    let (stream_type, stream_id, event_type) = (
        get("aggregate_type")?,
        get("aggregate_id")?,
        get("event_type")?,
    );
    let content = integrity::Content {
        event_id,
        stream_type: &stream_type,
        stream_id: &stream_id,
        event_type: &event_type,
        event_version: row.try_get("event_version").context("reading an event")?,
        payload: &payload,
        metadata: &metadata,
    }
    .hash();
    Ok(Stored {
        position,
        sequence: row.try_get("sequence").context("reading an event")?,
        recorded_at: integrity::micros(recorded_at.to_utc()),
        content,
        link: row.try_get("chain_hash").context("reading an event")?,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
