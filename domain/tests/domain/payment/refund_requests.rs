//! Two-phase refunds: where the back office executes a payment's money at the provider (a
//! Stripe payment whose payment intent it knows), a refund is asked of the provider and its
//! amount held back until the provider answers; the answer, success under the provider's id or
//! failure, releases it, and a second answer to the same request changes nothing. Elsewhere a
//! refund is recorded at once, as before.

use domain::{
    payment::{
        Payment, PaymentCommand, PaymentError, PaymentEvent, PaymentRefundFailed,
        PaymentRefundRequested, PaymentRefunded,
    },
    Decider,
};

use super::fixtures::*;
use crate::support::{code, eur, ext, given, in_every_state, now, order_id, text, Outcome};

type O = Outcome<Payment>;

fn request_refund(reference: &str, amount: i64) -> PaymentCommand {
    PaymentCommand::RequestRefund {
        reference: ext(reference),
        amount: eur(amount),
    }
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

fn refund_failed(reference: &str, amount: i64) -> PaymentEvent {
    PaymentEvent::PaymentRefundFailed(PaymentRefundFailed {
        order_id: order_id(),
        reference: ext(reference),
        amount: eur(amount),
        code: code("charge_disputed"),
        message: text("The charge is disputed."),
        failed_at: now(),
    })
}

fn record_failure(reference: &str) -> PaymentCommand {
    PaymentCommand::RecordRefundFailed {
        reference: ext(reference),
        code: code("charge_disputed"),
        message: text("The charge is disputed."),
    }
}

/// The provider's refund `refund_id` answering request `reference`.
fn answered(refund_id: &str, amount: i64, reference: &str) -> PaymentCommand {
    PaymentCommand::RefundPayment {
        refund_id: ext(refund_id),
        amount: eur(amount),
        request: Some(ext(reference)),
    }
}

fn refunded_for(refund_id: &str, amount: i64, total: i64, reference: &str) -> PaymentEvent {
    PaymentEvent::PaymentRefunded(PaymentRefunded {
        order_id: order_id(),
        refund_id: ext(refund_id),
        amount: eur(amount),
        refunded_total: eur(total),
        refunded_at: now(),
        request: Some(ext(reference)),
    })
}

fn h_requested() -> Vec<PaymentEvent> {
    [h_captured(), vec![refund_requested("refund-1", 8_000)]].concat()
}

#[test]
fn requesting_a_refund_is_decided_in_every_state() {
    in_every_state(
        request_refund("refund-1", 2_000),
        table([
            O::Refused(PaymentError::NotRequested),
            O::Refused(PaymentError::RefundExceedsCaptured),
            O::Refused(PaymentError::RefundExceedsCaptured),
            O::Emits(vec![refund_requested("refund-1", 2_000)]),
            O::Emits(vec![refund_requested("refund-1", 2_000)]),
            O::Emits(vec![refund_requested("refund-1", 2_000)]),
            O::Refused(PaymentError::RefundExceedsCaptured),
            O::Refused(PaymentError::RefundExceedsCaptured),
            O::Refused(PaymentError::RefundExceedsCaptured),
        ]),
    );
}

#[test]
fn recording_a_refused_refund_is_decided_in_every_state() {
    let mut rows = table([
        O::Refused(PaymentError::NotRequested),
        O::Refused(PaymentError::UnknownRefundRequest),
        O::Refused(PaymentError::UnknownRefundRequest),
        O::Refused(PaymentError::UnknownRefundRequest),
        O::Refused(PaymentError::UnknownRefundRequest),
        O::Refused(PaymentError::UnknownRefundRequest),
        O::Refused(PaymentError::UnknownRefundRequest),
        O::Refused(PaymentError::UnknownRefundRequest),
        O::Refused(PaymentError::UnknownRefundRequest),
    ]);
    rows.push((
        "refund requested",
        h_requested(),
        O::Emits(vec![refund_failed("refund-1", 8_000)]),
    ));
    in_every_state(record_failure("refund-1"), rows);
}

#[test]
fn a_requested_refund_holds_its_amount_back_until_the_provider_answers() {
    let state = Payment::fold(&h_requested()).unwrap();
    assert_eq!(state.refund_pending(), eur(8_000));
    assert_eq!(state.refundable(), eur(2_000));
    assert_eq!(
        state.refunded,
        eur(0),
        "nothing is refunded before the provider says so"
    );
    given::<Payment>(h_requested())
        .when(request_refund("refund-2", 2_001))
        .then_error(PaymentError::RefundExceedsCaptured);
    given::<Payment>(h_requested())
        .when(request_refund("refund-1", 8_000))
        .then_nothing();
}

#[test]
fn the_providers_refund_releases_the_request_and_a_second_word_on_it_changes_nothing() {
    let state = given::<Payment>(h_requested())
        .when(answered("re_9", 8_000, "refund-1"))
        .then_expect(vec![refunded_for("re_9", 8_000, 8_000, "refund-1")])
        .unwrap();
    assert_eq!(
        (state.refund_pending(), state.refunded),
        (eur(0), eur(8_000))
    );
    let after = [
        h_requested(),
        vec![refunded_for("re_9", 8_000, 8_000, "refund-1")],
    ]
    .concat();
    // The webhook about the same refund, by the provider's id, or the answer again.
    given::<Payment>(after.clone())
        .when(refund("re_9", eur(8_000)))
        .then_nothing();
    given::<Payment>(after.clone())
        .when(answered("re_10", 8_000, "refund-1"))
        .then_nothing();
    given::<Payment>(after)
        .when(record_failure("refund-1"))
        .then_nothing();
}

#[test]
fn a_webhook_ahead_of_the_answer_takes_the_request_once() {
    // Stripe's `charge.refunded` names our request (metadata `refund_id`) before the engine
    // records the API's answer: whichever comes first is recorded.
    let after = [
        h_requested(),
        vec![refunded_for("re_9", 8_000, 8_000, "refund-1")],
    ]
    .concat();
    given::<Payment>(h_requested())
        .when(answered("re_9", 8_000, "refund-1"))
        .then_expect(vec![refunded_for("re_9", 8_000, 8_000, "refund-1")]);
    given::<Payment>(after)
        .when(answered("re_9", 8_000, "refund-1"))
        .then_nothing();
}

#[test]
fn a_refused_refund_releases_its_amount_and_the_providers_later_word_still_counts() {
    let failed = [h_requested(), vec![refund_failed("refund-1", 8_000)]].concat();
    let state = Payment::fold(&failed).unwrap();
    assert_eq!(
        (state.refund_pending(), state.refundable()),
        (eur(0), eur(10_000))
    );
    given::<Payment>(failed.clone())
        .when(request_refund("refund-2", 10_000))
        .then_expect(vec![refund_requested("refund-2", 10_000)]);
    given::<Payment>(failed.clone())
        .when(request_refund("refund-1", 10_000))
        .then_nothing();
    given::<Payment>(failed)
        .when(answered("re_9", 8_000, "refund-1"))
        .then_expect(vec![refunded_for("re_9", 8_000, 8_000, "refund-1")]);
}

#[test]
fn a_payment_not_executed_here_is_refunded_at_once() {
    // Captured without an authorization of its own (recorded by hand, or a capture that came
    // first): no payment intent to refund at the provider.
    let implied = vec![
        requested(),
        implied_authorization("ch_1", 10_000),
        captured("ch_1", 10_000, 10_000),
    ];
    given::<Payment>(implied)
        .when(request_refund("refund-1", 2_000))
        .then_expect(vec![PaymentEvent::PaymentRefunded(PaymentRefunded {
            order_id: order_id(),
            refund_id: ext("refund-1"),
            amount: eur(2_000),
            refunded_total: eur(2_000),
            refunded_at: now(),
            request: None,
        })]);
}
