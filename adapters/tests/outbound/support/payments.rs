//! Payments at Stripe as the command handler records them: a history per test that ends in
//! what the Stripe destination takes (a refund or a void asked), and Stripe's answers.

use commands::CommandHandler;
use domain::{
    payment::{Payment, PaymentCommand},
    Code, ExternalRef,
};

use super::{eur, meta, order_id, payment_id};

/// Payment `n` of order `n` at Stripe (intent `pi_<n>`): requested, authorized and captured in
/// full (59.99 EUR), then `last`.
async fn paid_then(handler: &CommandHandler, n: u32, last: PaymentCommand) {
    let id = payment_id(n);
    let commands = [
        PaymentCommand::RequestPayment {
            payment_id: id.parse().unwrap(),
            order_id: order_id(n).parse().unwrap(),
            amount: eur(5_999),
            provider: Code::parse("stripe").unwrap(),
        },
        PaymentCommand::RecordAuthorization {
            provider_reference: ExternalRef::parse(&format!("pi_{n}")).unwrap(),
            amount: eur(5_999),
        },
        PaymentCommand::CapturePayment {
            capture_id: ExternalRef::parse(&format!("ch_{n}")).unwrap(),
            amount: eur(5_999),
            provider_reference: None,
        },
        last,
    ];
    for (i, command) in commands.into_iter().enumerate() {
        handler
            .execute::<Payment>(&id, command, &meta(&format!("pay-{n}-{i}")))
            .await
            .unwrap();
    }
}

/// Payment `n` of order `n` paid, then `refunded` of it refunded (as Stripe's webhook records a
/// refund: `re_<n>`).
pub async fn pay_and_refund(handler: &CommandHandler, n: u32, refunded: i64) {
    let refund = PaymentCommand::RefundPayment {
        refund_id: ExternalRef::parse(&format!("re_{n}")).unwrap(),
        amount: eur(refunded),
        request: None,
    };
    paid_then(handler, n, refund).await;
}

/// Payment `n` of order `n` paid, then `amount` of it asked to be refunded, as `refund-<n>`: a
/// `PaymentRefundRequested` for the Stripe destination.
pub async fn pay_and_ask_refund(handler: &CommandHandler, n: u32, amount: i64) {
    let ask = PaymentCommand::RequestRefund {
        reference: ExternalRef::parse(&format!("refund-{n}")).unwrap(),
        amount: eur(amount),
    };
    paid_then(handler, n, ask).await;
}

/// Payment `n` of order `n` at Stripe (intent `pi_<n>`, 59.99 EUR) requested and authorized,
/// then `ask` (a capture or a void asked of Stripe).
pub async fn authorize_and_ask(handler: &CommandHandler, n: u32, ask: PaymentCommand) {
    let id = payment_id(n);
    let commands = [
        PaymentCommand::RequestPayment {
            payment_id: id.parse().unwrap(),
            order_id: order_id(n).parse().unwrap(),
            amount: eur(5_999),
            provider: Code::parse("stripe").unwrap(),
        },
        PaymentCommand::RecordAuthorization {
            provider_reference: ExternalRef::parse(&format!("pi_{n}")).unwrap(),
            amount: eur(5_999),
        },
        ask,
    ];
    for (i, command) in commands.into_iter().enumerate() {
        handler
            .execute::<Payment>(&id, command, &meta(&format!("ask-{n}-{i}")))
            .await
            .unwrap();
    }
}

/// Stripe's refund object (its own fixture, `fixtures3.refund.json`) for `amount` of payment
/// `n`, as Stripe answers a refund asked as `refund-<n>`.
pub fn stripe_refund(n: u32, amount: i64) -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/webhooks/stripe/fixtures3.refund.json"
    );
    let mut refund: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    refund["amount"] = serde_json::json!(amount);
    refund["currency"] = serde_json::json!("eur");
    refund["payment_intent"] = serde_json::json!(format!("pi_{n}"));
    refund["metadata"] = serde_json::json!({"refund_id": format!("refund-{n}")});
    refund
}
