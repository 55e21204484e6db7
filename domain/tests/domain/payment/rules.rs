//! The payment rules, each as its own named test.

use domain::{
    payment::{Payment, PaymentCommand, PaymentError, PaymentStatus},
    Decider, Money,
};

use crate::support::{code, ctx, eur, ext, given, order_id, payment_id, text, usd};

use super::fixtures::*;

// ---- the rules, by name -------------------------------------------------------------------------

#[test]
fn a_partial_capture_leaves_the_payment_partially_captured() {
    let state = given::<Payment>(h_authorized())
        .when(capture("ch_1", eur(4_000)))
        .then_expect(vec![captured("ch_1", 4_000, 4_000)])
        .unwrap();
    assert_eq!(state.status(), PaymentStatus::PartiallyCaptured);
    let state = given::<Payment>(h_partially_captured())
        .when(capture("ch_2", eur(6_000)))
        .then_expect(vec![captured("ch_2", 6_000, 10_000)])
        .unwrap();
    assert_eq!(state.status(), PaymentStatus::Captured);
}

#[test]
fn a_capture_above_the_authorized_amount_is_refused() {
    given::<Payment>(h_authorized())
        .when(capture("ch_1", eur(10_001)))
        .then_error(PaymentError::CaptureExceedsAuthorized);
    given::<Payment>(h_partially_captured())
        .when(capture("ch_2", eur(6_001)))
        .then_error(PaymentError::CaptureExceedsAuthorized);
}

#[test]
fn partial_refunds_summing_to_the_captured_amount_refund_the_payment() {
    let state = given::<Payment>(h_captured())
        .when(refund("re_1", eur(3_000)))
        .then_expect(vec![refunded("re_1", 3_000, 3_000)])
        .unwrap();
    assert_eq!(state.status(), PaymentStatus::PartiallyRefunded);
    assert_eq!(state.refundable(), eur(7_000));
    let state = given::<Payment>(h_partially_refunded())
        .when(refund("re_2", eur(7_000)))
        .then_expect(vec![refunded("re_2", 7_000, 10_000)])
        .unwrap();
    assert_eq!(state.status(), PaymentStatus::Refunded);
    assert!(state.refundable().is_zero());
}

#[test]
fn a_refund_above_what_remains_is_refused() {
    given::<Payment>(h_partially_refunded())
        .when(refund("re_2", eur(7_001)))
        .then_error(PaymentError::RefundExceedsCaptured);
}

#[test]
fn one_provider_refund_id_is_recorded_once() {
    let state = given::<Payment>(h_partially_refunded())
        .when(refund("re_1", eur(3_000)))
        .then_nothing()
        .unwrap();
    assert_eq!(state.refunded, eur(3_000));
}

#[test]
fn one_provider_capture_id_is_recorded_once() {
    given::<Payment>(h_partially_captured())
        .when(capture("ch_1", eur(4_000)))
        .then_nothing();
}

#[test]
fn a_capture_seen_before_its_authorization_implies_it() {
    let state = given::<Payment>(h_pending())
        .when(capture("ch_1", eur(10_000)))
        .then_expect(vec![
            implied_authorization("pi_1", 10_000),
            captured("ch_1", 10_000, 10_000),
        ])
        .unwrap();
    assert_eq!(state.status(), PaymentStatus::Captured);

    // Without a reference the capture id stands in for it.
    given::<Payment>(h_pending())
        .when(PaymentCommand::CapturePayment {
            capture_id: ext("ch_1"),
            amount: eur(2_000),
            provider_reference: None,
        })
        .then_expect(vec![
            implied_authorization("ch_1", 10_000),
            captured("ch_1", 2_000, 2_000),
        ]);
}

#[test]
fn the_late_authorization_replaces_the_implied_one() {
    let history = vec![
        requested(),
        implied_authorization("pi_1", 10_000),
        captured("ch_1", 4_000, 4_000),
    ];
    let state = given::<Payment>(history.clone())
        .when(authorize(10_000))
        .then_expect(vec![authorized(10_000)])
        .unwrap();
    assert!(!state.authorization.unwrap().implied);
    given::<Payment>(history)
        .when(authorize(3_000))
        .then_error(PaymentError::CaptureExceedsAuthorized);
}

#[test]
fn a_second_authorization_with_another_reference_is_refused() {
    given::<Payment>(h_authorized())
        .when(PaymentCommand::RecordAuthorization {
            provider_reference: ext("pi_other"),
            amount: eur(10_000),
        })
        .then_error(PaymentError::AlreadyAuthorized);
}

#[test]
fn a_dispute_is_recorded_once() {
    given::<Payment>([h_captured(), vec![disputed(4_000)]].concat())
        .when(PaymentCommand::RecordDispute {
            dispute_id: ext("dp_1"),
            amount: eur(4_000),
            reason: text("fraudulent"),
        })
        .then_nothing();
}

#[test]
fn mixed_currencies_are_refused() {
    given::<Payment>(h_authorized())
        .when(capture("ch_1", usd(1_000)))
        .then_error(PaymentError::CurrencyMismatch);
    given::<Payment>(h_captured())
        .when(refund("re_1", usd(1_000)))
        .then_error(PaymentError::CurrencyMismatch);
    given::<Payment>(h_pending())
        .when(PaymentCommand::RecordAuthorization {
            provider_reference: ext("pi_1"),
            amount: usd(10_000),
        })
        .then_error(PaymentError::CurrencyMismatch);
    given::<Payment>(h_captured())
        .when(PaymentCommand::RecordDispute {
            dispute_id: ext("dp_1"),
            amount: usd(1_000),
            reason: text("fraudulent"),
        })
        .then_error(PaymentError::CurrencyMismatch);
}

#[test]
fn amounts_must_be_positive() {
    given::<Payment>(vec![])
        .when(PaymentCommand::RequestPayment {
            payment_id: payment_id(1),
            order_id: order_id(),
            amount: eur(0),
            provider: code("stripe"),
        })
        .then_error(PaymentError::NonPositiveAmount);
    given::<Payment>(h_captured())
        .when(refund("re_1", eur(-1)))
        .then_error(PaymentError::NonPositiveAmount);
}

#[test]
fn amounts_are_at_most_ten_to_the_fifteen_minor_units() {
    let request = |minor| PaymentCommand::RequestPayment {
        payment_id: payment_id(1),
        order_id: order_id(),
        amount: eur(minor),
        provider: code("stripe"),
    };
    given::<Payment>(vec![])
        .when(request(Money::MAX_AMOUNT_MINOR + 1))
        .then_error(PaymentError::AmountTooLarge);
    assert!(Payment::decide(&None, request(Money::MAX_AMOUNT_MINOR), &ctx()).is_ok());
    given::<Payment>(h_authorized())
        .when(capture("ch_9", eur(Money::MAX_AMOUNT_MINOR + 1)))
        .then_error(PaymentError::AmountTooLarge);
}

#[test]
fn requesting_another_payment_under_the_same_id_is_refused() {
    given::<Payment>(h_pending())
        .when(PaymentCommand::RequestPayment {
            payment_id: payment_id(1),
            order_id: order_id(),
            amount: eur(1),
            provider: code("stripe"),
        })
        .then_error(PaymentError::AlreadyRequested);
}
