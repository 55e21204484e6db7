//! The Attention decider: every command in every status, and the stable id of a step's item.

use chrono::Duration;
use domain::{
    attention::{
        self, Attention, AttentionCommand, AttentionDismissed, AttentionError, AttentionEvent,
        AttentionKind, AttentionRaised, AttentionResolved, AttentionRetryFailed,
        AttentionRetryRequested, AttentionStatus, Cause,
    },
    AttentionId, Decider,
};
use uuid::Uuid;

use crate::support::{code, in_every_state, now, order_id, text, Outcome};

type O = Outcome<Attention>;

fn id() -> AttentionId {
    attention::item_id("process:order-cancellation", cause_id(), now())
}

fn cause_id() -> Uuid {
    Uuid::from_u128(0x0195_4f1c_0000_7000_8000_0000_0000_0777)
}

pub fn raised(kind: AttentionKind) -> AttentionRaised {
    AttentionRaised {
        attention_id: id(),
        kind,
        process: "process:order-cancellation".to_owned(),
        cause: Cause {
            event_id: cause_id(),
            position: 42,
            stream_type: "order".to_owned(),
            stream_id: order_id().to_string(),
            event_type: "OrderCancelled".to_owned(),
        },
        target: Some("payment/0195".to_owned()),
        rule: Some(code("refund_exceeds_captured")),
        detail: text("refund exceeds captured amount minus refunds"),
        order_id: Some(order_id()),
        correlation_id: Some("req-1".to_owned()),
        raised_at: now(),
    }
}

fn raise(kind: AttentionKind) -> AttentionCommand {
    AttentionCommand::Raise(Box::new(raised(kind)))
}

fn e_raised(kind: AttentionKind) -> AttentionEvent {
    AttentionEvent::AttentionRaised(raised(kind))
}

fn e_retry() -> AttentionEvent {
    AttentionEvent::AttentionRetryRequested(AttentionRetryRequested {
        requested_at: now(),
    })
}

fn e_failed(detail: &str) -> AttentionEvent {
    AttentionEvent::AttentionRetryFailed(AttentionRetryFailed {
        rule: Some(code("refund_exceeds_captured")),
        detail: text(detail),
        failed_at: now(),
    })
}

fn e_resolved() -> AttentionEvent {
    AttentionEvent::AttentionResolved(AttentionResolved { resolved_at: now() })
}

fn e_dismissed() -> AttentionEvent {
    AttentionEvent::AttentionDismissed(AttentionDismissed {
        reason: text("refunded by hand at the provider"),
        dismissed_at: now(),
    })
}

const STATES: usize = 5;

/// Not raised, open, retrying, resolved, dismissed.
fn table(outcomes: [O; STATES]) -> Vec<(&'static str, Vec<AttentionEvent>, O)> {
    let open = || vec![e_raised(AttentionKind::RefusedStep)];
    let with = |mut history: Vec<AttentionEvent>, more: AttentionEvent| {
        history.push(more);
        history
    };
    let states = [
        ("not raised", vec![]),
        ("open", open()),
        ("retrying", with(open(), e_retry())),
        ("resolved", with(open(), e_resolved())),
        ("dismissed", with(open(), e_dismissed())),
    ];
    states
        .into_iter()
        .zip(outcomes)
        .map(|((name, history), outcome)| (name, history, outcome))
        .collect()
}

#[test]
fn raising_is_decided_in_every_status() {
    let refused = AttentionKind::RefusedStep;
    in_every_state(
        raise(refused),
        table([
            O::Emits(vec![e_raised(refused)]),
            O::Nothing,
            O::Emits(vec![e_failed(
                "refund exceeds captured amount minus refunds",
            )]),
            O::Emits(vec![e_raised(refused)]),
            O::Emits(vec![e_raised(refused)]),
        ]),
    );
    // Another kind of trouble for the same step replaces the open one.
    let parked = AttentionKind::ParkedStep;
    in_every_state(
        raise(parked),
        table([
            O::Emits(vec![e_raised(parked)]),
            O::Emits(vec![e_raised(parked)]),
            O::Emits(vec![e_failed(
                "refund exceeds captured amount minus refunds",
            )]),
            O::Emits(vec![e_raised(parked)]),
            O::Emits(vec![e_raised(parked)]),
        ]),
    );
}

#[test]
fn requesting_a_retry_is_decided_in_every_status() {
    in_every_state(
        AttentionCommand::RequestRetry,
        table([
            O::Refused(AttentionError::NotRaised),
            O::Emits(vec![e_retry()]),
            O::Nothing,
            O::Refused(AttentionError::AlreadyResolved),
            O::Refused(AttentionError::AlreadyDismissed),
        ]),
    );
}

#[test]
fn recording_a_failed_retry_is_decided_in_every_status() {
    in_every_state(
        AttentionCommand::RecordRetryFailed {
            rule: Some(code("refund_exceeds_captured")),
            detail: text("still too much"),
        },
        table([
            O::Refused(AttentionError::NotRaised),
            O::Nothing,
            O::Emits(vec![e_failed("still too much")]),
            O::Refused(AttentionError::AlreadyResolved),
            O::Refused(AttentionError::AlreadyDismissed),
        ]),
    );
}

#[test]
fn resolving_is_decided_in_every_status() {
    in_every_state(
        AttentionCommand::Resolve,
        table([
            O::Refused(AttentionError::NotRaised),
            O::Emits(vec![e_resolved()]),
            O::Emits(vec![e_resolved()]),
            O::Nothing,
            O::Nothing,
        ]),
    );
}

#[test]
fn dismissing_is_decided_in_every_status() {
    in_every_state(
        AttentionCommand::Dismiss {
            reason: text("refunded by hand at the provider"),
        },
        table([
            O::Refused(AttentionError::NotRaised),
            O::Emits(vec![e_dismissed()]),
            O::Refused(AttentionError::RetryInProgress),
            O::Refused(AttentionError::AlreadyResolved),
            O::Nothing,
        ]),
    );
}

#[test]
fn a_failed_retry_reopens_the_item_with_the_new_cause_and_counts_the_retry() {
    let state = Attention::fold(&[
        e_raised(AttentionKind::RefusedStep),
        e_retry(),
        e_failed("still too much"),
    ])
    .unwrap();
    assert_eq!(state.status, AttentionStatus::Open);
    assert_eq!(state.retries, 1);
    assert_eq!(state.raised.detail, text("still too much"));
}

#[test]
fn a_step_names_the_same_item_every_time_and_another_step_another() {
    let first = attention::item_id("process:a", cause_id(), now());
    assert_eq!(first, attention::item_id("process:a", cause_id(), now()));
    assert_ne!(first, attention::item_id("process:b", cause_id(), now()));
    assert_ne!(
        first,
        attention::item_id("process:a", Uuid::from_u128(1), now())
    );
    assert_eq!(first.as_uuid().get_version_num(), 7);
    // Items sort by the time of their cause.
    assert!(attention::item_id("process:z", cause_id(), now() + Duration::seconds(1)) > first);
}
