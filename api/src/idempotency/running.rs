//! The idempotency keys this process runs a request for: a key in flight that names this
//! process but runs here no more is released at once instead of answering 409 (ADR 0020).

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

/// The keys this process is running a request for, by caller and key: how many requests with
/// the key are under way here, and when one was last cut off (its future dropped, as by the
/// request time-out): such a key counts as running a little longer, since an append it queued
/// may still land.
#[derive(Debug, Default)]
pub struct RunningKeys(std::sync::Mutex<HashMap<(String, String), KeyUse>>);

#[derive(Debug, Default)]
struct KeyUse {
    requests: usize,
    cut_off: Option<Instant>,
}

/// How long a cut-off request's key still counts as running.
const CUT_OFF_GRACE: Duration = Duration::from_secs(5);

impl RunningKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), KeyUse>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts a request with this key as under way until the returned guard ends; taken before
    /// the key is claimed, so that no other request sees the claim without its runner.
    pub(super) fn start<'a>(&'a self, actor: &str, key: &str) -> Running<'a> {
        let id = (actor.to_owned(), key.to_owned());
        self.lock().entry(id.clone()).or_default().requests += 1;
        Running {
            keys: self,
            id: Some(id),
            claimed: false,
        }
    }

    /// Whether a request with this key other than the caller's (which holds a guard) runs
    /// here, or was cut off moments ago.
    pub(super) fn others_run(&self, actor: &str, key: &str) -> bool {
        self.lock()
            .get(&(actor.to_owned(), key.to_owned()))
            .is_some_and(|used| {
                used.requests > 1 || used.cut_off.is_some_and(|at| at.elapsed() < CUT_OFF_GRACE)
            })
    }

    fn end(&self, id: &(String, String), cut_off: bool) {
        let mut keys = self.lock();
        let Some(used) = keys.get_mut(id) else { return };
        used.requests = used.requests.saturating_sub(1);
        if cut_off {
            used.cut_off = Some(Instant::now());
        }
        let recently_cut = used.cut_off.is_some_and(|at| at.elapsed() < CUT_OFF_GRACE);
        if used.requests == 0 && !recently_cut {
            keys.remove(id);
        }
    }
}

/// A request under way with its key; dropped unfinished after it claimed the key (its
/// future cut off), it marks the key cut off.
pub(super) struct Running<'a> {
    keys: &'a RunningKeys,
    id: Option<(String, String)>,
    /// Set once the request has claimed its key.
    pub(super) claimed: bool,
}

impl Running<'_> {
    pub(super) fn finished(mut self) {
        if let Some(id) = self.id.take() {
            self.keys.end(&id, false);
        }
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.keys.end(&id, self.claimed);
        }
    }
}
