//! The payment reports (request, capture total, refund total, closed) decided in every state of
//! `fixtures::states()`. Each names payment `p1`, which the payment states know.

use domain::order::{OrderCommand, OrderError};

use super::fixtures::*;
use crate::support::{eur, in_every_state};

#[test]
fn recording_a_payment_request_is_decided_in_every_state() {
    let emits = || O::Emits(vec![requested(p1(), 5_000)]);
    in_every_state(
        OrderCommand::RecordPaymentRequested {
            payment_id: p1(),
            amount: eur(5_000),
        },
        table([
            O::Refused(OrderError::NotPlaced),
            emits(),
            O::Nothing,
            O::Nothing,
            O::Nothing,
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            O::Refused(OrderError::Cancelled),
            O::Refused(OrderError::Cancelled),
            O::Refused(OrderError::Completed),
        ]),
    );
}

#[test]
fn recording_a_payment_is_decided_in_every_state() {
    let first = || O::Emits(vec![paid(p1(), 3_000, 3_000)]);
    in_every_state(
        record_payment(p1(), eur(3_000)),
        table([
            O::Refused(OrderError::NotPlaced),
            first(),
            first(),
            first(),
            O::Emits(vec![paid(p1(), 1_000, 3_000)]),
            O::Nothing,
            O::Nothing,
            O::Nothing,
            first(),
            first(),
            first(),
            first(),
            first(),
            first(),
            first(),
            O::Nothing,
            O::Emits(vec![paid(p1(), 3_000, 3_000), overpaid(3_000, 0)]),
            O::Nothing,
            O::Nothing,
        ]),
    );
}

#[test]
fn recording_a_refund_is_decided_in_every_state() {
    use OrderError as E;
    let emits = || O::Emits(vec![refunded(p1(), 1_000, 1_000)]);
    in_every_state(
        record_refund(p1(), eur(1_000)),
        table([
            O::Refused(E::NotPlaced),
            O::Refused(E::RefundExceedsPayment),
            O::Refused(E::RefundExceedsPayment),
            O::Refused(E::RefundExceedsPayment),
            emits(),
            emits(),
            O::Nothing,
            O::Nothing,
            O::Refused(E::RefundExceedsPayment),
            O::Refused(E::RefundExceedsPayment),
            O::Refused(E::RefundExceedsPayment),
            O::Refused(E::RefundExceedsPayment),
            O::Refused(E::RefundExceedsPayment),
            O::Refused(E::RefundExceedsPayment),
            O::Refused(E::RefundExceedsPayment),
            emits(),
            O::Refused(E::RefundExceedsPayment),
            emits(),
            emits(),
        ]),
    );
}

#[test]
fn recording_a_closed_payment_is_decided_in_every_state() {
    let emits = || O::Emits(vec![closed(p1())]);
    in_every_state(
        OrderCommand::RecordPaymentClosed { payment_id: p1() },
        table([
            O::Refused(OrderError::NotPlaced),
            emits(),
            emits(),
            O::Nothing,
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
            emits(),
        ]),
    );
}
