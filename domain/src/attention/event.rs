//! What happened to an attention item. Each payload struct is the stored JSON of its event type.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AttentionKind;
use crate::{AttentionId, Code, NonEmptyText, OrderId};

/// An event of the attention stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttentionEvent {
    /// Raised (or raised again after it was closed).
    AttentionRaised(AttentionRaised),
    /// A person asked for a retry.
    AttentionRetryRequested(AttentionRetryRequested),
    /// The retry failed or was refused again; the item is open again.
    AttentionRetryFailed(AttentionRetryFailed),
    /// The step went through.
    AttentionResolved(AttentionResolved),
    /// A person decided the step is not to be done.
    AttentionDismissed(AttentionDismissed),
}

/// The event whose step needs attention.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cause {
    /// Its id.
    pub event_id: Uuid,
    /// Its position in the log.
    pub position: i64,
    /// Its stream type (`order`).
    pub stream_type: String,
    /// Its stream id.
    pub stream_id: String,
    /// Its type (`OrderCancelled`).
    pub event_type: String,
}

/// An item raised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionRaised {
    /// The item.
    pub attention_id: AttentionId,
    /// What kind of trouble.
    pub kind: AttentionKind,
    /// The process (subscriber) whose step it is, e.g. `process:order-cancellation`.
    pub process: String,
    /// The event the step is for.
    pub cause: Cause,
    /// The stream the step changes (`payment/0190…`), where one is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The business rule that refused the step, for a refused step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Code>,
    /// What went wrong, for a person.
    pub detail: NonEmptyText,
    /// The order concerned, where one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<OrderId>,
    /// The correlation id of the cause: everything its request or delivery caused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// When.
    pub raised_at: DateTime<Utc>,
}

/// A retry asked for (who asked is in the event's metadata).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionRetryRequested {
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// A retry that did not go through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionRetryFailed {
    /// The rule that refused it again, if the domain did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Code>,
    /// What went wrong.
    pub detail: NonEmptyText,
    /// When.
    pub failed_at: DateTime<Utc>,
}

/// The step went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionResolved {
    /// When.
    pub resolved_at: DateTime<Utc>,
}

/// Dismissed by a person (who is in the event's metadata).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttentionDismissed {
    /// Why the step is not to be done.
    pub reason: NonEmptyText,
    /// When.
    pub dismissed_at: DateTime<Utc>,
}
