//! The log's hash chain (eventlog/src/integrity.rs) as stored, and its check: each event's
//! content hashed again, each link computed again from the one before, in position order; the
//! first event whose stored link differs is where history was changed.
//!
//! On SQLite the append writes each event's link (`events.chain_hash`): the single writer
//! serialises positions and commits alike. On PostgreSQL, where appends commit out of position
//! order, the [`Chainer`] writes them (`event_links`) as a reader of the whole log that sees an
//! event only once every position before it is settled (ADR 0027).
//!
//! The check also holds the seals (`crate::seal`) against the chain it recomputes: a chain
//! recomputed whole after a change (which the links alone cannot tell) no longer matches them.

use chrono::{DateTime, Utc};
use futures::StreamExt;
use sqlx::Row;

use crate::{
    error::{Context, StorageError},
    integrity::{self, Hash},
    seal, EventLog, HandlerError, LogTransaction, Projection, RecordedEvent,
};

pub use crate::seal::Trust;

/// On SQLite, the last event's position and link, which the append chains its events onto
/// (nothing yet: 0 and the genesis link; an event from before the chain: its position and the
/// genesis link, where the chain starts).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ChainHead {
    position: i64,
    link: Hash,
}

impl ChainHead {
    /// The head as stored, read in the append's transaction.
    pub(crate) async fn read(conn: &mut sqlx::SqliteConnection) -> Result<Self, StorageError> {
        let last: Option<(i64, Option<Vec<u8>>)> = sqlx::query_as(
            "SELECT position, chain_hash FROM events ORDER BY position DESC LIMIT 1",
        )
        .fetch_optional(&mut *conn)
        .await
        .context("reading the head of the hash chain")?;
        let (position, link) = last.unwrap_or((0, None));
        let link = match link {
            None => integrity::GENESIS,
            Some(bytes) => bytes.try_into().map_err(|_| StorageError::Corrupt {
                position,
                reason: "its chain_hash is not 32 bytes".to_owned(),
            })?,
        };
        Ok(Self { position, link })
    }

    /// The next event's position and link (stream version `sequence`, recorded at `micros`,
    /// content hashing to `content`), which become the head.
    pub(crate) fn advance(&mut self, sequence: i64, micros: i64, content: &Hash) -> (i64, Hash) {
        let position = self.position + 1;
        let link = integrity::link(&self.link, position, sequence, micros, content);
        *self = Self { position, link };
        (position, link)
    }
}

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

    fn reads_sealed(&self) -> bool {
        true
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
    /// Seals checked against the chain.
    pub seals: u64,
    /// The last position the seals cover, once there is one.
    pub sealed_up_to: Option<i64>,
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
    /// Whether `content` was hashed from the stored texts as they are (SQLite, canonical as
    /// written), to be hashed the long way should its link not match.
    as_written: bool,
}

/// Checks the whole chain of `log` and its seals (`crate::seal`) as `trust` says:
/// `Ok(Err(break))` names the first event where the chain breaks or a seal does not hold.
///
/// The log is read in ranges of positions, several at once, each hashed on a blocking thread
/// as soon as it is read (split over the cores); only the links, cheap, are computed in order,
/// and each seal's Merkle root over them. On PostgreSQL it checks up to the chainer's last link
/// as it stands when the check starts, and counts the events after it as not linked yet.
pub async fn check(
    log: &EventLog,
    trust: &seal::Trust,
) -> Result<Result<ChainChecked, ChainBreak>, StorageError> {
    // The seals first: each covers linked events only, so none goes past the extent read next.
    let mut seals = seal::Walk::new(seal::stored(log).await?, trust);
    let (checked_up_to, not_linked_yet) = extent(log).await?;
    let mut checked = ChainChecked {
        events: 0,
        before_chain: 0,
        not_linked_yet,
        head: None,
        seals: 0,
        sealed_up_to: None,
    };
    let ranges = (1..=checked_up_to)
        .step_by(usize::try_from(PAGE).unwrap_or(10_000))
        .map(|from| (from, (from + PAGE - 1).min(checked_up_to)));
    let mut pages = futures::stream::iter(ranges)
        .map(|(from, to)| {
            let log = log.clone();
            async move {
                let page = read_range(&log, from, to).await?;
                tokio::task::spawn_blocking(move || {
                    let hashed = hash_page(&page);
                    (page, hashed)
                })
                .await
                .map_err(|_| StorageError::Unsupported("hashing a page of events panicked"))
            }
        })
        .buffered(READ_AHEAD);
    let mut previous: Option<Hash> = None;
    while let Some(read) = pages.next().await {
        let (page, hashed) = read?;
        for (raw, event) in page.iter().zip(hashed) {
            let event = match event {
                Ok(event) => event,
                Err(broken) => return Ok(Err(broken)),
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
            let link_of = |content: &Hash| {
                integrity::link(
                    &before,
                    event.position,
                    event.sequence,
                    event.recorded_at,
                    content,
                )
            };
            let mut expected = link_of(&event.content);
            if link.as_slice() != expected.as_slice() && event.as_written {
                // The texts were not in the canonical form as stored: the long way decides.
                match parsed(raw) {
                    Ok(long_way) => expected = link_of(&long_way.content),
                    Err(broken) => return Ok(Err(broken)),
                }
            }
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
            if let Err(broken) = seals.linked(event.position, &expected) {
                return Ok(Err(broken));
            }
            previous = Some(expected);
            checked.events += 1;
            checked.head = Some((event.position, expected));
        }
    }
    match seals.finish(checked_up_to) {
        Ok(sealed) => {
            checked.seals = sealed.seals;
            checked.sealed_up_to = sealed.up_to;
            Ok(Ok(checked))
        }
        Err(broken) => Ok(Err(broken)),
    }
}

/// How many ranges are read and hashed ahead of the one being linked.
const READ_AHEAD: usize = 4;

/// The last position a check covers, and how many events come after it: on SQLite the log's
/// last event and none; on PostgreSQL the chainer's last link and the events it has not
/// linked yet.
async fn extent(log: &EventLog) -> Result<(i64, u64), StorageError> {
    match log {
        EventLog::Sqlite(sqlite) => {
            let last: Option<i64> = sqlx::query_scalar("SELECT max(position) FROM events")
                .fetch_one(sqlite.readers())
                .await
                .context("reading the log's head")?;
            Ok((last.unwrap_or(0), 0))
        }
        EventLog::Postgres(pg) => {
            let (linked, after): (i64, i64) = sqlx::query_as(
                "WITH l AS (SELECT coalesce(max(position), 0) AS linked FROM event_links) \
                 SELECT l.linked, (SELECT count(*) FROM events WHERE position > l.linked) FROM l",
            )
            .fetch_one(pg.pool())
            .await
            .context("reading the chain's head")?;
            Ok((linked, u64::try_from(after).unwrap_or(0)))
        }
    }
}

async fn read_range(log: &EventLog, from: i64, to: i64) -> Result<Vec<Raw>, StorageError> {
    const COLUMNS: &str = "e.position, e.event_id, e.aggregate_type, e.aggregate_id, e.sequence, \
                           e.event_type, e.event_version";
    match log {
        EventLog::Sqlite(sqlite) => {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS}, e.payload, e.metadata, e.recorded_at, e.chain_hash AS link \
                 FROM events e WHERE e.position BETWEEN ? AND ? ORDER BY e.position"
            ))
            .bind(from)
            .bind(to)
            .fetch_all(sqlite.readers())
            .await
            .context("reading events to check the chain")?;
            rows.iter()
                .map(|row| {
                    raw(
                        row,
                        RecordedAt::Text(row.try_get("recorded_at")?),
                        row.try_get("event_id")?,
                    )
                })
                .collect::<Result<_, sqlx::Error>>()
                .context("reading an event")
        }
        EventLog::Postgres(pg) => {
            let rows = sqlx::query(&format!(
                "SELECT {COLUMNS}, e.payload::text AS payload, e.metadata::text AS metadata, \
                 e.recorded_at, l.link \
                 FROM events e LEFT JOIN event_links l ON l.position = e.position \
                 WHERE e.position BETWEEN $1 AND $2 ORDER BY e.position"
            ))
            .bind(from)
            .bind(to)
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
                    )
                })
                .collect::<Result<_, sqlx::Error>>()
                .context("reading an event")
        }
    }
}

fn raw<R: Row>(row: &R, recorded_at: RecordedAt, event_id: String) -> Result<Raw, sqlx::Error>
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
    })
}

/// Each event of `page` with its content hashed, on as many threads as there are cores.
fn hash_page(page: &[Raw]) -> Vec<Result<Stored, ChainBreak>> {
    hash_page_with(page, |raw| match &raw.recorded_at {
        RecordedAt::Text(_) => as_written(raw),
        RecordedAt::Time(_) => parsed(raw),
    })
}

fn hash_page_with(
    page: &[Raw],
    hash: fn(&Raw) -> Result<Stored, ChainBreak>,
) -> Vec<Result<Stored, ChainBreak>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let size = page.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = page
            .chunks(size)
            .map(|part| scope.spawn(move || part.iter().map(hash).collect::<Vec<_>>()))
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

/// `raw` with its content hashed from its texts as stored, which SQLite's append writes in
/// the canonical form (no parsing); checked against its link, and hashed the long way if that
/// differs.
fn as_written(raw: &Raw) -> Result<Stored, ChainBreak> {
    let RecordedAt::Text(text) = &raw.recorded_at else {
        return parsed(raw);
    };
    let recorded_at = DateTime::parse_from_rfc3339(text).map_err(|_| ChainBreak {
        position: raw.position,
        reason: "its recorded_at is not a time".to_owned(),
    })?;
    Ok(Stored {
        position: raw.position,
        sequence: raw.sequence,
        recorded_at: integrity::micros(recorded_at.to_utc()),
        content: integrity::hash_of_canonical_texts(
            &raw.event_id,
            &raw.stream_type,
            &raw.stream_id,
            &raw.event_type,
            raw.event_version,
            &raw.payload,
            &raw.metadata,
        ),
        link: raw.link.clone(),
        as_written: true,
    })
}

/// `raw` with its content parsed and hashed in the canonical form.
fn parsed(raw: &Raw) -> Result<Stored, ChainBreak> {
    let parts = parts_of(raw)?;
    Ok(Stored {
        position: raw.position,
        sequence: raw.sequence,
        recorded_at: integrity::micros(parts.3),
        content: content(raw, &parts).hash(),
        link: raw.link.clone(),
        as_written: false,
    })
}

/// An event's payload and metadata parsed, its event id and its time.
type Parts = (
    serde_json::Value,
    serde_json::Value,
    uuid::Uuid,
    DateTime<Utc>,
);

/// `raw`'s [`Parts`].
fn parts_of(raw: &Raw) -> Result<Parts, ChainBreak> {
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
    Ok((payload, metadata, event_id, recorded_at))
}

/// `raw`'s content as the chain hashes it (the object [`integrity::Content::to_json`] makes),
/// and its time in microseconds.
fn content_of(raw: &Raw) -> Result<(serde_json::Value, i64), ChainBreak> {
    let parts = parts_of(raw)?;
    Ok((content(raw, &parts).to_json(), integrity::micros(parts.3)))
}

/// The content `raw` and its `parts` make, as the chain hashes it.
fn content<'a>(raw: &'a Raw, parts: &'a Parts) -> integrity::Content<'a> {
    let (payload, metadata, event_id, _) = parts;
    integrity::Content {
        event_id: *event_id,
        stream_type: &raw.stream_type,
        stream_id: &raw.stream_id,
        event_type: &raw.event_type,
        event_version: raw.event_version,
        payload,
        metadata,
    }
}

/// An event as the chain hashes it, read from the log's own row (never through the reads that
/// open personal data), with its stored link.
#[derive(Debug, Clone)]
pub(crate) struct AsHashed {
    /// Its position.
    pub position: i64,
    /// The content's fields, as hashed.
    pub content: serde_json::Value,
    /// Its stream version.
    pub sequence: i64,
    /// Its time, in microseconds since the Unix epoch.
    pub recorded_at: i64,
    /// Its stored link, if it has one.
    pub link: Option<Vec<u8>>,
}

/// The event with id `event_id` as the chain hashes it, if there is one.
pub(crate) async fn as_hashed(
    log: &EventLog,
    event_id: uuid::Uuid,
) -> Result<Option<AsHashed>, StorageError> {
    let position: Option<i64> = match log {
        EventLog::Sqlite(sqlite) => {
            sqlx::query_scalar("SELECT position FROM events WHERE event_id = ?")
                .bind(event_id.to_string())
                .fetch_optional(sqlite.readers())
                .await
        }
        EventLog::Postgres(pg) => {
            sqlx::query_scalar("SELECT position FROM events WHERE event_id = $1")
                .bind(event_id)
                .fetch_optional(pg.pool())
                .await
        }
    }
    .context("finding an event by its id")?;
    let Some(position) = position else {
        return Ok(None);
    };
    let Some(raw) = read_range(log, position, position).await?.pop() else {
        return Ok(None);
    };
    let (content, recorded_at) = content_of(&raw).map_err(|broken| StorageError::Corrupt {
        position,
        reason: broken.reason,
    })?;
    Ok(Some(AsHashed {
        position,
        content,
        sequence: raw.sequence,
        recorded_at,
        link: raw.link,
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
