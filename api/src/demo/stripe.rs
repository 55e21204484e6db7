//! Simulated Stripe: payment intents the demo's customers pay (authorized for a later capture,
//! charged at once, or declined), the API the service's `stripe` destination calls (capture,
//! cancel, refund; answers replayed per `Idempotency-Key`, as Stripe does), and the events it
//! sends for each change (`payment_intent.*`, `charge.refunded`), in the shapes of Stripe's
//! API version 2024-06-20 (docs/integrations/stripe.md).

use std::{collections::HashMap, time::Duration};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
};
use chrono::Utc;
use serde_json::{json, Value};

use super::partners::{answer, authorized, form, lock, random, Partners, Source};

/// What simulated Stripe knows.
#[derive(Debug, Default)]
pub struct Book {
    intents: HashMap<String, Intent>,
    /// The answers given, per `Idempotency-Key`.
    answers: HashMap<String, (u16, Value)>,
}

/// A payment intent.
#[derive(Debug, Clone)]
struct Intent {
    id: String,
    payment_id: String,
    order_id: String,
    amount: i64,
    /// Lowercase, as Stripe writes it.
    currency: String,
    manual: bool,
    status: &'static str,
    received: i64,
    refunded: i64,
    charge: Option<String>,
    refunds: Vec<Value>,
    error: Value,
    created: i64,
}

/// A payment the service asked a customer for, as the demo's customer pays it.
#[derive(Debug, Clone, Copy)]
pub struct Payment<'a> {
    pub payment_id: &'a str,
    pub order_id: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
}

/// How the customer pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paid {
    /// Authorized now, captured later (`capture_method: manual`).
    Authorized,
    /// Charged at once (`capture_method: automatic`).
    Charged,
    /// Declined by the bank.
    Declined,
}

impl Intent {
    fn metadata(&self) -> Value {
        json!({"order_id": self.order_id, "payment_id": self.payment_id})
    }

    fn json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "payment_intent",
            "amount": self.amount,
            "amount_capturable": if self.status == "requires_capture" { self.amount } else { 0 },
            "amount_received": self.received,
            "capture_method": if self.manual { "manual" } else { "automatic" },
            "currency": self.currency,
            "status": self.status,
            "latest_charge": self.charge,
            "last_payment_error": self.error,
            "metadata": self.metadata(),
            "livemode": false,
            "created": self.created,
        })
    }

    fn charge_json(&self) -> Value {
        let charge = self.charge.clone().unwrap_or_default();
        json!({
            "id": charge,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": self.received,
            "amount_refunded": self.refunded,
            "captured": self.received > 0,
            "refunded": self.received > 0 && self.refunded >= self.received,
            "currency": self.currency,
            "status": "succeeded",
            "paid": true,
            "payment_intent": self.id,
            "metadata": self.metadata(),
            "refunds": {
                "object": "list",
                "data": self.refunds,
                "has_more": false,
                "url": format!("/v1/charges/{charge}/refunds"),
            },
            "livemode": false,
            "created": self.created,
        })
    }

    fn capture(&mut self, amount: i64) {
        self.status = "succeeded";
        self.received = amount;
        self.charge = Some(format!("ch_{}", random(24)));
    }
}

/// A Stripe event around `object`.
fn event(kind: &str, object: Value) -> Value {
    json!({
        "id": format!("evt_{}", random(24)),
        "object": "event",
        "api_version": "2024-06-20",
        "created": Utc::now().timestamp(),
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": null, "idempotency_key": null},
        "type": kind,
        "data": {"object": object},
    })
}

/// Stripe's error answer.
fn error(status: u16, code: &str, message: &str) -> (u16, Value, Option<Value>) {
    let body = json!({"error": {
        "type": "invalid_request_error",
        "code": code,
        "message": message,
    }});
    (status, body, None)
}

/// How long Stripe takes to send the event of a change the service asked for.
const EVENT_DELAY: Duration = Duration::from_millis(800);

impl Partners {
    /// The customer pays `payment` as `how` says; Stripe sends its event.
    pub async fn stripe_pay(&self, payment: Payment<'_>, how: Paid) -> anyhow::Result<()> {
        let mut intent = Intent {
            id: format!("pi_{}", random(24)),
            payment_id: payment.payment_id.to_owned(),
            order_id: payment.order_id.to_owned(),
            amount: payment.amount_minor,
            currency: payment.currency.to_ascii_lowercase(),
            manual: how == Paid::Authorized,
            status: "requires_capture",
            received: 0,
            refunded: 0,
            charge: None,
            refunds: Vec::new(),
            error: Value::Null,
            created: Utc::now().timestamp(),
        };
        let kind = match how {
            Paid::Authorized => "payment_intent.amount_capturable_updated",
            Paid::Charged => {
                intent.capture(payment.amount_minor);
                "payment_intent.succeeded"
            }
            Paid::Declined => {
                intent.status = "requires_payment_method";
                intent.error = json!({
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds.",
                });
                "payment_intent.payment_failed"
            }
        };
        let body = event(kind, intent.json());
        lock(&self.inner().stripe)
            .intents
            .insert(intent.id.clone(), intent);
        self.deliver(Source::Stripe, &body).await
    }

    /// Answers a call of the service's `stripe` destination: checks its key, replays the answer
    /// given to the same `Idempotency-Key`, else runs `call` on the book and sends the event of
    /// what changed.
    fn stripe_call(
        &self,
        headers: &HeaderMap,
        call: impl FnOnce(&mut Book) -> (u16, Value, Option<Value>),
    ) -> Response {
        if !authorized(headers, &self.inner().keys.stripe_authorization) {
            let (status, body, _) = error(401, "api_key_invalid", "Invalid API Key provided.");
            return answer(status, body);
        }
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let (status, body, news) = {
            let mut book = lock(&self.inner().stripe);
            if let Some((status, body)) = key.as_ref().and_then(|k| book.answers.get(k)) {
                return answer(*status, body.clone());
            }
            let (status, body, news) = call(&mut book);
            if let Some(key) = key {
                book.answers.insert(key, (status, body.clone()));
            }
            (status, body, news)
        };
        if let Some(news) = news {
            self.deliver_later(Source::Stripe, news, EVENT_DELAY);
        }
        answer(status, body)
    }
}

/// `POST /v1/payment_intents/{id}/capture`.
pub async fn capture(
    State(partners): State<Partners>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let fields = form(&body);
    partners.stripe_call(&headers, |book| {
        let Some(intent) = book.intents.get_mut(&id) else {
            return error(
                404,
                "resource_missing",
                &format!("No such payment_intent: '{id}'"),
            );
        };
        if intent.status != "requires_capture" {
            return error(
                400,
                "payment_intent_unexpected_state",
                &format!(
                    "This PaymentIntent could not be captured because it has a status of {}.",
                    intent.status
                ),
            );
        }
        let amount = fields
            .get("amount_to_capture")
            .and_then(|a| a.parse::<i64>().ok())
            .unwrap_or(intent.amount)
            .min(intent.amount);
        intent.capture(amount);
        let news = event("payment_intent.succeeded", intent.json());
        (200, intent.json(), Some(news))
    })
}

/// `POST /v1/payment_intents/{id}/cancel`.
pub async fn cancel(
    State(partners): State<Partners>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    partners.stripe_call(&headers, |book| {
        let Some(intent) = book.intents.get_mut(&id) else {
            return error(
                404,
                "resource_missing",
                &format!("No such payment_intent: '{id}'"),
            );
        };
        if !matches!(
            intent.status,
            "requires_capture" | "requires_payment_method"
        ) {
            return error(
                400,
                "payment_intent_unexpected_state",
                &format!(
                    "You cannot cancel this PaymentIntent because it has a status of {}.",
                    intent.status
                ),
            );
        }
        intent.status = "canceled";
        let news = event("payment_intent.canceled", intent.json());
        (200, intent.json(), Some(news))
    })
}

/// `POST /v1/refunds`.
pub async fn refund(State(partners): State<Partners>, headers: HeaderMap, body: Bytes) -> Response {
    let fields = form(&body);
    partners.stripe_call(&headers, |book| {
        let id = fields.get("payment_intent").cloned().unwrap_or_default();
        let Some(intent) = book.intents.get_mut(&id) else {
            return error(
                404,
                "resource_missing",
                &format!("No such payment_intent: '{id}'"),
            );
        };
        let left = intent.received - intent.refunded;
        let amount = fields
            .get("amount")
            .and_then(|a| a.parse::<i64>().ok())
            .unwrap_or(left);
        if left <= 0 {
            return error(
                400,
                "charge_already_refunded",
                "This charge has already been refunded.",
            );
        }
        if amount <= 0 || amount > left {
            return error(
                400,
                "amount_too_large",
                &format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({left})."),
            );
        }
        let metadata: serde_json::Map<String, Value> = fields
            .iter()
            .filter_map(|(key, value)| {
                let name = key.strip_prefix("metadata[")?.strip_suffix(']')?;
                Some((name.to_owned(), Value::String(value.clone())))
            })
            .collect();
        let refund = json!({
            "id": format!("re_{}", random(24)),
            "object": "refund",
            "amount": amount,
            "currency": intent.currency,
            "status": "succeeded",
            "reason": "requested_by_customer",
            "charge": intent.charge,
            "payment_intent": intent.id,
            "metadata": metadata,
            "created": Utc::now().timestamp(),
        });
        intent.refunded += amount;
        intent.refunds.push(refund.clone());
        let news = event("charge.refunded", intent.charge_json());
        (200, refund, Some(news))
    })
}
