//! What the inbox tests share: a router and worker over a test database, signed requests per
//! source, the entities deliveries refer to, and running the read models.
#![allow(dead_code)]

use std::time::Duration;

use adapters::inbound::{
    admin_routes, routes,
    signature::{EasyPostVerifier, StandardWebhooksVerifier, StripeVerifier},
    WebhookSecrets, WebhookState, Worker, WorkerOptions,
};
use axum::{
    body::Body,
    http::{Request, StatusCode},
    Router,
};
use chrono::Utc;
use commands::{CommandHandler, CommandMeta};
use domain::{
    order::{Order, OrderCommand, OrderLine, PlaceOrder},
    payment::{Payment, PaymentCommand},
    shipment::{Shipment, ShipmentCommand, ShipmentLine},
    Address, Code, CountryCode, Currency, CustomerId, ExternalRef, Money, NonEmptyText, OrderId,
    PaymentId, Quantity, ShipmentId, Sku,
};
use eventlog::{EventLog, SubscriptionOptions};
use projections::{ReadModel, ReadModelProjection};
use serde_json::Value;
use tower::ServiceExt;

pub const STRIPE_SECRET: &str = "whsec_test_stripe_secret";
pub const EASYPOST_SECRET: &str = "sécret";
pub const ERP_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const CRM_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

/// The payment the Stripe fixtures name (`metadata.payment_id` of the refund example).
pub const FIXTURE_PAYMENT: &str = "0190e8a0-0000-7000-8000-0000000000aa";
/// The payment intent of every Stripe fixture.
pub const FIXTURE_INTENT: &str = "pi_1PgafyB7WZ01zgkWSjxsAJo3";
/// The order the ERP invoice example names.
pub const FIXTURE_ORDER: &str = "0190e8a0-0000-7000-8000-000000000001";

/// The router, the admin router and a worker with short delays, over `log`.
pub struct App {
    pub log: EventLog,
    pub state: WebhookState,
    pub router: Router,
    pub admin: Router,
    pub worker: Worker,
    pub handler: CommandHandler,
}

pub fn secrets() -> WebhookSecrets {
    serde_json::from_value(serde_json::json!({
        "stripe": ["whsec_retired_secret", STRIPE_SECRET],
        "easypost": EASYPOST_SECRET,
        "erp": ERP_SECRET,
        "crm": CRM_SECRET,
    }))
    .unwrap()
}

pub fn fast_options() -> WorkerOptions {
    WorkerOptions {
        backoff_base: Duration::ZERO,
        backoff_max: Duration::ZERO,
        unmatched_recheck: Duration::ZERO,
        max_failures: 3,
        ..WorkerOptions::default()
    }
}

pub async fn app(log: EventLog) -> App {
    projections::create_tables(&log).await.unwrap();
    let state = WebhookState::new(log.clone(), secrets().verifiers().unwrap());
    App {
        router: routes(state.clone()),
        admin: admin_routes(state.clone()),
        worker: Worker::new(log.clone(), fast_options()),
        handler: CommandHandler::new(log.clone()),
        state,
        log,
    }
}

/// A request to one of the webhook endpoints.
pub fn post(path: &str, headers: &[(&str, String)], body: impl Into<Vec<u8>>) -> Request<Body> {
    let mut request = Request::post(path).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    request.body(Body::from(body.into())).unwrap()
}

/// Sends `request` through `router`: the status and the body as JSON (null when empty).
pub async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, json)
}

/// A Stripe delivery of `body`, signed now with the current secret.
pub fn stripe(body: &[u8]) -> Request<Body> {
    let verifier = StripeVerifier::new(STRIPE_SECRET).unwrap();
    let header = verifier.sign(Utc::now().timestamp(), body);
    post(
        "/webhooks/stripe",
        &[("stripe-signature", header)],
        body.to_vec(),
    )
}

/// An EasyPost delivery of `body`.
pub fn easypost(body: &[u8]) -> Request<Body> {
    let header = EasyPostVerifier::new(EASYPOST_SECRET).unwrap().sign(body);
    post(
        "/webhooks/easypost",
        &[("x-hmac-signature", header)],
        body.to_vec(),
    )
}

/// A Standard Webhooks delivery of `body` with message id `id` to `/webhooks/{erp,crm}`.
pub fn standard(source: &str, id: &str, body: &[u8]) -> Request<Body> {
    let secret = if source == "erp" {
        ERP_SECRET
    } else {
        CRM_SECRET
    };
    let now = Utc::now().timestamp();
    let signature = StandardWebhooksVerifier::new(secret)
        .unwrap()
        .sign(id, now, body);
    post(
        &format!("/webhooks/{source}"),
        &[
            ("webhook-id", id.to_owned()),
            ("webhook-timestamp", now.to_string()),
            ("webhook-signature", signature),
        ],
        body.to_vec(),
    )
}

pub fn meta(key: &str) -> CommandMeta {
    CommandMeta {
        idempotency_key: Some(format!("test:{key}")),
        ..CommandMeta::default()
    }
}

pub fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::parse("USD").unwrap())
}

/// The order the Stripe fixtures' payments pay: 10.99 USD (the fixture order is in EUR).
pub const PAYMENT_ORDER: &str = "0190e8a0-0000-7000-8000-000000000002";

/// A Stripe payment of 10.99 USD, requested but not yet authorized, for `PAYMENT_ORDER`
/// (placed first if it is not: an order decides its payments, ADR 0009).
pub async fn request_payment(app: &App, payment: &str) {
    let mut place = fixture_order(PAYMENT_ORDER);
    place.currency = Currency::parse("USD").unwrap();
    place.lines[0].quantity = Quantity::parse(1).unwrap();
    place.lines[0].unit_price = usd(1099);
    app.handler
        .execute::<Order>(
            PAYMENT_ORDER,
            OrderCommand::PlaceOrder(place),
            &meta("place-payment-order"),
        )
        .await
        .unwrap();
    let command = PaymentCommand::RequestPayment {
        payment_id: payment.parse::<PaymentId>().unwrap(),
        order_id: PAYMENT_ORDER.parse::<OrderId>().unwrap(),
        amount: usd(1099),
        provider: Code::parse("stripe").unwrap(),
    };
    app.handler
        .execute::<Payment>(payment, command, &meta(&format!("request-{payment}")))
        .await
        .unwrap();
}

/// The fixture order: 2 × TSHIRT-BLK-M at 24.99 EUR.
pub async fn place_order(app: &App) {
    app.handler
        .execute::<Order>(
            FIXTURE_ORDER,
            OrderCommand::PlaceOrder(fixture_order(FIXTURE_ORDER)),
            &meta("place"),
        )
        .await
        .unwrap();
}

/// An order like the fixture order under id `id`.
fn fixture_order(id: &str) -> PlaceOrder {
    let text = |s: &str| NonEmptyText::parse(s).unwrap();
    PlaceOrder {
        order_id: id.parse().unwrap(),
        customer_id: "0190e8a0-0000-7000-8000-0000000000c1"
            .parse::<CustomerId>()
            .unwrap(),
        currency: Currency::parse("EUR").unwrap(),
        lines: vec![OrderLine {
            sku: Sku::parse("TSHIRT-BLK-M").unwrap(),
            name: text("T-shirt, black, M"),
            quantity: Quantity::parse(2).unwrap(),
            unit_price: Money::new(2499, Currency::parse("EUR").unwrap()),
        }],
        shipping_address: Address {
            recipient: text("Jenny Rosen"),
            line1: text("Hauptstrasse 1"),
            line2: None,
            postal_code: Some(text("10115")),
            city: text("Berlin"),
            country: CountryCode::parse("DE").unwrap(),
        },
        external_reference: None,
    }
}

/// A shipment of the fixture order (allocated on it, then created as the fulfillment process
/// creates it) with a label for `tracking_number`.
pub async fn labelled_shipment(app: &App, shipment: &str, tracking_number: &str) {
    let allocate = OrderCommand::AllocateShipment {
        shipment_id: shipment.parse::<ShipmentId>().unwrap(),
        carrier: Code::parse("fedex").unwrap(),
        lines: vec![ShipmentLine {
            sku: Sku::parse("TSHIRT-BLK-M").unwrap(),
            quantity: Quantity::parse(2).unwrap(),
        }],
    };
    app.handler
        .execute::<Order>(
            FIXTURE_ORDER,
            allocate,
            &meta(&format!("allocate-{shipment}")),
        )
        .await
        .unwrap();
    let create = ShipmentCommand::CreateShipment {
        shipment_id: shipment.parse::<ShipmentId>().unwrap(),
        order_id: FIXTURE_ORDER.parse().unwrap(),
        carrier: Code::parse("fedex").unwrap(),
        lines: vec![ShipmentLine {
            sku: Sku::parse("TSHIRT-BLK-M").unwrap(),
            quantity: Quantity::parse(2).unwrap(),
        }],
    };
    app.handler
        .execute::<Shipment>(shipment, create, &meta(&format!("create-{shipment}")))
        .await
        .unwrap();
    let label = ShipmentCommand::RecordLabel {
        tracking_number: ExternalRef::parse(tracking_number).unwrap(),
    };
    app.handler
        .execute::<Shipment>(shipment, label, &meta(&format!("label-{shipment}")))
        .await
        .unwrap();
}

/// Runs the payments and shipments read models up to everything appended.
pub async fn project(log: &EventLog) {
    let head = appended(log).await;
    assert!(log
        .wait_until_visible(head, Duration::from_secs(30))
        .await
        .unwrap());
    for model in [ReadModel::Payments, ReadModel::Shipments, ReadModel::Orders] {
        log.catch_up_projection(
            &ReadModelProjection::new(log.clone(), model),
            &SubscriptionOptions::default(),
        )
        .await
        .unwrap();
    }
}

async fn appended(log: &EventLog) -> i64 {
    let sql = "SELECT coalesce(max(position), 0) FROM events";
    eventlog::on_readers!(log, |pool, _time| sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap())
}

/// Processes the inbox, then projects.
pub async fn work(app: &App) -> usize {
    let processed = app.worker.process_available().await.unwrap();
    project(&app.log).await;
    processed
}

/// A scalar query on either backend.
pub async fn count(log: &EventLog, sql: &str) -> i64 {
    eventlog::on_readers!(log, |pool, _time| sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap())
}

/// A delivery's row as the admin API shows it.
pub async fn delivery(app: &App, source: &str, event_id: &str) -> Value {
    let request = Request::get(format!("/deliveries/{source}/{event_id}"))
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(&app.admin, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// A Stripe event around `object`.
pub fn stripe_event(id: &str, event_type: &str, object: Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": id, "object": "event", "type": event_type, "created": 1721950000,
        "livemode": false, "data": {"object": object}
    }))
    .unwrap()
}

/// The fixture payment intent in another state.
pub fn intent(status: &str, capturable: i64, received: i64, metadata: Value) -> Value {
    let mut object = adapters_fixture("stripe/fixtures3.payment_intent.json");
    object["status"] = status.into();
    object["amount_capturable"] = capturable.into();
    object["amount_received"] = received.into();
    object["metadata"] = metadata;
    object
}

/// A fixture file as JSON.
pub fn adapters_fixture(relative: &str) -> Value {
    serde_json::from_slice(&fixture(relative)).unwrap()
}

/// A fixture file's exact bytes.
pub fn fixture(relative: &str) -> Vec<u8> {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhooks")
        .join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
