//! The sealer: every so many linked events or seconds, whichever comes first, it seals what is
//! linked and not sealed yet (`crate::seal`), and publishes each seal twice outside the table:
//! an `AuditSealed` event in the log (stream `audit-seal/<number>`, appended in the seal's own
//! transaction) and one JSON line in the seals file.
//!
//! One process seals at a time, under the claim `audit-seal` (the subscribers' claim: an
//! advisory lock on PostgreSQL, a lock file on SQLite), and moves when that process dies. A
//! seal covers at most `every_events` events, so that an inclusion proof reads at most that
//! many links, and ends on an event; on PostgreSQL its range may also hold positions no event
//! has (drawn by appends that rolled back), which are no leaves. A seal is made only when
//! something other than seals waits: otherwise each seal's own `AuditSealed` event would call
//! for another. A seal written to the table but not to the file (a crash between the two, a
//! full disk) is written to the file on the next claim.

use std::{
    io::{Read as _, Seek as _, SeekFrom, Write as _},
    path::{Path, PathBuf},
    time::Duration,
};

use ed25519_dalek::{SigningKey, VerifyingKey};

use crate::{
    error::{Context, StorageError},
    integrity, on_readers,
    seal::{self, Covered, Seal},
    subscription::Standby,
    Append, AppendError, EventLog, ExpectedVersion, Metadata, NewEvent, StreamId,
};

/// The sealer's name: its claim, and the actor and source of its events.
pub const SEALER: &str = "audit-seal";

/// The stream type of the `AuditSealed` events (one stream per seal, named by its number).
pub const STREAM: &str = "audit-seal";

/// The type of the event that publishes a seal in the log; its payload is the seal's published
/// form.
pub const SEALED: &str = "AuditSealed";

/// Why a seal could not be made or published.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The seal's `AuditSealed` event was refused (another process made the same seal).
    #[error("appending the seal's event")]
    Append(#[from] AppendError),
    /// The seals file could not be written.
    #[error("writing the seals file {path}")]
    Publish {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Makes seals with one key, as often as configured.
#[derive(Debug, Clone)]
pub struct Sealer {
    key: SigningKey,
    /// Seal once this many linked events wait; a seal covers at most this many events.
    pub every_events: i64,
    /// Seal what waits once this long has passed since the previous seal.
    pub every: Duration,
    /// The file each seal is published to as one JSON line; none: no file.
    pub file: Option<PathBuf>,
    /// How often the running sealer looks for linked events.
    pub poll: Duration,
}

impl Sealer {
    /// A sealer signing with `key`: every 1 000 events or 60 seconds, no file.
    pub fn new(key: SigningKey) -> Self {
        Self {
            key,
            every_events: 1_000,
            every: Duration::from_secs(60),
            file: None,
            poll: Duration::from_millis(500),
        }
    }

    /// The public key its seals are verified with.
    pub fn public_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Makes the seal due now, if one is: `every_events` linked events wait, or some wait and
    /// `every` has passed since the previous seal (at once, for the first).
    pub async fn seal_due(&self, log: &EventLog) -> Result<Option<Seal>, SealError> {
        let previous = seal::last(log).await?;
        let Some((from, head)) = waiting(log, previous.as_ref()).await? else {
            return Ok(None);
        };
        let last = match nth_linked(log, from, self.every_events.max(1)).await? {
            Some(last) => last,
            None => {
                let every = i64::try_from(self.every.as_micros()).unwrap_or(i64::MAX);
                let now = chrono::Utc::now().timestamp_micros();
                if previous.as_ref().is_some_and(|p| now - p.sealed_at < every) {
                    return Ok(None);
                }
                head
            }
        };
        if !anything_but_seals(log, from, last).await? {
            return Ok(None);
        }
        self.seal(log, previous.as_ref(), from, last)
            .await
            .map(Some)
    }

    /// Seals everything linked now that waits (but seals alone), due or not, in seals of at
    /// most `every_events`; publishes each to the file. Answers the seals made.
    pub async fn seal_all(&self, log: &EventLog) -> Result<Vec<Seal>, SealError> {
        let mut made = Vec::new();
        loop {
            let previous = seal::last(log).await?;
            let Some((from, head)) = waiting(log, previous.as_ref()).await? else {
                return Ok(made);
            };
            let last = nth_linked(log, from, self.every_events.max(1))
                .await?
                .unwrap_or(head);
            if !anything_but_seals(log, from, head).await? {
                return Ok(made);
            }
            let seal = self.seal(log, previous.as_ref(), from, last).await?;
            self.publish(std::slice::from_ref(&seal)).await?;
            made.push(seal);
        }
    }

    /// Seals `from..=last` (`last` a linked event's position) after `previous`: signs, appends
    /// its `AuditSealed` event and stores it, in one transaction.
    async fn seal(
        &self,
        log: &EventLog,
        previous: Option<&Seal>,
        from: i64,
        last: i64,
    ) -> Result<Seal, SealError> {
        let leaves = seal::links(log, from, last).await?;
        let head = match (leaves.positions.last(), leaves.links.last()) {
            (Some(&position), Some(&head)) if position == last => head,
            _ => {
                return Err(StorageError::Corrupt {
                    position: last,
                    reason: "the seal's last event has no link".to_owned(),
                }
                .into())
            }
        };
        let covered = Covered {
            number: previous.map_or(1, |p| p.number + 1),
            first: from,
            last,
            leaves: i64::try_from(leaves.links.len()).unwrap_or(i64::MAX),
            head,
            root: integrity::merkle_root(&leaves.links),
            sealed_at: chrono::Utc::now().timestamp_micros(),
        };
        let seal = Seal::sign(covered, previous.map(|p| p.signature), &self.key);
        let actor = format!("process:{SEALER}");
        let event = NewEvent::new(SEALED, 1, seal.to_json()).with_metadata(Metadata {
            actor: Some(actor.clone()),
            source: Some(actor),
            ..Metadata::default()
        });
        let append = Append::new(
            StreamId::new(STREAM, seal.number.to_string()),
            ExpectedVersion::NoStream,
            vec![event],
        );
        let mut tx = log.begin().await?;
        // On PostgreSQL the append must be the transaction's first write (ADR 0001).
        if let Err(error) = log.append_in(&mut tx, append).await {
            tx.rollback().await?;
            return Err(error.into());
        }
        seal::insert(&mut tx, &seal).await?;
        tx.commit().await?;
        log.wake_subscribers();
        tracing::info!(
            seal = seal.number,
            first = seal.first,
            last = seal.last,
            "chain sealed"
        );
        Ok(seal)
    }

    /// Appends `seals` to the file, one line each, and waits until they are on disk.
    async fn publish(&self, seals: &[Seal]) -> Result<(), SealError> {
        let Some(path) = self.file.clone() else {
            return Ok(());
        };
        let mut text = String::new();
        for seal in seals {
            text.push_str(&seal.to_json().to_string());
            text.push('\n');
        }
        let written = path.clone();
        tokio::task::spawn_blocking(move || append_to(&written, text.as_bytes()))
            .await
            .map_err(std::io::Error::other)
            .and_then(|written| written)
            .map_err(|source| SealError::Publish { path, source })
    }

    /// Writes to the file the stored seals it lacks (after the last seal it holds); answers
    /// how many.
    pub async fn publish_missing(&self, log: &EventLog) -> Result<usize, SealError> {
        let Some(path) = self.file.clone() else {
            return Ok(0);
        };
        let read = path.clone();
        let in_file = tokio::task::spawn_blocking(move || last_published(&read))
            .await
            .map_err(std::io::Error::other)
            .and_then(|read| read)
            .map_err(|source| SealError::Publish {
                path: path.clone(),
                source,
            })?;
        let missing = seal::stored_after(log, in_file).await?;
        if missing.is_empty() && in_file > seal::last(log).await?.map_or(0, |s| s.number) {
            tracing::error!(file = %path.display(), seal = in_file,
                "the seals file holds seals the database does not: seals were removed, or the \
                 database was restored from a copy; `backoffice audit verify` names them");
        }
        self.publish(&missing).await?;
        Ok(missing.len())
    }

    /// Seals for as long as the returned future is polled: claims `audit-seal` (waiting while
    /// another process holds it), writes to the file the seals it lacks, then makes each seal
    /// when due. A database failure or a lost claim claims again after a pause.
    pub async fn run(&self, log: &EventLog) {
        let mut standby = Standby::default();
        loop {
            let mut claim = match log.try_claim_from(SEALER, &mut standby).await {
                Ok(Some(claim)) => claim,
                Ok(None) => {
                    tokio::time::sleep(self.poll).await;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(error = %error, "the sealer cannot claim; retrying");
                    tokio::time::sleep(RETRY_AFTER).await;
                    continue;
                }
            };
            tracing::info!("sealer claimed");
            let error = self.run_claimed(log, &mut claim).await;
            tracing::warn!(error = %error, cause = ?std::error::Error::source(&error),
                "the sealer stopped; claiming again");
            claim.release().await;
            tokio::time::sleep(RETRY_AFTER).await;
        }
    }

    async fn run_claimed(&self, log: &EventLog, claim: &mut crate::Claim) -> SealError {
        let mut published = false;
        let mut checked = tokio::time::Instant::now();
        loop {
            if checked.elapsed() >= CLAIM_CHECK_EVERY {
                if !claim.holds().await {
                    return SealError::Storage(StorageError::Unavailable("the claim was lost"));
                }
                checked = tokio::time::Instant::now();
            }
            // A failed write to the file does not hold sealing back: the table and the log have
            // the seal, and the file catches up once it can be written.
            if !published {
                match self.publish_missing(log).await {
                    Ok(_) => published = true,
                    Err(SealError::Publish { path, source }) => {
                        tracing::error!(file = %path.display(), error = %source,
                            "the seals file cannot be written; trying again");
                    }
                    Err(error) => return error,
                }
            }
            match self.seal_due(log).await {
                Ok(Some(seal)) if published => {
                    if let Err(error) = self.publish(std::slice::from_ref(&seal)).await {
                        tracing::error!(error = %error, "a seal was not written to the file");
                        published = false;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => tokio::time::sleep(self.poll).await,
                Err(SealError::Append(AppendError::WrongExpectedVersion { .. })) => {
                    // Another process sealed first (its claim lapsed onto ours): read again.
                    tokio::time::sleep(self.poll).await;
                }
                Err(error) => return error,
            }
        }
    }
}

/// The pause before the sealer claims again after a failure.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// How often the running sealer asks whether its claim still holds.
const CLAIM_CHECK_EVERY: Duration = Duration::from_secs(1);

/// The first and last linked positions after `previous` (from the chain's start when there is
/// no seal yet), if any are linked.
async fn waiting(
    log: &EventLog,
    previous: Option<&Seal>,
) -> Result<Option<(i64, i64)>, StorageError> {
    let (start, head) = match log {
        // Events from before the chain (migration 0032) have no link; the rest all have one.
        EventLog::Sqlite(_) => (
            "SELECT position FROM events WHERE chain_hash IS NOT NULL ORDER BY position LIMIT 1",
            "SELECT coalesce(max(position), 0) FROM events",
        ),
        EventLog::Postgres(_) => (
            "SELECT min(position) FROM event_links",
            "SELECT coalesce(max(position), 0) FROM event_links",
        ),
    };
    let from = match previous {
        Some(previous) => previous.last + 1,
        None => {
            let start: Option<Option<i64>> = on_readers!(log, |pool, _time| {
                sqlx::query_scalar(start).fetch_optional(pool).await
            })
            .context("reading where the chain starts")?;
            match start.flatten() {
                Some(start) => start,
                None => return Ok(None),
            }
        }
    };
    let head: i64 = on_readers!(log, |pool, _time| sqlx::query_scalar(head)
        .fetch_one(pool)
        .await)
    .context("reading the chain's head")?;
    Ok((head >= from).then_some((from, head)))
}

/// The position of the `n`th linked event (from 1) at or after `from`, if that many are linked.
async fn nth_linked(log: &EventLog, from: i64, n: i64) -> Result<Option<i64>, StorageError> {
    let sql = match log {
        // Every event after the chain's start has its link.
        EventLog::Sqlite(_) => {
            "SELECT position FROM events WHERE position >= $1 ORDER BY position LIMIT 1 OFFSET $2"
        }
        EventLog::Postgres(_) => {
            "SELECT position FROM event_links WHERE position >= $1 ORDER BY position \
             LIMIT 1 OFFSET $2"
        }
    };
    on_readers!(log, |pool, _time| sqlx::query_scalar(sql)
        .bind(from)
        .bind(n - 1)
        .fetch_optional(pool)
        .await)
    .context("counting the linked events waiting")
}

/// Whether positions `from..=to` hold an event other than an `AuditSealed`.
async fn anything_but_seals(log: &EventLog, from: i64, to: i64) -> Result<bool, StorageError> {
    let sql = "SELECT count(*) FROM (SELECT 1 FROM events WHERE position BETWEEN $1 AND $2 \
               AND aggregate_type <> $3 LIMIT 1) AS other";
    let found: i64 = on_readers!(log, |pool, _time| sqlx::query_scalar(sql)
        .bind(from)
        .bind(to)
        .bind(STREAM)
        .fetch_one(pool)
        .await)
    .context("looking for events to seal")?;
    Ok(found > 0)
}

/// Appends `bytes` to the file at `path` (made, with its folder, if missing) and syncs it.
fn append_to(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_data()
}

/// The number of the last seal in the file at `path` (0: no file, or no seal in it). A last
/// line cut short (a crash while writing it) is ended, so that the next line starts clean.
fn last_published(path: &Path) -> std::io::Result<i64> {
    let mut file = match std::fs::OpenOptions::new()
        .read(true)
        .append(true)
        .open(path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(error) => return Err(error),
    };
    let length = file.metadata()?.len();
    // A seal's line is about 500 bytes: the last few lines are in the last 64 KiB.
    file.seek(SeekFrom::Start(length.saturating_sub(64 * 1024)))?;
    let mut tail = String::new();
    file.read_to_string(&mut tail)?;
    if !tail.is_empty() && !tail.ends_with('\n') {
        file.write_all(b"\n")?;
        file.sync_data()?;
    }
    Ok(tail
        .lines()
        .rev()
        .find_map(|line| {
            let value = serde_json::from_str(line).ok()?;
            Seal::from_json(&value).ok()
        })
        .map_or(0, |seal| seal.number))
}

/// The seals in the text of a seals file, in its order, and the lines that are not one (a line
/// cut short by a crash while writing it, or anything else), by number from 1.
pub fn read_published(text: &str) -> (Vec<Seal>, Vec<usize>) {
    let mut seals = Vec::new();
    let mut unreadable = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(line)
            .map_err(|e| e.to_string())
            .and_then(|value| Seal::from_json(&value))
        {
            Ok(seal) => seals.push(seal),
            Err(_) => unreadable.push(index + 1),
        }
    }
    (seals, unreadable)
}
