//! The log's tail as this process's subscribers follow it: a signal after each of its appends,
//! a count of them, and reads of the tail that subscribers asking for the same batch share.
//!
//! Woken by one append, every subscriber that has kept up asks for the same events after the
//! same position. One read answers them all: a subscriber may take the answer of a read that
//! started after every append it has been signalled (it then holds them, gap-free as any read),
//! whether that read is still running or has just finished, if it started less than
//! [`SHARED_FOR`] ago: appends of other processes are signalled to no one, and a subscriber
//! polling for them must not be answered by an old read. A few recent reads of the tail are
//! kept; a full batch (a subscriber catching up, a rebuild) is not kept once read.

use std::{
    collections::VecDeque,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use tokio::sync::{Notify, OnceCell};

use crate::{error::StorageError, EventLog, RecordedEvent};

/// How many recent reads are kept for subscribers that come late.
const KEPT_READS: usize = 8;
/// How long after it started a read may answer another subscriber.
const SHARED_FOR: Duration = Duration::from_millis(20);

/// This process's appends, and the reads of the tail after them.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    /// Signalled after every append this process commits.
    pub(crate) appended: Notify,
    /// How many times it was signalled.
    signals: AtomicU64,
    reads: Mutex<VecDeque<SharedRead>>,
}

#[derive(Debug, Clone)]
struct SharedRead {
    after: i64,
    limit: i64,
    /// The signals given before it started: it holds those appends.
    signals: u64,
    started: Instant,
    /// The events as stored.
    events: Arc<OnceCell<Arc<[RecordedEvent]>>>,
    /// The same events with their personal fields opened (the same `Arc` when none has any).
    opened: Arc<OnceCell<Arc<[RecordedEvent]>>>,
}

impl Tail {
    /// Tells the subscribers that an append committed.
    pub(crate) fn signal(&self) {
        self.signals.fetch_add(1, Ordering::SeqCst);
        self.appended.notify_waiters();
    }

    /// The read of `limit` events after `after` to share: a running or recent one that holds
    /// every append signalled so far, or a new one.
    fn read(&self, after: i64, limit: i64) -> SharedRead {
        let signals = self.signals.load(Ordering::SeqCst);
        let mut reads = self
            .reads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(read) = reads.iter().rev().find(|r| {
            (r.after, r.limit) == (after, limit)
                && r.signals >= signals
                && r.started.elapsed() < SHARED_FOR
        }) {
            return read.clone();
        }
        let read = SharedRead {
            after,
            limit,
            signals,
            started: Instant::now(),
            events: Arc::default(),
            opened: Arc::default(),
        };
        if reads.len() == KEPT_READS {
            reads.pop_front();
        }
        reads.push_back(read.clone());
        read
    }

    /// Stops keeping `read`.
    fn forget(&self, read: &SharedRead) {
        let mut reads = self
            .reads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        reads.retain(|kept| !Arc::ptr_eq(&kept.events, &read.events));
    }
}

impl EventLog {
    /// [`EventLog::read_all`], shared with this process's other subscribers asking for the same
    /// events at the same time (see the module's documentation); `sealed`: as stored, their
    /// personal fields not opened.
    pub(crate) async fn read_tail(
        &self,
        after: i64,
        limit: i64,
        sealed: bool,
    ) -> Result<Arc<[RecordedEvent]>, StorageError> {
        let read = self.tail().read(after, limit);
        let stored = read
            .events
            .get_or_try_init(|| async {
                let events = match self {
                    Self::Postgres(log) => log.read_tail(after, limit).await,
                    Self::Sqlite(log) => log.read_all(after, limit).await,
                }?;
                Ok::<_, StorageError>(Arc::<[RecordedEvent]>::from(events))
            })
            .await?
            .clone();
        let events = if sealed {
            stored
        } else {
            read.opened
                .get_or_try_init(|| async {
                    if !stored.iter().any(crate::privacy::is_sealed) {
                        return Ok::<_, StorageError>(stored.clone());
                    }
                    let mut events = stored.to_vec();
                    self.open_personal(&mut events).await?;
                    Ok(Arc::<[RecordedEvent]>::from(events))
                })
                .await?
                .clone()
        };
        if i64::try_from(events.len()).unwrap_or(i64::MAX) >= limit {
            self.tail().forget(&read);
        }
        Ok(events)
    }
}
