//! A destination's circuit breaker: closed while the partner answers; open after
//! `failures` failures in a row (no call is made while it is open); after `open_for`, half
//! open: one call goes through as a probe, and closes it again or opens it for another
//! `open_for`. A partner that answers at all, even with a refusal, is up: only failures of the
//! partner or of the way to it (5xx, timeouts, refused connections) count.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Where a circuit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// No call goes through until its time is up.
    Open,
    /// The next call is a probe.
    HalfOpen,
}

impl CircuitState {
    /// The state as stored and shown.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// Whether a call may go out now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Yes.
    Go,
    /// Yes, as the probe of a half-open circuit.
    Probe,
    /// No: the circuit is open until then.
    Wait(DateTime<Utc>),
}

/// A circuit breaker.
#[derive(Debug, Clone)]
pub struct Circuit {
    failures_to_open: u32,
    open_for: Duration,
    state: CircuitState,
    consecutive_failures: u32,
    open_until: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl Circuit {
    /// A closed circuit that opens after `failures_to_open` failures in a row (at least one),
    /// for `open_for` each time.
    pub fn new(failures_to_open: u32, open_for: Duration) -> Self {
        Self {
            failures_to_open: failures_to_open.max(1),
            open_for,
            state: CircuitState::Closed,
            consecutive_failures: 0,
            open_until: None,
            last_error: None,
        }
    }

    /// Whether a call may go out at `now`; an open circuit whose time is up turns half open.
    pub fn admit(&mut self, now: DateTime<Utc>) -> Admission {
        match (self.state, self.open_until) {
            (CircuitState::Closed, _) => Admission::Go,
            (CircuitState::Open, Some(until)) if now < until => Admission::Wait(until),
            (CircuitState::Open | CircuitState::HalfOpen, _) => {
                self.state = CircuitState::HalfOpen;
                Admission::Probe
            }
        }
    }

    /// The partner answered: the circuit closes. Answers whether its state changed.
    pub fn succeeded(&mut self) -> bool {
        let changed = self.state != CircuitState::Closed || self.consecutive_failures > 0;
        self.state = CircuitState::Closed;
        self.consecutive_failures = 0;
        self.open_until = None;
        changed
    }

    /// A call failed at `now`: answers until when the circuit is open if this opened it (a
    /// failed probe opens it again at once).
    pub fn failed(&mut self, now: DateTime<Utc>, error: &str) -> Option<DateTime<Utc>> {
        self.consecutive_failures = self.consecutive_failures.saturating_add(1);
        self.last_error = Some(error.to_owned());
        let opens = self.state == CircuitState::HalfOpen
            || self.consecutive_failures >= self.failures_to_open;
        if !opens {
            return None;
        }
        let until =
            now + chrono::Duration::from_std(self.open_for).unwrap_or(chrono::Duration::MAX);
        self.state = CircuitState::Open;
        self.open_until = Some(until);
        Some(until)
    }

    /// Its state.
    pub fn state(&self) -> CircuitState {
        self.state
    }

    /// Failures in a row so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Until when it is open.
    pub fn open_until(&self) -> Option<DateTime<Utc>> {
        self.open_until
    }

    /// The last failure's error.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + seconds, 0).unwrap_or_default()
    }

    #[test]
    fn it_opens_after_failures_in_a_row_and_a_success_between_resets_the_count() {
        let mut circuit = Circuit::new(3, Duration::from_secs(30));
        assert_eq!(circuit.failed(at(0), "503"), None);
        assert_eq!(circuit.failed(at(1), "503"), None);
        assert!(circuit.succeeded());
        assert_eq!(circuit.failed(at(2), "503"), None);
        assert_eq!(circuit.failed(at(3), "503"), None);
        assert_eq!(circuit.admit(at(3)), Admission::Go);
        assert_eq!(circuit.failed(at(4), "503"), Some(at(34)));
        assert_eq!(circuit.state(), CircuitState::Open);
        assert_eq!(circuit.last_error(), Some("503"));
    }

    #[test]
    fn an_open_circuit_admits_one_probe_when_its_time_is_up() {
        let mut circuit = Circuit::new(1, Duration::from_secs(30));
        assert_eq!(circuit.failed(at(0), "timeout"), Some(at(30)));
        assert_eq!(circuit.admit(at(29)), Admission::Wait(at(30)));
        assert_eq!(circuit.admit(at(30)), Admission::Probe);
        assert_eq!(circuit.state(), CircuitState::HalfOpen);
        // A failed probe opens it again at once, whatever the count.
        assert_eq!(circuit.failed(at(31), "timeout"), Some(at(61)));
        assert_eq!(circuit.admit(at(40)), Admission::Wait(at(61)));
        assert_eq!(circuit.admit(at(61)), Admission::Probe);
        assert!(circuit.succeeded());
        assert_eq!(circuit.state(), CircuitState::Closed);
        assert_eq!(circuit.admit(at(62)), Admission::Go);
        assert!(
            !circuit.succeeded(),
            "closed with no failures: nothing changed"
        );
    }
}
