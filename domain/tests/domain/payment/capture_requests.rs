//! Two-phase captures: where the back office executes a payment's money at the provider (a
//! Stripe payment intent it knows), a capture is asked of the provider, which captures a
//! payment intent once; the capture is recorded when the provider confirms it (its answer, or
//! its webhook first: either settles the request), or the request ends with its refusal.
//! Elsewhere the capture is recorded at once under our reference.

use domain::payment::{
    Payment, PaymentCaptureFailed, PaymentCaptureRequested, PaymentCommand, PaymentError,
    PaymentEvent,
};

use super::fixtures::*;
use crate::support::{code, eur, ext, given, in_every_state, now, order_id, text, Outcome};

type O = Outcome<Payment>;

fn request_capture() -> PaymentCommand {
    PaymentCommand::RequestCapture {
        reference: ext("cap-1"),
        amount: eur(4_000),
    }
}

fn capture_requested() -> PaymentEvent {
    PaymentEvent::PaymentCaptureRequested(PaymentCaptureRequested {
        order_id: order_id(),
        reference: ext("cap-1"),
        amount: eur(4_000),
        provider_reference: ext("pi_1"),
        provider: code("stripe"),
        requested_at: now(),
    })
}

fn record_failure() -> PaymentCommand {
    PaymentCommand::RecordCaptureFailed {
        code: code("payment_intent_unexpected_state"),
        message: text("This PaymentIntent could not be captured."),
    }
}

fn capture_failed() -> PaymentEvent {
    PaymentEvent::PaymentCaptureFailed(PaymentCaptureFailed {
        order_id: order_id(),
        reference: ext("cap-1"),
        code: code("payment_intent_unexpected_state"),
        message: text("This PaymentIntent could not be captured."),
        failed_at: now(),
    })
}

fn h_capture_requested() -> Vec<PaymentEvent> {
    [h_authorized(), vec![capture_requested()]].concat()
}

#[test]
fn requesting_a_capture_is_decided_in_every_state() {
    let mut rows = table([
        O::Refused(PaymentError::NotRequested),
        // No payment intent known: recorded at once, which implies the authorization.
        O::Emits(vec![
            implied_authorization("cap-1", 10_000),
            captured("cap-1", 4_000, 4_000),
        ]),
        O::Emits(vec![capture_requested()]),
        O::Refused(PaymentError::AlreadyCaptured),
        O::Refused(PaymentError::AlreadyCaptured),
        O::Refused(PaymentError::AlreadyCaptured),
        O::Refused(PaymentError::AlreadyCaptured),
        // Failed before any authorization: no payment intent known, recorded at once.
        O::Emits(vec![
            implied_authorization("cap-1", 10_000),
            captured("cap-1", 4_000, 4_000),
        ]),
        O::Refused(PaymentError::Voided),
    ]);
    rows.push(("capture requested", h_capture_requested(), O::Nothing));
    in_every_state(request_capture(), rows);
}

#[test]
fn recording_a_refused_capture_is_decided_in_every_state() {
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
        "capture requested",
        h_capture_requested(),
        O::Emits(vec![capture_failed()]),
    ));
    in_every_state(record_failure(), rows);
}

#[test]
fn the_providers_capture_settles_the_request_whoever_records_it_first() {
    // The answer to our request, or Stripe's `payment_intent.succeeded` before it: the same
    // charge id, recorded once, and the request is no longer pending.
    let capture = || PaymentCommand::CapturePayment {
        capture_id: ext("ch_1"),
        amount: eur(4_000),
        provider_reference: Some(ext("pi_1")),
    };
    let state = given::<Payment>(h_capture_requested())
        .when(capture())
        .then_expect(vec![captured("ch_1", 4_000, 4_000)])
        .unwrap();
    assert_eq!(state.capture_request, None);
    assert_eq!(state.capture_pending(), eur(0));
    given::<Payment>([h_capture_requested(), vec![captured("ch_1", 4_000, 4_000)]].concat())
        .when(capture())
        .then_nothing();
}

#[test]
fn one_capture_at_a_time_and_no_void_while_it_is_asked() {
    let state = given::<Payment>(h_capture_requested())
        .when(request_capture())
        .then_nothing();
    assert_eq!(state.unwrap().capture_pending(), eur(4_000));
    given::<Payment>(h_capture_requested())
        .when(PaymentCommand::RequestCapture {
            reference: ext("cap-2"),
            amount: eur(1_000),
        })
        .then_error(PaymentError::CapturePending);
    given::<Payment>(h_capture_requested())
        .when(PaymentCommand::RequestVoid {
            reason: text("order cancelled"),
        })
        .then_error(PaymentError::CapturePending);
}

#[test]
fn a_capture_beyond_the_authorization_is_refused_before_asking() {
    given::<Payment>(h_authorized())
        .when(PaymentCommand::RequestCapture {
            reference: ext("cap-1"),
            amount: eur(10_001),
        })
        .then_error(PaymentError::CaptureExceedsAuthorized);
}

#[test]
fn a_refused_capture_ends_the_request_and_another_may_be_asked() {
    let failed = [h_capture_requested(), vec![capture_failed()]].concat();
    let state = given::<Payment>(failed)
        .when(PaymentCommand::RequestCapture {
            reference: ext("cap-2"),
            amount: eur(4_000),
        })
        .then_expect(vec![PaymentEvent::PaymentCaptureRequested(
            PaymentCaptureRequested {
                reference: ext("cap-2"),
                ..match capture_requested() {
                    PaymentEvent::PaymentCaptureRequested(requested) => requested,
                    _ => unreachable!(),
                }
            },
        )])
        .unwrap();
    assert_eq!(state.capture_pending(), eur(4_000));
}
