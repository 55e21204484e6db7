//! An attention item's state as folded from its events.

use serde::{Deserialize, Serialize};

use super::{AttentionEvent, AttentionRaised};

/// Where an item stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum AttentionStatus {
    /// Waiting for a person (or, for a waiting step, for its entity).
    Open,
    /// A person asked for a retry; it has not ended yet.
    Retrying,
    /// The step went through.
    Resolved,
    /// A person decided the step is not to be done.
    Dismissed,
}

impl AttentionStatus {
    /// The status as stored and shown.
    pub fn as_str(&self) -> &'static str {
        self.into()
    }

    /// Whether the item has ended.
    pub const fn is_closed(&self) -> bool {
        matches!(self, Self::Resolved | Self::Dismissed)
    }
}

/// The state of a raised item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttentionState {
    /// How it was (last) raised.
    pub raised: AttentionRaised,
    /// Where it stands.
    pub status: AttentionStatus,
    /// Retries a person asked for.
    pub retries: u32,
}

/// Applies one event to the state.
pub(super) fn evolve(state: &mut Option<AttentionState>, event: &AttentionEvent) {
    if let AttentionEvent::AttentionRaised(raised) = event {
        let retries = state.as_ref().map_or(0, |item| item.retries);
        *state = Some(AttentionState {
            raised: raised.clone(),
            status: AttentionStatus::Open,
            retries,
        });
        return;
    }
    let Some(item) = state else { return };
    match event {
        AttentionEvent::AttentionRaised(_) => {}
        AttentionEvent::AttentionRetryRequested(_) => {
            item.status = AttentionStatus::Retrying;
            item.retries = item.retries.saturating_add(1);
        }
        AttentionEvent::AttentionRetryFailed(failed) => {
            item.status = AttentionStatus::Open;
            item.raised.detail = failed.detail.clone();
            item.raised.rule = failed.rule.clone();
        }
        AttentionEvent::AttentionResolved(_) => item.status = AttentionStatus::Resolved,
        AttentionEvent::AttentionDismissed(_) => item.status = AttentionStatus::Dismissed,
    }
}
