//! Subscribers of the log: one mechanism for process managers, projections and outbound
//! integrations. A named subscriber reads the whole log gap-free in batches from its
//! checkpoint, is woken by new appends (with a polling fallback for other processes' appends),
//! and holds a claim so that one process at a time runs it. A batch is delivered one of two
//! ways:
//!
//! - a [`Subscriber`] (effects idempotent, checkpoint after) takes one step per event, in lanes:
//!   a step that fails is set aside and retried with backoff, parked after its attempts, or
//!   waits for an entity that does not exist yet, and only the later events of its lane wait
//!   behind it; everything else goes on (ADR 0010);
//! - a [`Projection`] applies the batch in the checkpoint's own transaction (its rows and its
//!   checkpoint commit together), and stops at an event it cannot apply.

mod checkpoint;
mod claim;
mod delivery;
mod runner;
mod steps;
mod tail;

use std::{future::Future, time::Duration};

use chrono::{DateTime, Utc};

pub use checkpoint::SubscriberStatus;
pub use claim::Claim;
pub(crate) use claim::Standby;
pub use steps::{SetAsideStep, StepState};
pub(crate) use tail::Tail;

use crate::{error::StorageError, LogTransaction, RecordedEvent};

/// What a subscriber's hooks and a projection may fail with; the batch is tried again after a
/// pause.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Why a subscriber could not take its step for one event.
#[derive(Debug)]
pub enum StepError {
    /// It failed (a dependency, a bug): tried again after a backoff, parked after
    /// [`SubscriptionOptions::max_attempts`] attempts.
    Failed(HandlerError),
    /// What it needs does not exist yet (a payment's order): tried again until it does.
    Waiting(String),
    /// The domain refused it (or some of its commands, the others went through): trying again
    /// changes nothing until a person changes something.
    Refused(Vec<Refusal>),
    /// What the step needs cannot take anything now, for any event (a partner's circuit is
    /// open, it asked us to wait): the subscriber pauses until `until` and then starts again
    /// at this event. Nothing is set aside and no attempt is counted.
    Unavailable {
        /// When to try again.
        until: DateTime<Utc>,
        /// Why, for the log.
        why: String,
    },
}

impl StepError {
    /// A failure, from any error.
    pub fn failed(error: impl Into<HandlerError>) -> Self {
        Self::Failed(error.into())
    }
}

/// A step the domain refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule, as the domain names it (`refund_exceeds_captured`).
    pub rule: String,
    /// What the domain said.
    pub detail: String,
    /// The stream the step was for (`payment/0190…`).
    pub target: String,
}

/// Why a step was set aside, for the subscriber to tell a person (an attention item).
#[derive(Debug, Clone, Copy)]
pub enum SetAside<'a> {
    /// The domain refused the step (on its first run, or on a retry a person asked for).
    Refused(&'a [Refusal]),
    /// The step waits for an entity that does not exist yet.
    Waiting(&'a str),
    /// The step failed on each of `attempts` attempts (or on the one a person asked for).
    Parked {
        /// Attempts made.
        attempts: i32,
        /// The last error.
        error: &'a str,
    },
}

/// A named reader of the whole log that takes one idempotent step per event (process
/// managers, outbound integrations): the checkpoint moves after the batch, and a crash in
/// between hands the batch over again.
pub trait Subscriber: Send + Sync {
    /// The name its checkpoint and claim go by.
    fn name(&self) -> &str;

    /// The lane of `event`: steps of one lane are taken in log order, and one set aside holds
    /// back the later steps of its lane only. `None`: the subscriber takes no step for it.
    fn lane(&self, event: &RecordedEvent) -> Option<String>;

    /// Takes the step for `event`.
    fn handle(&self, event: &RecordedEvent) -> impl Future<Output = Result<(), StepError>> + Send;

    /// `event`'s step was set aside (or refused): tell a person. Called again when it stays so
    /// after another attempt; must be idempotent.
    fn set_aside(
        &self,
        event: &RecordedEvent,
        why: SetAside<'_>,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;

    /// `event`'s step, once shown to a person, went through: the matter is closed.
    fn went_through(
        &self,
        event: &RecordedEvent,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// A named reader of the whole log that writes its effects in the transaction that moves its
/// checkpoint (projections): each event takes effect exactly once.
pub trait Projection: Send + Sync {
    /// The name its checkpoint and claim go by.
    fn name(&self) -> &str;

    /// Whether `event` may change anything it writes. A batch of events none of which concern
    /// it is passed over without a transaction; its checkpoint moves later (see
    /// [`SubscriptionOptions::checkpoint_every`]).
    fn concerns(&self, _event: &RecordedEvent) -> bool {
        true
    }

    /// Whether it reads events as stored, their personal fields still sealed (the chainer,
    /// which hashes what is stored), instead of opened as every other reader sees them.
    fn reads_sealed(&self) -> bool {
        false
    }

    /// Applies a batch of events in position order within `tx`.
    fn apply(
        &self,
        tx: &mut LogTransaction,
        events: &[RecordedEvent],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// How a subscriber reads, waits and retries.
#[derive(Debug, Clone)]
pub struct SubscriptionOptions {
    /// Events per batch.
    pub batch_size: i64,
    /// The longest wait for new events when no wake-up comes (appends of other processes).
    pub poll_interval: Duration,
    /// The pause before a failed batch is tried again.
    pub retry_after: Duration,
    /// Attempts at a failing step before it is parked.
    pub max_attempts: i32,
    /// The pause before a failed step's second attempt; it doubles per attempt (with jitter).
    pub backoff_base: Duration,
    /// The longest pause between attempts at a step.
    pub backoff_max: Duration,
    /// The longest a checkpoint waits to be saved while the batches passed over concern the
    /// subscriber not at all (a process manager that takes no step for them, a read model
    /// that follows another aggregate); an idle runner saves it after
    /// [`SubscriptionOptions::idle_checkpoint_after`] without new events.
    pub checkpoint_every: Duration,
    /// How long an idle runner waits for new events before it saves such a checkpoint.
    pub idle_checkpoint_after: Duration,
    /// How often a runner asks whether its claim still holds (on PostgreSQL, a round trip on
    /// the claim's connection). A claim lost unnoticed for that long means steps taken twice,
    /// which they bear (they are idempotent), and never a projection's batch twice (its
    /// checkpoint is locked in the batch's transaction).
    pub claim_check_every: Duration,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_interval: Duration::from_millis(500),
            retry_after: Duration::from_secs(1),
            max_attempts: 8,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            checkpoint_every: Duration::from_secs(1),
            idle_checkpoint_after: Duration::from_millis(100),
            claim_check_every: Duration::from_secs(1),
        }
    }
}

/// Why a subscriber stopped.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// Another process (or task) runs this subscriber now.
    #[error("subscriber {0} is claimed elsewhere")]
    Claimed(String),
    /// This process's claim was lost while it ran (its connection is gone).
    #[error("subscriber {0} lost its claim")]
    ClaimLost(String),
    /// The handler failed on a batch.
    #[error("subscriber {name} failed at position {position}")]
    Handler {
        /// The subscriber.
        name: String,
        /// The first position of the failed batch.
        position: i64,
        /// The handler's error.
        #[source]
        source: HandlerError,
    },
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// An error and its causes on one line (`outer: cause: root cause`), for a status or a
/// stored error a person reads.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}
