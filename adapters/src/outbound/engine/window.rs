//! A destination's rate limit, as the partner counts it: at most `limit` calls in any window of
//! `per`. Calls to one destination go out one at a time, and the partner sees each one arrive
//! between its start and its answer; so a call starts only once `per` has passed since the
//! call `limit` calls before it was answered, and any `limit + 1` arrivals span at least `per`.
//! (A limiter that spaces the starts, as `governor` does, can let two arrivals come closer
//! than their starts were when an earlier request was slow on the way: ADR 0011.)

use std::{collections::VecDeque, time::Duration};

use tokio::time::Instant;

/// The ends of the last calls, and the limit they are held to.
#[derive(Debug)]
pub struct Window {
    limit: usize,
    per: Duration,
    ended: VecDeque<Instant>,
}

impl Window {
    /// At most `limit` calls (at least one) per `per`.
    pub fn new(limit: u32, per: Duration) -> Self {
        let limit = usize::try_from(limit.max(1)).unwrap_or(usize::MAX);
        Self {
            limit,
            per,
            ended: VecDeque::with_capacity(limit.min(1024)),
        }
    }

    /// How long the next call must wait at `now`.
    pub fn wait(&self, now: Instant) -> Duration {
        match self.ended.front() {
            Some(oldest) if self.ended.len() >= self.limit => {
                (*oldest + self.per).saturating_duration_since(now)
            }
            _ => Duration::ZERO,
        }
    }

    /// A call was answered (or failed) at `at`.
    pub fn ended(&mut self, at: Instant) {
        self.ended.push_back(at);
        while self.ended.len() > self.limit {
            self.ended.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_waits_for_a_second_after_the_end_of_the_call_limit_calls_before() {
        let start = Instant::now();
        let ms = |n: u64| start + Duration::from_millis(n);
        let mut window = Window::new(3, Duration::from_secs(1));
        for end in [10, 20, 30] {
            assert_eq!(window.wait(ms(end - 5)), Duration::ZERO);
            window.ended(ms(end));
        }
        // The fourth call: a second after the first one ended.
        assert_eq!(window.wait(ms(30)), Duration::from_millis(980));
        assert_eq!(window.wait(ms(1_010)), Duration::ZERO);
        window.ended(ms(1_020));
        // Now the oldest of the last three ended at 20 ms: the fifth call may go at 1 020 ms.
        assert_eq!(window.wait(ms(1_020)), Duration::ZERO);
        window.ended(ms(1_025));
        // The sixth waits for a second after the call that ended at 30 ms.
        assert_eq!(window.wait(ms(1_025)), Duration::from_millis(5));
    }

    #[test]
    fn a_limit_of_zero_is_one() {
        let start = Instant::now();
        let mut window = Window::new(0, Duration::from_secs(1));
        assert_eq!(window.wait(start), Duration::ZERO);
        window.ended(start);
        assert_eq!(window.wait(start), Duration::from_secs(1));
    }
}
