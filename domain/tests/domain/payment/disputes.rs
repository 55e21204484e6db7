//! Disputes (chargebacks): a refund waits while one is open (the bank holds the money: refunding
//! it too would pay the cardholder twice), and what a lost one gave back is no longer
//! refundable. Every command about them in every state a payment meets, and in the dispute's
//! own states.

use domain::payment::{
    DisputeOutcome, Payment, PaymentCommand, PaymentDisputeClosed, PaymentError, PaymentEvent,
};

use super::fixtures::*;
use crate::support::{eur, ext, given, in_every_state, now, order_id, Outcome};

type O = Outcome<Payment>;

fn closed(outcome: DisputeOutcome) -> PaymentEvent {
    PaymentEvent::PaymentDisputeClosed(PaymentDisputeClosed {
        order_id: order_id(),
        dispute_id: ext("dp_1"),
        outcome,
        closed_at: now(),
    })
}

fn close(outcome: DisputeOutcome) -> PaymentCommand {
    PaymentCommand::RecordDisputeClosed {
        dispute_id: ext("dp_1"),
        outcome,
    }
}

fn h_disputed() -> Vec<PaymentEvent> {
    [h_captured(), vec![disputed(4_000)]].concat()
}

fn h_dispute(outcome: DisputeOutcome) -> Vec<PaymentEvent> {
    [h_disputed(), vec![closed(outcome)]].concat()
}

#[test]
fn closing_a_dispute_is_decided_in_every_state() {
    use DisputeOutcome::{Lost, Won};
    let mut rows = table([
        O::Refused(PaymentError::NotRequested),
        O::Refused(PaymentError::UnknownDispute),
        O::Refused(PaymentError::UnknownDispute),
        O::Refused(PaymentError::UnknownDispute),
        O::Refused(PaymentError::UnknownDispute),
        O::Refused(PaymentError::UnknownDispute),
        O::Refused(PaymentError::UnknownDispute),
        O::Refused(PaymentError::UnknownDispute),
        O::Refused(PaymentError::UnknownDispute),
    ]);
    rows.push(("disputed", h_disputed(), O::Emits(vec![closed(Won)])));
    rows.push(("dispute won", h_dispute(Won), O::Nothing));
    rows.push(("dispute lost", h_dispute(Lost), O::Nothing));
    in_every_state(close(Won), rows);
}

#[test]
fn a_refund_waits_while_a_dispute_is_open_and_goes_once_it_is_won() {
    use DisputeOutcome::Won;
    given::<Payment>(h_disputed())
        .when(refund("re_2", eur(1_000)))
        .then_error(PaymentError::RefundWhileDisputed);
    given::<Payment>(h_dispute(Won))
        .when(refund("re_2", eur(10_000)))
        .then_expect(vec![refunded("re_2", 10_000, 10_000)]);
}

#[test]
fn what_a_lost_dispute_gave_back_is_no_longer_refundable() {
    use DisputeOutcome::Lost;
    let state = <Payment as domain::Decider>::fold(&h_dispute(Lost)).unwrap();
    assert_eq!(state.refundable(), eur(6_000));
    given::<Payment>(h_dispute(Lost))
        .when(refund("re_2", eur(6_001)))
        .then_error(PaymentError::RefundExceedsCaptured);
    given::<Payment>(h_dispute(Lost))
        .when(refund("re_2", eur(6_000)))
        .then_expect(vec![refunded("re_2", 6_000, 6_000)]);
}
