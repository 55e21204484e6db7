//! The Attention aggregate: something a workflow cannot finish by itself and a person must
//! look at (ADR 0010). A process step the domain refused, a step parked after its retries, a
//! step waiting for an entity that does not exist yet: each is an item in the log, raised with
//! its cause (the event whose step it is, the rule, the correlation id), and ended by a person
//! (retried, or dismissed with a reason) or by the step succeeding.

mod codec;
mod decide;
mod event;
mod state;

use chrono::{DateTime, Utc};
pub use codec::{decode, encode, EVENT_TYPES};
pub use event::*;
pub use state::{AttentionState, AttentionStatus};
use uuid::Uuid;

use crate::{decider::Decider, AttentionId, Code, Context, NonEmptyText};

/// The stream type of attention items in the log.
pub const AGGREGATE_TYPE: &str = "attention";

/// What needs a person.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AttentionKind {
    /// The domain refused a step of a process (a refund above what is left, say).
    RefusedStep,
    /// A step failed on every attempt and was parked; later steps of its lane wait behind it.
    ParkedStep,
    /// A step waits for an entity that does not exist yet; it goes on when the entity appears.
    WaitingStep,
}

impl AttentionKind {
    /// The kind as stored and shown (`refused_step`).
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// A command to an attention item.
/// Its name (`snake_case` of the variant) labels the command in metrics.
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum AttentionCommand {
    /// Raise the item (again, if it was closed; a retry in flight failed if it is retrying).
    Raise(Box<AttentionRaised>),
    /// A person asks for the step to be tried again.
    RequestRetry,
    /// The step, tried again at a person's request, failed or was refused again.
    RecordRetryFailed {
        /// The rule that refused it, if the domain did.
        rule: Option<Code>,
        /// What went wrong.
        detail: NonEmptyText,
    },
    /// The step went through.
    Resolve,
    /// A person decides the step is not to be done, and why.
    Dismiss {
        /// Why.
        reason: NonEmptyText,
    },
}

/// Why an attention command is refused.
#[derive(
    Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr, strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum AttentionError {
    /// Any command but raise on an item that does not exist.
    #[error("no such attention item")]
    NotRaised,
    /// A retry or dismissal of an item whose step went through.
    #[error("the item is resolved")]
    AlreadyResolved,
    /// A retry of a dismissed item.
    #[error("the item is dismissed")]
    AlreadyDismissed,
    /// A dismissal while a retry is under way.
    #[error("a retry of the item is under way")]
    RetryInProgress,
}

/// The Attention decider. Its state is `None` until raised.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attention;

impl Decider for Attention {
    type State = Option<AttentionState>;
    type Command = AttentionCommand;
    type Event = AttentionEvent;
    type Error = AttentionError;

    fn decide(
        state: &Self::State,
        command: AttentionCommand,
        ctx: &Context,
    ) -> Result<Vec<AttentionEvent>, AttentionError> {
        decide::decide(state.as_ref(), command, ctx)
    }

    fn evolve(state: &mut Self::State, event: &AttentionEvent) {
        state::evolve(state, event);
    }
}

/// The id of the item about the step that `process` takes for event `cause` (recorded at
/// `cause_at`): the same step always names the same item, so raising it again is a repeat. A
/// UUIDv7 stamped with the cause's time, its other bits a hash of the two names.
pub fn item_id(process: &str, cause: Uuid, cause_at: DateTime<Utc>) -> AttentionId {
    let name = format!("{process}:{cause}");
    let hashed = Uuid::new_v5(&Uuid::NAMESPACE_OID, name.as_bytes());
    let mut random = [0u8; 10];
    random.copy_from_slice(&hashed.as_bytes()[6..]);
    let millis = u64::try_from(cause_at.timestamp_millis()).unwrap_or(0);
    AttentionId::from_uuid(uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid())
}

impl crate::Rule for AttentionError {
    fn rule(&self) -> &'static str {
        self.into()
    }

    fn is_missing(&self) -> bool {
        matches!(self, Self::NotRaised)
    }
}
