//! The attention item's rules: which events each command causes in each status.

use super::{
    AttentionCommand, AttentionDismissed, AttentionError, AttentionEvent, AttentionResolved,
    AttentionRetryFailed, AttentionRetryRequested, AttentionState, AttentionStatus,
};
use crate::Context;

type Decision = Result<Vec<AttentionEvent>, AttentionError>;

/// Decides the events for `command` against `state` (`None`: not raised yet).
pub(super) fn decide(
    state: Option<&AttentionState>,
    command: AttentionCommand,
    ctx: &Context,
) -> Decision {
    use AttentionCommand as C;
    use AttentionStatus as S;
    let now = ctx.now();
    let Some(item) = state else {
        return match command {
            C::Raise(raised) => Ok(vec![AttentionEvent::AttentionRaised(*raised)]),
            _ => Err(AttentionError::NotRaised),
        };
    };
    match (command, item.status) {
        // Raised again while open: the same trouble, unless it changed its kind (a waiting step
        // that gave up and was parked).
        (C::Raise(raised), S::Open) if raised.kind == item.raised.kind => Ok(vec![]),
        (C::Raise(raised), S::Open | S::Resolved | S::Dismissed) => {
            Ok(vec![AttentionEvent::AttentionRaised(*raised)])
        }
        // Raised while a retry is under way: that retry failed.
        (C::Raise(raised), S::Retrying) => Ok(vec![retry_failed(raised.rule, raised.detail, ctx)]),
        (C::RequestRetry, S::Open) => Ok(vec![AttentionEvent::AttentionRetryRequested(
            AttentionRetryRequested { requested_at: now },
        )]),
        (C::RequestRetry, S::Retrying) => Ok(vec![]),
        (C::RecordRetryFailed { rule, detail }, S::Retrying) => {
            Ok(vec![retry_failed(rule, detail, ctx)])
        }
        // An automatic attempt of an open item failed: nothing new for a person.
        (C::RecordRetryFailed { .. }, S::Open) => Ok(vec![]),
        (C::Resolve, S::Open | S::Retrying) => {
            Ok(vec![AttentionEvent::AttentionResolved(AttentionResolved {
                resolved_at: now,
            })])
        }
        // Already ended: a late success changes nothing.
        (C::Resolve, S::Resolved | S::Dismissed) => Ok(vec![]),
        (C::Dismiss { reason }, S::Open) => Ok(vec![AttentionEvent::AttentionDismissed(
            AttentionDismissed {
                reason,
                dismissed_at: now,
            },
        )]),
        (C::Dismiss { .. }, S::Retrying) => Err(AttentionError::RetryInProgress),
        (C::Dismiss { .. }, S::Dismissed) => Ok(vec![]),
        (C::RequestRetry | C::RecordRetryFailed { .. } | C::Dismiss { .. }, S::Resolved) => {
            Err(AttentionError::AlreadyResolved)
        }
        (C::RequestRetry | C::RecordRetryFailed { .. }, S::Dismissed) => {
            Err(AttentionError::AlreadyDismissed)
        }
    }
}

fn retry_failed(
    rule: Option<crate::Code>,
    detail: crate::NonEmptyText,
    ctx: &Context,
) -> AttentionEvent {
    AttentionEvent::AttentionRetryFailed(AttentionRetryFailed {
        rule,
        detail,
        failed_at: ctx.now(),
    })
}
