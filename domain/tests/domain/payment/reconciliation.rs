//! Reconciliation: the provider's totals, as read from its API, compared with ours. A
//! difference that no request in flight explains is recorded once as a mismatch; confirming
//! the totals later is refused while ours still differ, so the mismatch stays before a person
//! until they agree (or a person dismisses it).

use domain::{
    payment::{Payment, PaymentCommand, PaymentError, PaymentEvent, PaymentMismatchFound},
    Decider as _,
};

use super::fixtures::*;
use crate::support::{eur, ext, given, in_every_state, now, order_id, usd, Outcome};

type O = Outcome<Payment>;

/// Stripe says 100.00 captured and 30.00 refunded.
fn stripe_totals() -> PaymentCommand {
    PaymentCommand::RecordProviderTotals {
        captured: eur(10_000),
        refunded: eur(3_000),
    }
}

fn confirm() -> PaymentCommand {
    PaymentCommand::ConfirmProviderTotals {
        captured: eur(10_000),
        refunded: eur(3_000),
    }
}

/// The mismatch against ours of `captured` and `refunded`.
fn found(captured: i64, refunded: i64) -> PaymentEvent {
    PaymentEvent::PaymentMismatchFound(PaymentMismatchFound {
        order_id: order_id(),
        provider_captured: eur(10_000),
        provider_refunded: eur(3_000),
        captured: eur(captured),
        refunded: eur(refunded),
        found_at: now(),
    })
}

#[test]
fn the_providers_totals_are_decided_in_every_state() {
    in_every_state(
        stripe_totals(),
        table([
            O::Refused(PaymentError::NotRequested),
            O::Emits(vec![found(0, 0)]),
            O::Emits(vec![found(0, 0)]),
            O::Emits(vec![found(4_000, 0)]),
            O::Emits(vec![found(10_000, 0)]),
            // Ours agree.
            O::Nothing,
            O::Emits(vec![found(10_000, 10_000)]),
            O::Emits(vec![found(0, 0)]),
            O::Emits(vec![found(0, 0)]),
        ]),
    );
}

#[test]
fn confirming_the_providers_totals_is_decided_in_every_state() {
    use PaymentError as E;
    in_every_state(
        confirm(),
        table([
            O::Refused(E::NotRequested),
            O::Refused(E::ProviderMismatch),
            O::Refused(E::ProviderMismatch),
            O::Refused(E::ProviderMismatch),
            O::Refused(E::ProviderMismatch),
            O::Nothing,
            O::Refused(E::ProviderMismatch),
            O::Refused(E::ProviderMismatch),
            O::Refused(E::ProviderMismatch),
        ]),
    );
}

#[test]
fn a_mismatch_is_recorded_once_and_confirmed_once_ours_agree() {
    let history = [h_captured(), vec![found(10_000, 0)]].concat();
    given::<Payment>(history.clone())
        .when(stripe_totals())
        .then_nothing();
    given::<Payment>(history.clone())
        .when(confirm())
        .then_error(PaymentError::ProviderMismatch);
    // The refund Stripe made reaches us (its webhook, or a person records it): they agree.
    given::<Payment>([history, vec![refunded("re_9", 3_000, 3_000)]].concat())
        .when(confirm())
        .then_nothing();
}

#[test]
fn a_difference_a_request_in_flight_explains_is_no_mismatch() {
    let refund_asked = PaymentCommand::RequestRefund {
        reference: ext("refund-1"),
        amount: eur(3_000),
    };
    let state = given::<Payment>(h_captured())
        .when(refund_asked)
        .then_expect(vec![PaymentEvent::PaymentRefundRequested(
            domain::payment::PaymentRefundRequested {
                order_id: order_id(),
                reference: ext("refund-1"),
                amount: eur(3_000),
                provider_reference: ext("pi_1"),
                provider: crate::support::code("stripe"),
                requested_at: now(),
            },
        )]);
    let events = Payment::decide(&state, stripe_totals(), &crate::support::ctx()).unwrap();
    assert!(events.is_empty(), "{events:?}");
}

#[test]
fn totals_in_another_currency_are_refused() {
    given::<Payment>(h_captured())
        .when(PaymentCommand::RecordProviderTotals {
            captured: usd(10_000),
            refunded: usd(0),
        })
        .then_error(PaymentError::CurrencyMismatch);
}
