//! Every payment command decided in every state it can meet.

use domain::payment::{Payment, PaymentCommand, PaymentError};

use crate::support::{code, eur, ext, in_every_state, text, Outcome};

type O = Outcome<Payment>;

use super::fixtures::*;

// ---- every command in every state -------------------------------------------------------------

#[test]
fn requesting_is_decided_in_every_state() {
    in_every_state(
        request(),
        table([
            O::Emits(vec![requested()]),
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
        ]),
    );
}

#[test]
fn recording_an_authorization_is_decided_in_every_state() {
    in_every_state(
        authorize(10_000),
        table([
            O::Refused(PaymentError::NotRequested),
            O::Emits(vec![authorized(10_000)]),
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Emits(vec![authorized(10_000)]),
            O::Refused(PaymentError::Voided),
        ]),
    );
}

#[test]
fn capturing_is_decided_in_every_state() {
    in_every_state(
        capture("ch_2", eur(1_000)),
        table([
            O::Refused(PaymentError::NotRequested),
            O::Emits(vec![
                implied_authorization("pi_1", 10_000),
                captured("ch_2", 1_000, 1_000),
            ]),
            O::Emits(vec![captured("ch_2", 1_000, 1_000)]),
            O::Emits(vec![captured("ch_2", 1_000, 5_000)]),
            O::Refused(PaymentError::CaptureExceedsAuthorized),
            O::Refused(PaymentError::CaptureExceedsAuthorized),
            O::Refused(PaymentError::CaptureExceedsAuthorized),
            O::Emits(vec![
                implied_authorization("pi_1", 10_000),
                captured("ch_2", 1_000, 1_000),
            ]),
            O::Refused(PaymentError::Voided),
        ]),
    );
}

#[test]
fn recording_a_failure_is_decided_in_every_state() {
    in_every_state(
        PaymentCommand::RecordFailure {
            code: code("card_declined"),
            message: text("Your card was declined."),
        },
        table([
            O::Refused(PaymentError::NotRequested),
            O::Emits(vec![failed()]),
            O::Emits(vec![failed()]),
            O::Refused(PaymentError::AlreadyCaptured),
            O::Refused(PaymentError::AlreadyCaptured),
            O::Refused(PaymentError::AlreadyCaptured),
            O::Refused(PaymentError::AlreadyCaptured),
            O::Nothing,
            O::Refused(PaymentError::Voided),
        ]),
    );
}

#[test]
fn refunding_is_decided_in_every_state() {
    in_every_state(
        refund("re_2", eur(2_000)),
        table([
            O::Refused(PaymentError::NotRequested),
            O::Refused(PaymentError::RefundExceedsCaptured),
            O::Refused(PaymentError::RefundExceedsCaptured),
            O::Emits(vec![refunded("re_2", 2_000, 2_000)]),
            O::Emits(vec![refunded("re_2", 2_000, 2_000)]),
            O::Emits(vec![refunded("re_2", 2_000, 5_000)]),
            O::Refused(PaymentError::RefundExceedsCaptured),
            O::Refused(PaymentError::RefundExceedsCaptured),
            O::Refused(PaymentError::RefundExceedsCaptured),
        ]),
    );
}

#[test]
fn voiding_is_decided_in_every_state() {
    in_every_state(
        void(),
        table([
            O::Refused(PaymentError::NotRequested),
            O::Emits(vec![voided()]),
            O::Emits(vec![voided()]),
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
fn recording_a_dispute_is_decided_in_every_state() {
    in_every_state(
        PaymentCommand::RecordDispute {
            dispute_id: ext("dp_1"),
            amount: eur(4_000),
            reason: text("fraudulent"),
        },
        table([
            O::Refused(PaymentError::NotRequested),
            O::Refused(PaymentError::DisputeExceedsCaptured),
            O::Refused(PaymentError::DisputeExceedsCaptured),
            O::Emits(vec![disputed(4_000)]),
            O::Emits(vec![disputed(4_000)]),
            O::Emits(vec![disputed(4_000)]),
            O::Emits(vec![disputed(4_000)]),
            O::Refused(PaymentError::DisputeExceedsCaptured),
            O::Refused(PaymentError::DisputeExceedsCaptured),
        ]),
    );
}
