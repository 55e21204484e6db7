//! Four-eyes refunds: a refund asked for approval waits for a second person; the approval
//! makes the refund (asked of the provider here: the fixtures' payment is a Stripe payment
//! intent), a rejection ends it, and the requester can never approve their own.

use domain::{
    payment::{
        Payment, PaymentCommand, PaymentError, PaymentEvent, PaymentRefundApprovalAsked,
        PaymentRefundApproved, PaymentRefundRejected, PaymentRefundRequested,
    },
    Decider,
};

use super::fixtures::*;
use crate::support::{code, eur, ext, given, in_every_state, now, order_id, text, Outcome};

type O = Outcome<Payment>;

fn ask(reference: &str, amount: i64, by: &str) -> PaymentCommand {
    PaymentCommand::AskRefundApproval {
        reference: ext(reference),
        amount: eur(amount),
        requested_by: text(by),
    }
}

fn approve(reference: &str, by: &str) -> PaymentCommand {
    PaymentCommand::ApproveRefund {
        reference: ext(reference),
        approved_by: text(by),
    }
}

fn reject(reference: &str, by: &str) -> PaymentCommand {
    PaymentCommand::RejectRefund {
        reference: ext(reference),
        rejected_by: text(by),
        reason: text("the customer keeps the goods"),
    }
}

fn asked(reference: &str, amount: i64) -> PaymentEvent {
    PaymentEvent::PaymentRefundApprovalAsked(PaymentRefundApprovalAsked {
        order_id: order_id(),
        reference: ext(reference),
        amount: eur(amount),
        requested_by: text("user:ana"),
        requested_at: now(),
    })
}

fn approved(reference: &str, amount: i64) -> PaymentEvent {
    PaymentEvent::PaymentRefundApproved(PaymentRefundApproved {
        order_id: order_id(),
        reference: ext(reference),
        amount: eur(amount),
        requested_by: text("user:ana"),
        approved_by: text("user:bo"),
        approved_at: now(),
    })
}

fn rejected(reference: &str, amount: i64) -> PaymentEvent {
    PaymentEvent::PaymentRefundRejected(PaymentRefundRejected {
        order_id: order_id(),
        reference: ext(reference),
        amount: eur(amount),
        rejected_by: text("user:bo"),
        reason: text("the customer keeps the goods"),
        rejected_at: now(),
    })
}

fn refund_requested(reference: &str, amount: i64) -> PaymentEvent {
    PaymentEvent::PaymentRefundRequested(PaymentRefundRequested {
        order_id: order_id(),
        reference: ext(reference),
        amount: eur(amount),
        provider_reference: ext("pi_1"),
        provider: code("stripe"),
        requested_at: now(),
    })
}

fn h_awaiting() -> Vec<PaymentEvent> {
    [h_captured(), vec![asked("refund-1", 6_000)]].concat()
}

fn h_approved() -> Vec<PaymentEvent> {
    [
        h_awaiting(),
        vec![
            approved("refund-1", 6_000),
            refund_requested("refund-1", 6_000),
        ],
    ]
    .concat()
}

fn h_rejected() -> Vec<PaymentEvent> {
    [h_awaiting(), vec![rejected("refund-1", 6_000)]].concat()
}

/// The nine statuses, then a refund awaiting approval, approved, and rejected.
fn rows(outcomes: [O; 12]) -> Vec<(&'static str, Vec<PaymentEvent>, O)> {
    let [a, b, c, d, e, f, g, h, i, awaiting, was_approved, was_rejected] = outcomes;
    let mut rows = table([a, b, c, d, e, f, g, h, i]);
    rows.push(("awaiting approval", h_awaiting(), awaiting));
    rows.push(("approved", h_approved(), was_approved));
    rows.push(("rejected", h_rejected(), was_rejected));
    rows
}

#[test]
fn asking_for_approval_is_decided_in_every_state() {
    in_every_state(
        ask("refund-1", 2_000, "user:ana"),
        rows([
            O::Refused(PaymentError::NotRequested),
            O::Refused(PaymentError::RefundExceedsCaptured),
            O::Refused(PaymentError::RefundExceedsCaptured),
            O::Emits(vec![asked("refund-1", 2_000)]),
            O::Emits(vec![asked("refund-1", 2_000)]),
            O::Emits(vec![asked("refund-1", 2_000)]),
            O::Refused(PaymentError::RefundExceedsCaptured),
            O::Refused(PaymentError::RefundExceedsCaptured),
            O::Refused(PaymentError::RefundExceedsCaptured),
            // The same reference again asks nothing more, whatever became of it.
            O::Nothing,
            O::Nothing,
            O::Nothing,
        ]),
    );
}

#[test]
fn approving_is_decided_in_every_state() {
    in_every_state(
        approve("refund-1", "user:bo"),
        rows([
            O::Refused(PaymentError::NotRequested),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Emits(vec![
                approved("refund-1", 6_000),
                refund_requested("refund-1", 6_000),
            ]),
            O::Nothing,
            O::Refused(PaymentError::RefundRejected),
        ]),
    );
}

#[test]
fn rejecting_is_decided_in_every_state() {
    in_every_state(
        reject("refund-1", "user:bo"),
        rows([
            O::Refused(PaymentError::NotRequested),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Refused(PaymentError::UnknownRefundApproval),
            O::Emits(vec![rejected("refund-1", 6_000)]),
            O::Refused(PaymentError::RefundApproved),
            O::Nothing,
        ]),
    );
}

#[test]
fn the_requester_never_approves_their_own_refund() {
    given::<Payment>(h_awaiting())
        .when(approve("refund-1", "user:ana"))
        .then_error(PaymentError::ApproverIsRequester);
}

#[test]
fn a_refund_awaiting_approval_holds_nothing_back_and_cannot_be_requested_around_it() {
    let state = Payment::fold(&h_awaiting()).unwrap();
    assert_eq!(state.awaiting_approval(), eur(6_000));
    assert_eq!(state.refundable(), eur(10_000));
    assert_eq!(state.refunded, eur(0));
    // A plain refund under the awaiting reference does not slip past the approval.
    given::<Payment>(h_awaiting())
        .when(PaymentCommand::RequestRefund {
            reference: ext("refund-1"),
            amount: eur(6_000),
        })
        .then_nothing();
    let state = Payment::fold(&h_approved()).unwrap();
    assert_eq!(state.awaiting_approval(), eur(0));
    assert_eq!(state.refund_pending(), eur(6_000));
}

#[test]
fn an_approval_is_checked_against_what_is_refundable_when_it_is_given() {
    // Meanwhile 5 000 of the 10 000 were refunded: the 6 000 asked no longer fit.
    let history = [h_awaiting(), vec![refund_requested("refund-2", 5_000)]].concat();
    given::<Payment>(history.clone())
        .when(approve("refund-1", "user:bo"))
        .then_error(PaymentError::RefundExceedsCaptured);
    // It still awaits: it can be rejected.
    given::<Payment>(history)
        .when(reject("refund-1", "user:bo"))
        .then_expect(vec![rejected("refund-1", 6_000)]);
}
