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

/// An event as read, before its content is hashed.
struct Raw {
    position: i64,
    event_id: String,
    stream_type: String,
    stream_id: String,
    sequence: i64,
    event_type: String,
    event_version: i32,
    payload: String,
    metadata: String,
    recorded_at: String,
    link: Option<Vec<u8>>,
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
///
/// One task reads pages while the pages before are hashed, each split over the cores; only
/// the links, cheap, are computed in order.
pub async fn check(log: &EventLog) -> Result<Result<ChainChecked, ChainBreak>, StorageError> {
    let EventLog::Sqlite(sqlite) = log else {
        return Err(StorageError::Unsupported(
            "the hash chain is kept on SQLite only so far",
        ));
    };
    let readers = sqlite.readers().clone();
    let (pages, mut received) = tokio::sync::mpsc::channel::<Result<Vec<Raw>, StorageError>>(2);
    let reader = tokio::spawn(async move {
        let mut after = 0_i64;
        loop {
            let page = read_page(&readers, after).await;
            let next = match &page {
                Ok(rows) => rows.last().map(|last| last.position),
                Err(_) => None,
            };
            if pages.send(page).await.is_err() {
                return;
            }
            match next {
                Some(position) => after = position,
                None => return,
            }
        }
    });
    let mut checked = ChainChecked {
        events: 0,
        before_chain: 0,
        head: None,
    };
    let mut previous: Option<Hash> = None;
    while let Some(page) = received.recv().await {
        let page = page?;
        if page.is_empty() {
            break;
        }
        let hashed = tokio::task::spawn_blocking(move || hash_page(page))
            .await
            .map_err(|_| StorageError::Unsupported("hashing a page of events panicked"))?;
        for event in hashed {
            let event = match event {
                Ok(event) => event,
                Err(broken) => {
                    reader.abort();
                    return Ok(Err(broken));
                }
            };
            let Some(link) = event.link else {
                if previous.is_none() {
                    checked.before_chain += 1;
                    continue;
                }
                reader.abort();
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
                reader.abort();
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

async fn read_page(readers: &sqlx::SqlitePool, after: i64) -> Result<Vec<Raw>, StorageError> {
    let rows = sqlx::query(
        "SELECT position, event_id, aggregate_type, aggregate_id, sequence, event_type, \
         event_version, payload, metadata, recorded_at, chain_hash FROM events \
         WHERE position > ? ORDER BY position LIMIT ?",
    )
    .bind(after)
    .bind(PAGE)
    .fetch_all(readers)
    .await
    .context("reading events to check the chain")?;
    rows.iter()
        .map(|row| {
            Ok(Raw {
                position: row.try_get("position")?,
                event_id: row.try_get("event_id")?,
                stream_type: row.try_get("aggregate_type")?,
                stream_id: row.try_get("aggregate_id")?,
                sequence: row.try_get("sequence")?,
                event_type: row.try_get("event_type")?,
                event_version: row.try_get("event_version")?,
                payload: row.try_get("payload")?,
                metadata: row.try_get("metadata")?,
                recorded_at: row.try_get("recorded_at")?,
                link: row.try_get("chain_hash")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .context("reading an event")
}

/// Each event of `page` with its content hashed, on as many threads as there are cores.
fn hash_page(page: Vec<Raw>) -> Vec<Result<Stored, ChainBreak>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let size = page.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = page
            .chunks(size)
            .map(|part| scope.spawn(move || part.iter().map(stored).collect::<Vec<_>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|part| {
                part.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

fn stored(raw: &Raw) -> Result<Stored, ChainBreak> {
    let broken = |reason: String| ChainBreak {
        position: raw.position,
        reason,
    };
    let json = |text: &str, column: &str| -> Result<serde_json::Value, ChainBreak> {
        serde_json::from_str(text).map_err(|e| broken(format!("its {column} is not JSON: {e}")))
    };
    let (payload, metadata) = (
        json(&raw.payload, "payload")?,
        json(&raw.metadata, "metadata")?,
    );
    let event_id = raw
        .event_id
        .parse()
        .map_err(|_| broken("its event_id is not a UUID".to_owned()))?;
    let recorded_at = DateTime::parse_from_rfc3339(&raw.recorded_at)
        .map_err(|_| broken("its recorded_at is not a time".to_owned()))?;
    let content = integrity::Content {
        event_id,
        stream_type: &raw.stream_type,
        stream_id: &raw.stream_id,
        event_type: &raw.event_type,
        event_version: raw.event_version,
        payload: &payload,
        metadata: &metadata,
    }
    .hash();
    Ok(Stored {
        position: raw.position,
        sequence: raw.sequence,
        recorded_at: integrity::micros(recorded_at.to_utc()),
        content,
        link: raw.link.clone(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
