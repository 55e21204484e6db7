//! The log's hash chain (eventlog/src/integrity.rs) as stored, and its check: each event's
//! content hashed again, each link computed again from the one before, in position order; the
//! first event whose stored link differs is where history was changed.
//!
//! On SQLite the append writes each event's link (`events.chain_hash`): the single writer
//! serialises positions and commits alike. On PostgreSQL, where appends commit out of position
//! order, the [`Chainer`] writes them (`event_links`) as a reader of the whole log that sees an
//! event only once every position before it is settled (ADR 0027).

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::{
    error::{Context, StorageError},
    integrity::{self, Hash},
    EventLog, HandlerError, LogTransaction, Projection, RecordedEvent,
};

/// The chainer's name, as its checkpoint and claim go by.
pub const CHAINER: &str = "audit-chain";

/// Links each event of a PostgreSQL log to the one before it, in position order (a projection
/// of the whole log into `event_links`); on SQLite the append does.
#[derive(Debug, Clone, Copy, Default)]
pub struct Chainer;

impl Projection for Chainer {
    fn name(&self) -> &str {
        CHAINER
    }

    async fn apply(
        &self,
        tx: &mut LogTransaction,
        events: &[RecordedEvent],
    ) -> Result<(), HandlerError> {
        let LogTransaction::Postgres(tx) = tx else {
            return Ok(());
        };
        let last: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT link FROM event_links ORDER BY position DESC LIMIT 1")
                .fetch_optional(&mut **tx)
                .await?;
        let mut previous: Hash = match last {
            None => integrity::GENESIS,
            Some(bytes) => bytes
                .try_into()
                .map_err(|_| "the last link in event_links is not 32 bytes")?,
        };
        let mut positions = Vec::with_capacity(events.len());
        let mut links = Vec::with_capacity(events.len());
        for event in events {
            let metadata = serde_json::to_value(&event.metadata)?;
            let content = integrity::Content {
                event_id: event.event_id,
                stream_type: &event.stream.aggregate_type,
                stream_id: &event.stream.aggregate_id,
                event_type: &event.event_type,
                event_version: event.event_version,
                payload: &event.payload,
                metadata: &metadata,
            }
            .hash();
            previous = integrity::link(
                &previous,
                event.position,
                event.sequence,
                integrity::micros(event.recorded_at),
                &content,
            );
            positions.push(event.position);
            links.push(previous.to_vec());
        }
        sqlx::query(
            "INSERT INTO event_links (position, link) \
             SELECT * FROM unnest($1::bigint[], $2::bytea[])",
        )
        .bind(&positions)
        .bind(&links)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

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
    /// PostgreSQL: the latest events, which the chainer has not linked yet.
    pub not_linked_yet: u64,
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
    recorded_at: RecordedAt,
    link: Option<Vec<u8>>,
    /// Whether a missing link is still to come (PostgreSQL: after the chainer's last link).
    linked_later: bool,
}

/// A time as each backend stores it.
enum RecordedAt {
    /// SQLite's fixed-width RFC 3339 text.
    Text(String),
    /// PostgreSQL's `timestamptz`.
    Time(DateTime<Utc>),
}

/// An event as stored, with what its link covers.
struct Stored {
    position: i64,
    sequence: i64,
    recorded_at: i64,
    content: Hash,
    link: Option<Vec<u8>>,
    /// Whether a missing link is still to come (PostgreSQL: after the chainer's last link).
    linked_later: bool,
}

/// Checks the whole chain of `log`: `Ok(Err(break))` names the first event where it breaks.
///
/// One task reads pages while the pages before are hashed, each split over the cores; only
/// the links, cheap, are computed in order.
pub async fn check(log: &EventLog) -> Result<Result<ChainChecked, ChainBreak>, StorageError> {
    let log = log.clone();
    let (pages, mut received) = tokio::sync::mpsc::channel::<Result<Vec<Raw>, StorageError>>(2);
    let reader = tokio::spawn(async move {
        let mut after = 0_i64;
        loop {
            let page = read_page(&log, after).await;
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
        not_linked_yet: 0,
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
                if event.linked_later {
                    // PostgreSQL: the chainer has not reached it yet; nor anything after it.
                    checked.not_linked_yet += 1;
                    continue;
                }
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

async fn read_page(log: &EventLog, after: i64) -> Result<Vec<Raw>, StorageError> {
    const COLUMNS: &str = "e.position, e.event_id, e.aggregate_type, e.aggregate_id, e.sequence, \
                           e.event_type, e.event_version";
    match log {
        EventLog::Sqlite(sqlite) => {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS}, e.payload, e.metadata, e.recorded_at, e.chain_hash AS link \
                 FROM events e WHERE e.position > ? ORDER BY e.position LIMIT ?"
            ))
            .bind(after)
            .bind(PAGE)
            .fetch_all(sqlite.readers())
            .await
            .context("reading events to check the chain")?;
            rows.iter()
                .map(|row| {
                    raw(
                        row,
                        RecordedAt::Text(row.try_get("recorded_at")?),
                        row.try_get("event_id")?,
                        false,
                    )
                })
                .collect::<Result<_, sqlx::Error>>()
                .context("reading an event")
        }
        EventLog::Postgres(pg) => {
            // Past the chainer's last link, a missing link is still to come.
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS}, e.payload::text AS payload, e.metadata::text AS metadata, \
                 e.recorded_at, l.link, \
                 e.position > coalesce((SELECT max(position) FROM event_links), 0) AS later \
                 FROM events e LEFT JOIN event_links l ON l.position = e.position \
                 WHERE e.position > $1 ORDER BY e.position LIMIT $2"
            ))
            .bind(after)
            .bind(PAGE)
            .fetch_all(pg.pool())
            .await
            .context("reading events to check the chain")?;
            rows.iter()
                .map(|row| {
                    let id: uuid::Uuid = row.try_get("event_id")?;
                    raw(
                        row,
                        RecordedAt::Time(row.try_get("recorded_at")?),
                        id.to_string(),
                        row.try_get("later")?,
                    )
                })
                .collect::<Result<_, sqlx::Error>>()
                .context("reading an event")
        }
    }
}

fn raw<R: Row>(
    row: &R,
    recorded_at: RecordedAt,
    event_id: String,
    linked_later: bool,
) -> Result<Raw, sqlx::Error>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'d> i64: sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
    for<'d> i32: sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
    for<'d> String: sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
    for<'d> Option<Vec<u8>>: sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
{
    Ok(Raw {
        position: row.try_get("position")?,
        event_id,
        stream_type: row.try_get("aggregate_type")?,
        stream_id: row.try_get("aggregate_id")?,
        sequence: row.try_get("sequence")?,
        event_type: row.try_get("event_type")?,
        event_version: row.try_get("event_version")?,
        payload: row.try_get("payload")?,
        metadata: row.try_get("metadata")?,
        recorded_at,
        link: row.try_get("link")?,
        linked_later,
    })
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
    let recorded_at = match &raw.recorded_at {
        RecordedAt::Time(at) => *at,
        RecordedAt::Text(text) => DateTime::parse_from_rfc3339(text)
            .map_err(|_| broken("its recorded_at is not a time".to_owned()))?
            .to_utc(),
    };
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
        recorded_at: integrity::micros(recorded_at),
        content,
        link: raw.link.clone(),
        linked_later: raw.linked_later,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
