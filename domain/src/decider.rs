//! The decider shape every aggregate follows, and the `Context` that brings in what a decision
//! needs from outside (the clock, new ids) so that deciding stays pure and repeatable.

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use chrono::{DateTime, Utc};
use uuid::Uuid;

/// The name of a command (`snake_case` of its variant, through `strum::IntoStaticStr`): what
/// labels it in metrics.
pub trait CommandName {
    /// The name, e.g. `place`.
    fn command_name(&self) -> &'static str;
}

impl<C> CommandName for C
where
    for<'c> &'c C: Into<&'static str>,
{
    fn command_name(&self) -> &'static str {
        self.into()
    }
}

/// A pure, synchronous aggregate: `decide` turns a command into events, `evolve` folds them.
///
/// A command that is already applied (an idempotent repeat) decides `Ok(vec![])`: it changes
/// nothing, and the caller appends nothing.
pub trait Decider {
    /// The state folded from the stream's events; `Default` is the state before the first event.
    /// A command handler may keep it between commands (hence `Clone`, `Send`, `Sync`).
    type State: Default + Clone + Send + Sync + 'static;
    /// What a caller asks for (imperative).
    type Command: CommandName;
    /// What happened (past tense).
    type Event;
    /// Why a command is refused.
    type Error;

    /// Decides which events `command` causes in `state`, or why it is refused.
    fn decide(
        state: &Self::State,
        command: Self::Command,
        ctx: &Context,
    ) -> Result<Vec<Self::Event>, Self::Error>;

    /// Applies one event to the state. Never fails: events are facts.
    fn evolve(state: &mut Self::State, event: &Self::Event);

    /// Folds a whole history into a state.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self::State
    where
        Self::Event: 'a,
    {
        let mut state = Self::State::default();
        for event in events {
            Self::evolve(&mut state, event);
        }
        state
    }
}

/// A refusal of the domain, named by the rule it keeps: a stable code (`cancel_after_dispatch`)
/// that the API answers with and attention items record. Never derived from `Debug`.
pub trait Rule: std::error::Error + Send + Sync + 'static {
    /// The rule's code, snake case.
    fn rule(&self) -> &'static str;

    /// Whether the refusal only says the aggregate does not exist (yet): a step that needs it
    /// may wait for it, an API read answers 404.
    fn is_missing(&self) -> bool;
}

type IdFn = dyn Fn() -> Uuid + Send + Sync;

/// Where new ids come from: a supplied generator, or a deterministic counter for tests.
#[derive(Clone)]
enum IdSource {
    Generator(Arc<IdFn>),
    Sequence(Arc<AtomicU64>),
}

/// What a decision may read from the outside world: the current time and fresh ids.
#[derive(Clone)]
pub struct Context {
    now: DateTime<Utc>,
    ids: IdSource,
}

impl Context {
    /// A context at `now` whose new ids come from `new_id` (production passes `Uuid::now_v7`).
    pub fn new(now: DateTime<Utc>, new_id: impl Fn() -> Uuid + Send + Sync + 'static) -> Self {
        Self {
            now,
            ids: IdSource::Generator(Arc::new(new_id)),
        }
    }

    /// A deterministic context at `now`: ids are UUIDv7 stamped with `now` and a counter from 1.
    pub fn deterministic(now: DateTime<Utc>) -> Self {
        Self {
            now,
            ids: IdSource::Sequence(Arc::new(AtomicU64::new(1))),
        }
    }

    /// The time of the decision.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// A fresh id.
    pub fn new_id(&self) -> Uuid {
        match &self.ids {
            IdSource::Generator(generate) => generate(),
            IdSource::Sequence(next) => {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let millis = u64::try_from(self.now.timestamp_millis()).unwrap_or(0);
                let mut counter = [0u8; 10];
                counter[2..].copy_from_slice(&n.to_be_bytes());
                uuid::Builder::from_unix_timestamp_millis(millis, &counter).into_uuid()
            }
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids = match self.ids {
            IdSource::Generator(_) => "generator",
            IdSource::Sequence(_) => "sequence",
        };
        f.debug_struct("Context")
            .field("now", &self.now)
            .field("ids", &ids)
            .finish()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn a_deterministic_context_hands_out_the_same_v7_ids_every_time() {
        let now = Utc.with_ymd_and_hms(2025, 1, 2, 3, 4, 5).unwrap();
        let first = Context::deterministic(now);
        let second = Context::deterministic(now);
        let a = first.new_id();
        assert_eq!(a, second.new_id());
        assert_ne!(a, first.new_id());
        assert_eq!(a.get_version_num(), 7);
    }

    #[test]
    fn a_context_uses_the_supplied_generator() {
        let ctx = Context::new(Utc::now(), || Uuid::from_u128(42));
        assert_eq!(ctx.new_id(), Uuid::from_u128(42));
    }
}
