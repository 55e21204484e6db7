//! Folding an aggregate's events into its state for a read model's row, remembering the states
//! of the streams a projection has seen: a batch then folds only its own events onto them, and
//! reads a stream's history (one query for all such streams of the batch) only for streams it
//! neither knows nor saw begin in the batch, or knows at another point of the log. Rows always
//! reflect exactly the events up to the batch's last position, whatever was remembered.

use std::{
    collections::{BTreeMap, BTreeSet},
    num::NonZeroUsize,
    sync::Mutex,
};

use chrono::{DateTime, Utc};
use domain::DecodeError;
use eventlog::{RecordedEvent, StorageError};

use crate::model::Batch;

/// The most states remembered per read model: the least recently used is forgotten (and read
/// again from the log when next needed). The map is sized for them from the start: growing it
/// moved every state while the projection held its write transaction (on SQLite, the one
/// writer), a stall of up to 170 ms for the appends behind it at each doubling
/// (docs/benchmarks.md).
const REMEMBERED: NonZeroUsize = NonZeroUsize::new(10_000).unwrap();

/// A stream's state folded up to one of its events.
#[derive(Debug, Clone)]
pub(crate) struct Fold<S> {
    /// The stream's id.
    pub id: String,
    /// The state.
    pub state: S,
    /// When the aggregate began (placed, requested, created), once folded.
    pub started_at: Option<DateTime<Utc>>,
    /// The stream version of the last event folded.
    pub version: i64,
    /// Its log position.
    pub position: i64,
    /// When it was recorded.
    pub updated_at: DateTime<Utc>,
    /// Folded from the stream's whole history in this batch, not from a remembered state: its
    /// rows may never have been written.
    pub from_history: bool,
}

/// How a read model folds one event of its aggregate: it evolves the state and notes when the
/// aggregate began.
pub(crate) type Step<S> =
    fn(&mut S, &mut Option<DateTime<Utc>>, &RecordedEvent) -> Result<(), DecodeError>;

impl<S: Default> Fold<S> {
    fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            state: S::default(),
            started_at: None,
            version: 0,
            position: 0,
            updated_at: DateTime::<Utc>::MIN_UTC,
            from_history: true,
        }
    }

    fn step(&mut self, step: Step<S>, event: &RecordedEvent) -> Result<(), FoldError> {
        step(&mut self.state, &mut self.started_at, event).map_err(|source| FoldError::Decode {
            position: event.position,
            source,
        })?;
        self.version = event.sequence;
        self.position = event.position;
        self.updated_at = event.recorded_at;
        Ok(())
    }
}

/// The remembered states of one read model's streams.
#[derive(Debug)]
pub(crate) struct Folds<S> {
    remembered: Mutex<lru::LruCache<String, Fold<S>>>,
}

impl<S> Default for Folds<S> {
    fn default() -> Self {
        Self {
            remembered: Mutex::new(lru::LruCache::new(REMEMBERED)),
        }
    }
}

/// Why folding failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FoldError {
    #[error("event at position {position} cannot be read: {source}")]
    Decode {
        position: i64,
        #[source]
        source: DecodeError,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl<S: Default + Clone> Folds<S> {
    /// The state, up to the batch's last event, of every `aggregate_type` stream the batch
    /// touched, in stream-id order.
    pub async fn of(
        &self,
        batch: &Batch<'_>,
        aggregate_type: &str,
        step: Step<S>,
    ) -> Result<Vec<Fold<S>>, FoldError> {
        let Some(last) = batch.events.last().map(|e| e.position) else {
            return Ok(Vec::new());
        };
        let mut touched: BTreeMap<&str, Vec<&RecordedEvent>> = BTreeMap::new();
        for event in batch
            .events
            .iter()
            .filter(|e| e.stream.aggregate_type == aggregate_type)
        {
            touched
                .entry(event.stream.aggregate_id.as_str())
                .or_default()
                .push(event);
        }
        let mut folds = Vec::with_capacity(touched.len());
        let mut unknown = Vec::new();
        {
            let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
            for (id, events) in &touched {
                let first = events[0].sequence;
                match remembered.get(*id) {
                    // Known up to just before the batch's first event of it, or later but not
                    // past the batch's end: fold the rest of the batch onto it.
                    Some(known) if known.version >= first - 1 && known.position <= last => {
                        let mut fold = known.clone();
                        fold.from_history = false;
                        let known_version = known.version;
                        for event in events.iter().filter(|e| e.sequence > known_version) {
                            fold.step(step, event)?;
                        }
                        folds.push(fold);
                    }
                    // Begun in this batch: a batch holds every event between its first and
                    // last position, so these are all the stream's events up to its end.
                    None if first == 1 => {
                        let mut fold = Fold::new(id);
                        for event in events {
                            fold.step(step, event)?;
                        }
                        folds.push(fold);
                    }
                    _ => unknown.push(*id),
                }
            }
        }
        if !unknown.is_empty() {
            let history = batch
                .log
                .read_streams(aggregate_type, &unknown, last)
                .await?;
            let mut current: Option<Fold<S>> = None;
            for event in &history {
                let id = event.stream.aggregate_id.as_str();
                if current.as_ref().is_none_or(|fold| fold.id != id) {
                    folds.extend(current.take());
                    current = Some(Fold::new(id));
                }
                if let Some(fold) = current.as_mut() {
                    fold.step(step, event)?;
                }
            }
            folds.extend(current);
            folds.sort_by(|a, b| a.id.cmp(&b.id));
        }
        let mut remembered = self.remembered.lock().unwrap_or_else(|e| e.into_inner());
        for fold in &folds {
            remembered.put(fold.id.clone(), fold.clone());
        }
        Ok(folds)
    }
}

/// The streams of `folds` whose child rows (lines, timelines) must be written in this batch:
/// those with an event of `event_types` in it, and those folded from their whole history (their
/// rows may never have been written). A remembered stream's other child rows were written
/// before and have not changed.
pub(crate) fn children_changed<'a, S>(
    batch: &'a Batch<'_>,
    folds: &'a [Fold<S>],
    aggregate_type: &str,
    event_types: &[&str],
) -> BTreeSet<&'a str> {
    batch
        .events
        .iter()
        .filter(|e| {
            e.stream.aggregate_type == aggregate_type
                && event_types.contains(&e.event_type.as_str())
        })
        .map(|e| e.stream.aggregate_id.as_str())
        .chain(
            folds
                .iter()
                .filter(|f| f.from_history)
                .map(|f| f.id.as_str()),
        )
        .collect()
}
