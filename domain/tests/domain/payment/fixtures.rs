//! Builders of payment commands and events, and the histories that reach each state.

use domain::{
    payment::{
        Payment, PaymentAuthorized, PaymentCaptured, PaymentCommand, PaymentDisputed, PaymentEvent,
        PaymentFailed, PaymentRefunded, PaymentRequested, PaymentStatus, PaymentVoided,
    },
    Decider, Money,
};

use crate::support::{code, eur, ext, now, order_id, payment_id, text, Outcome};

pub type O = Outcome<Payment>;

// ---- builders -------------------------------------------------------------------------------

pub fn requested() -> PaymentEvent {
    PaymentEvent::PaymentRequested(PaymentRequested {
        payment_id: payment_id(1),
        order_id: order_id(),
        amount: eur(10_000),
        provider: code("stripe"),
        requested_at: now(),
    })
}

pub fn authorized(amount: i64) -> PaymentEvent {
    PaymentEvent::PaymentAuthorized(PaymentAuthorized {
        provider_reference: ext("pi_1"),
        amount: eur(amount),
        implied: false,
        authorized_at: now(),
    })
}

pub fn implied_authorization(reference: &str, amount: i64) -> PaymentEvent {
    PaymentEvent::PaymentAuthorized(PaymentAuthorized {
        provider_reference: ext(reference),
        amount: eur(amount),
        implied: true,
        authorized_at: now(),
    })
}

pub fn captured(capture_id: &str, amount: i64, total: i64) -> PaymentEvent {
    PaymentEvent::PaymentCaptured(PaymentCaptured {
        order_id: order_id(),
        capture_id: ext(capture_id),
        amount: eur(amount),
        captured_total: eur(total),
        captured_at: now(),
    })
}

pub fn failed() -> PaymentEvent {
    PaymentEvent::PaymentFailed(PaymentFailed {
        code: code("card_declined"),
        message: text("Your card was declined."),
        failed_at: now(),
    })
}

pub fn refunded(refund_id: &str, amount: i64, total: i64) -> PaymentEvent {
    PaymentEvent::PaymentRefunded(PaymentRefunded {
        order_id: order_id(),
        refund_id: ext(refund_id),
        amount: eur(amount),
        refunded_total: eur(total),
        refunded_at: now(),
        request: None,
    })
}

pub fn voided() -> PaymentEvent {
    PaymentEvent::PaymentVoided(PaymentVoided {
        order_id: order_id(),
        reason: text("order cancelled"),
        voided_at: now(),
    })
}

pub fn disputed(amount: i64) -> PaymentEvent {
    PaymentEvent::PaymentDisputed(PaymentDisputed {
        order_id: order_id(),
        dispute_id: ext("dp_1"),
        amount: eur(amount),
        reason: text("fraudulent"),
        disputed_at: now(),
    })
}

pub fn request() -> PaymentCommand {
    PaymentCommand::RequestPayment {
        payment_id: payment_id(1),
        order_id: order_id(),
        amount: eur(10_000),
        provider: code("stripe"),
    }
}

pub fn authorize(amount: i64) -> PaymentCommand {
    PaymentCommand::RecordAuthorization {
        provider_reference: ext("pi_1"),
        amount: eur(amount),
    }
}

pub fn capture(capture_id: &str, amount: Money) -> PaymentCommand {
    PaymentCommand::CapturePayment {
        capture_id: ext(capture_id),
        amount,
        provider_reference: Some(ext("pi_1")),
    }
}

pub fn refund(refund_id: &str, amount: Money) -> PaymentCommand {
    PaymentCommand::RefundPayment {
        refund_id: ext(refund_id),
        amount,
        request: None,
    }
}

pub fn void() -> PaymentCommand {
    PaymentCommand::VoidPayment {
        reason: text("order cancelled"),
    }
}

// ---- the states a payment meets ---------------------------------------------------------------

pub fn h_pending() -> Vec<PaymentEvent> {
    vec![requested()]
}
pub fn h_authorized() -> Vec<PaymentEvent> {
    vec![requested(), authorized(10_000)]
}
pub fn h_partially_captured() -> Vec<PaymentEvent> {
    [h_authorized(), vec![captured("ch_1", 4_000, 4_000)]].concat()
}
pub fn h_captured() -> Vec<PaymentEvent> {
    [h_authorized(), vec![captured("ch_1", 10_000, 10_000)]].concat()
}
pub fn h_partially_refunded() -> Vec<PaymentEvent> {
    [h_captured(), vec![refunded("re_1", 3_000, 3_000)]].concat()
}
pub fn h_refunded() -> Vec<PaymentEvent> {
    [h_captured(), vec![refunded("re_1", 10_000, 10_000)]].concat()
}
pub fn h_failed() -> Vec<PaymentEvent> {
    vec![requested(), failed()]
}
pub fn h_voided() -> Vec<PaymentEvent> {
    [h_authorized(), vec![voided()]].concat()
}

/// Every status, with the history that reaches it.
pub fn states() -> Vec<(&'static str, Vec<PaymentEvent>)> {
    vec![
        ("not requested", vec![]),
        ("pending", h_pending()),
        ("authorized", h_authorized()),
        ("partially captured", h_partially_captured()),
        ("captured", h_captured()),
        ("partially refunded", h_partially_refunded()),
        ("refunded", h_refunded()),
        ("failed", h_failed()),
        ("voided", h_voided()),
    ]
}

#[test]
pub fn each_state_history_reaches_its_status() {
    let expected = [
        None,
        Some(PaymentStatus::Pending),
        Some(PaymentStatus::Authorized),
        Some(PaymentStatus::PartiallyCaptured),
        Some(PaymentStatus::Captured),
        Some(PaymentStatus::PartiallyRefunded),
        Some(PaymentStatus::Refunded),
        Some(PaymentStatus::Failed),
        Some(PaymentStatus::Voided),
    ];
    for ((name, history), want) in states().into_iter().zip(expected) {
        let status = Payment::fold(&history).map(|p| p.status());
        assert_eq!(status, want, "{name}");
    }
}

/// Pairs each state of `states()` with its expected outcome, in the same order.
pub fn table(outcomes: [O; 9]) -> Vec<(&'static str, Vec<PaymentEvent>, O)> {
    states()
        .into_iter()
        .zip(outcomes)
        .map(|((name, history), outcome)| (name, history, outcome))
        .collect()
}
