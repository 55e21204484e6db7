//! Builders and helpers shared by the command tests.
#![allow(dead_code, clippy::unwrap_used)]

use commands::{
    process::{
        OrderCancellation, OrderCompletion, OrderFulfillment, OrderPayments, ProcessManager,
    },
    CommandHandler, CommandMeta,
};
use domain::{
    order::{Order, OrderCommand, OrderLine, PlaceOrder},
    payment::{Payment, PaymentCommand, PaymentRefundRequested},
    shipment::ShipmentLine,
    Address, Code, CountryCode, Currency, CustomerId, ExternalRef, Money, NonEmptyText, OrderId,
    PaymentId, Quantity, ShipmentId, Sku,
};
use eventlog::{EventLog, Metadata, StepState, StreamId, SubscriptionOptions};
use serde_json::Value;

/// A fixed id, so that snapshots are stable: `kind` picks the range, `n` the member.
pub fn id(kind: u128, n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | (kind << 16) | n)
}

pub fn order_id(n: u128) -> OrderId {
    id(1, n).to_string().parse().unwrap()
}

pub fn payment_id(n: u128) -> PaymentId {
    id(2, n).to_string().parse().unwrap()
}

pub fn shipment_id(n: u128) -> ShipmentId {
    id(3, n).to_string().parse().unwrap()
}

pub fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap())
}

pub fn text(s: &str) -> NonEmptyText {
    NonEmptyText::parse(s).unwrap()
}

pub fn ext(s: &str) -> ExternalRef {
    ExternalRef::parse(s).unwrap()
}

pub fn code(s: &str) -> Code {
    Code::parse(s).unwrap()
}

pub fn line(sku: &str, quantity: u32) -> ShipmentLine {
    ShipmentLine {
        sku: Sku::parse(sku).unwrap(),
        quantity: Quantity::parse(quantity).unwrap(),
    }
}

/// An order of 2 × SKU-A at 10.00 and 1 × SKU-B at 5.00 EUR: 25.00 in all.
pub fn place(order: OrderId) -> PlaceOrder {
    PlaceOrder {
        order_id: order,
        customer_id: id(4, 1).to_string().parse::<CustomerId>().unwrap(),
        currency: Currency::parse("EUR").unwrap(),
        lines: vec![
            OrderLine {
                sku: Sku::parse("SKU-A").unwrap(),
                name: text("Mug"),
                quantity: Quantity::parse(2).unwrap(),
                unit_price: eur(1000),
            },
            OrderLine {
                sku: Sku::parse("SKU-B").unwrap(),
                name: text("Tea"),
                quantity: Quantity::parse(1).unwrap(),
                unit_price: eur(500),
            },
        ],
        shipping_address: Address {
            recipient: text("Ana Lima"),
            line1: text("Hauptstrasse 1"),
            line2: None,
            postal_code: Some(text("10115")),
            city: text("Berlin"),
            country: CountryCode::parse("DE").unwrap(),
        },
        external_reference: Some(ext("SHOP-1001")),
    }
}

/// A command sent by a user through the API.
pub fn by_user(key: &str) -> CommandMeta {
    CommandMeta {
        metadata: Metadata {
            actor: Some("user:operator-1".into()),
            correlation_id: Some(format!("req-{key}")),
            source: Some("api".into()),
            request_id: Some(format!("req-{key}")),
            ..Metadata::default()
        },
        idempotency_key: Some(format!("api:{key}")),
        expected_version: None,
    }
}

/// Order `n` placed: 2 × SKU-A at 10.00 and 1 × SKU-B at 5.00 EUR.
pub async fn placed(handler: &CommandHandler, n: u128) -> OrderId {
    let order = order_id(n);
    handler
        .execute::<Order>(
            &order.to_string(),
            OrderCommand::PlaceOrder(place(order)),
            &by_user(&format!("place-{n}")),
        )
        .await
        .unwrap();
    order
}

/// Payment `n` of 25.00 EUR requested from Stripe for `order`.
pub async fn requested(handler: &CommandHandler, n: u128, order: OrderId) -> PaymentId {
    let payment = payment_id(n);
    let request = PaymentCommand::RequestPayment {
        payment_id: payment,
        order_id: order,
        amount: eur(2500),
        provider: code("stripe"),
    };
    handler
        .execute::<Payment>(&payment.to_string(), request, &by_user(&format!("pay-{n}")))
        .await
        .unwrap();
    payment
}

/// Order `n` placed, its payment `n` requested, and `captured` minor units of it captured
/// (capture `ch_{n}` of intent `pi_{n}`). The process managers have not run.
pub async fn placed_and_captured(
    handler: &CommandHandler,
    n: u128,
    captured: i64,
) -> (OrderId, PaymentId) {
    let order = placed(handler, n).await;
    let payment = requested(handler, n, order).await;
    let capture = PaymentCommand::CapturePayment {
        capture_id: ext(&format!("ch_{n}")),
        amount: eur(captured),
        provider_reference: Some(ext(&format!("pi_{n}"))),
    };
    handler
        .execute::<Payment>(&payment.to_string(), capture, &by_user("capture"))
        .await
        .unwrap();
    (order, payment)
}

/// How the tests run process managers: steps set aside come due again within milliseconds.
pub fn quick() -> SubscriptionOptions {
    SubscriptionOptions {
        backoff_base: std::time::Duration::from_millis(1),
        backoff_max: std::time::Duration::from_millis(10),
        ..SubscriptionOptions::default()
    }
}

/// Runs every process manager until none has anything left to do: nothing new in the log and
/// no step set aside that will be taken again by itself.
pub async fn settle(handler: &CommandHandler) {
    let log = handler.log();
    let options = quick();
    for _ in 0..50 {
        let head = eventlog::testing::everything_visible(log).await;
        log.catch_up(
            &ProcessManager::new(handler.clone(), OrderPayments),
            &options,
        )
        .await
        .unwrap();
        log.catch_up(
            &ProcessManager::new(handler.clone(), OrderCancellation),
            &options,
        )
        .await
        .unwrap();
        log.catch_up(
            &ProcessManager::new(handler.clone(), OrderFulfillment),
            &options,
        )
        .await
        .unwrap();
        log.catch_up(
            &ProcessManager::new(handler.clone(), OrderCompletion),
            &options,
        )
        .await
        .unwrap();
        provider_answers(handler).await;
        let pending = log
            .set_aside_steps(None)
            .await
            .unwrap()
            .iter()
            .any(|step| !matches!(step.state, StepState::Parked | StepState::Waiting));
        if !pending && eventlog::testing::everything_visible(log).await == head {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the process managers never settled");
}

/// Stripe's part, as the Stripe destination records it: every refund asked of the provider
/// and not answered yet is made, under `re_<our reference>`. (Answering twice records once.)
pub async fn provider_answers(handler: &CommandHandler) {
    eventlog::testing::everything_visible(handler.log()).await;
    let asked = handler.log().read_all(0, 100_000).await.unwrap();
    for event in asked
        .iter()
        .filter(|e| e.event_type == "PaymentRefundRequested")
    {
        let requested: PaymentRefundRequested =
            serde_json::from_value(event.payload.clone()).unwrap();
        let command = PaymentCommand::RefundPayment {
            refund_id: ext(&format!("re_{}", requested.reference)),
            amount: requested.amount,
            request: Some(requested.reference),
        };
        handler
            .execute::<Payment>(
                &event.stream.aggregate_id,
                command,
                &commands::attention::process_meta("outbound.stripe", event),
            )
            .await
            .unwrap();
    }
}

/// The stream's history as auditors read it, with ids and times replaced by stable names.
pub async fn history(log: &EventLog, aggregate: &str, id: impl ToString) -> Value {
    let events = log
        .read_stream(&StreamId::new(aggregate, id.to_string()), 1)
        .await
        .unwrap();
    let mut names = Vec::new();
    let events: Vec<Value> = events
        .into_iter()
        .map(|e| {
            serde_json::json!({
                "sequence": e.sequence,
                "event_type": e.event_type,
                "event_version": e.event_version,
                "payload": e.payload,
                "metadata": serde_json::to_value(&e.metadata).unwrap(),
            })
        })
        .collect();
    redact(Value::Array(events), &mut names)
}

/// Replaces times by `[time]` and event ids by `[event N]` (numbered by first appearance);
/// the fixed ids of the test stay as they are.
fn redact(value: Value, names: &mut Vec<String>) -> Value {
    match value {
        Value::String(s) => Value::String(redact_text(&s, names)),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| redact(v, names)).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (k, redact(v, names)))
                .collect(),
        ),
        other => other,
    }
}

fn redact_text(text: &str, names: &mut Vec<String>) -> String {
    if chrono::DateTime::parse_from_rfc3339(text).is_ok() {
        return "[time]".into();
    }
    let mut out = String::new();
    let mut rest = text;
    while rest.len() >= 36 {
        let candidate = &rest[..36];
        if uuid::Uuid::parse_str(candidate).is_ok()
            && !candidate.starts_with("01900000-0000-7000-8000")
        {
            let index = names
                .iter()
                .position(|n| n == candidate)
                .unwrap_or_else(|| {
                    names.push(candidate.to_owned());
                    names.len() - 1
                });
            out.push_str(&format!("[event {}]", index + 1));
            rest = &rest[36..];
        } else {
            let mut chars = rest.chars();
            if let Some(c) = chars.next() {
                out.push(c);
            }
            rest = chars.as_str();
        }
    }
    out.push_str(rest);
    out
}
