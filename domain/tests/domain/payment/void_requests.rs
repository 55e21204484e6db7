//! Two-phase voids: where the back office executes a payment's money at the provider (a Stripe
//! payment intent it knows), releasing the authorization is asked of the provider, and the void
//! is recorded when the provider confirms it (or its refusal, which ends the request); asking
//! again while one is pending asks nothing more. Elsewhere the void is recorded at once.

use domain::payment::{
    Payment, PaymentCommand, PaymentError, PaymentEvent, PaymentVoidFailed, PaymentVoidRequested,
};

use super::fixtures::*;
use crate::support::{code, ext, given, in_every_state, now, order_id, text, Outcome};

type O = Outcome<Payment>;

fn request_void() -> PaymentCommand {
    PaymentCommand::RequestVoid {
        reason: text("order cancelled"),
    }
}

fn void_requested() -> PaymentEvent {
    PaymentEvent::PaymentVoidRequested(PaymentVoidRequested {
        order_id: order_id(),
        reason: text("order cancelled"),
        provider_reference: ext("pi_1"),
        provider: code("stripe"),
        requested_at: now(),
    })
}

fn record_failure() -> PaymentCommand {
    PaymentCommand::RecordVoidFailed {
        code: code("payment_intent_unexpected_state"),
        message: text("This PaymentIntent could not be canceled."),
    }
}

fn void_failed() -> PaymentEvent {
    PaymentEvent::PaymentVoidFailed(PaymentVoidFailed {
        order_id: order_id(),
        code: code("payment_intent_unexpected_state"),
        message: text("This PaymentIntent could not be canceled."),
        failed_at: now(),
    })
}

fn h_void_requested() -> Vec<PaymentEvent> {
    [h_authorized(), vec![void_requested()]].concat()
}

#[test]
fn requesting_a_void_is_decided_in_every_state() {
    in_every_state(
        request_void(),
        table([
            O::Refused(PaymentError::NotRequested),
            // No payment intent known: recorded at once.
            O::Emits(vec![voided()]),
            O::Emits(vec![void_requested()]),
            O::Refused(PaymentError::VoidAfterCapture),
            O::Refused(PaymentError::VoidAfterCapture),
            O::Refused(PaymentError::VoidAfterCapture),
            O::Refused(PaymentError::VoidAfterCapture),
            O::Nothing,
            O::Nothing,
        ]),
    );
}

#[test]
fn recording_a_refused_void_is_decided_in_every_state() {
    let mut rows = table([
        O::Refused(PaymentError::NotRequested),
        O::Nothing,
        O::Nothing,
        O::Nothing,
        O::Nothing,
        O::Nothing,
        O::Nothing,
        O::Nothing,
        O::Nothing,
    ]);
    rows.push((
        "void requested",
        h_void_requested(),
        O::Emits(vec![void_failed()]),
    ));
    in_every_state(record_failure(), rows);
}

#[test]
fn a_requested_void_is_asked_once_and_recorded_when_the_provider_confirms_it() {
    given::<Payment>(h_void_requested())
        .when(request_void())
        .then_nothing();
    let state = given::<Payment>(h_void_requested())
        .when(void())
        .then_expect(vec![voided()])
        .unwrap();
    assert!(state.voided && !state.void_pending);
    // Stripe's `payment_intent.canceled` afterwards changes nothing.
    given::<Payment>([h_void_requested(), vec![voided()]].concat())
        .when(void())
        .then_nothing();
}

#[test]
fn a_refused_void_ends_the_request_and_another_may_be_asked() {
    let failed = [h_void_requested(), vec![void_failed()]].concat();
    let state = given::<Payment>(failed.clone())
        .when(request_void())
        .then_expect(vec![void_requested()])
        .unwrap();
    assert!(state.void_pending);
    given::<Payment>(failed)
        .when(record_failure())
        .then_nothing();
}
