//! The folded states of the streams this process decided on lately, kept between commands so
//! that the next command on such a stream decides without reading it back.
//!
//! An entry is a state and the stream version it was folded at. An entry gone stale (another
//! process, or another handler, appended since) costs nothing but a retry: the append names the
//! version the state was folded at, the log refuses it, and the handler reads the stream again.
//! Bounded by a number of streams; the least recently used go first.

use std::{
    any::Any,
    num::NonZeroUsize,
    sync::{Arc, Mutex},
};

use eventlog::StreamId;
use lru::LruCache;

/// How many streams' states a handler keeps unless told otherwise.
pub const DEFAULT_CAPACITY: usize = 10_000;

/// Folded states by stream (none kept with a capacity of 0).
#[derive(Clone)]
pub(crate) struct States(Option<Arc<Mutex<LruCache<StreamId, Entry>>>>);

struct Entry {
    version: i64,
    state: Arc<dyn Any + Send + Sync>,
}

impl std::fmt::Debug for States {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kept = self.0.as_ref().map_or(0, |cache| lock(cache).len());
        f.debug_struct("States").field("kept", &kept).finish()
    }
}

impl States {
    /// A cache of at most `capacity` streams' states.
    pub(crate) fn new(capacity: usize) -> Self {
        Self(
            NonZeroUsize::new(capacity)
                .map(|capacity| Arc::new(Mutex::new(LruCache::new(capacity)))),
        )
    }

    /// The kept state of `stream` and its version, if there is one of type `S`.
    pub(crate) fn get<S: Clone + 'static>(&self, stream: &StreamId) -> Option<(S, i64)> {
        let cache = self.0.as_ref()?;
        let mut cache = lock(cache);
        let entry = cache.get(stream)?;
        let state = entry.state.downcast_ref::<S>()?.clone();
        Some((state, entry.version))
    }

    /// Keeps `state` of `stream` at `version`, unless a later version is kept already (two
    /// commands on one stream may finish in either order).
    pub(crate) fn put<S: Send + Sync + 'static>(&self, stream: &StreamId, state: S, version: i64) {
        let Some(cache) = &self.0 else { return };
        let mut cache = lock(cache);
        if cache
            .peek(stream)
            .is_some_and(|kept| kept.version > version)
        {
            return;
        }
        cache.put(
            stream.clone(),
            Entry {
                version,
                state: Arc::new(state),
            },
        );
    }

    /// Drops what is kept of `stream`: the log holds something newer.
    pub(crate) fn forget(&self, stream: &StreamId) {
        if let Some(cache) = &self.0 {
            lock(cache).pop(stream);
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
