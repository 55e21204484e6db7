//! `backoffice serve` killed (SIGKILL) while Stripe is still answering the refund a
//! cancellation asked for: after a restart the refund is asked again with the same idempotency
//! key, so that Stripe (which answers a repeated key with the first refund) refunds once, and
//! the back office records one refund. On both backends.
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use commands::CommandHandler;
use domain::payment::Payment;
use eventlog::{testing::TestDatabase, EventLog};
use serde_json::{json, Value};
use support::{cli_with, serve, Folder};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

const STRIPE_SECRET: &str = "whsec_test_crash_stripe";
const INTENT: &str = "pi_1PgafyB7WZ01zgkWSjxsAJo3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_cancelled_order_is_refunded_at_stripe_once_across_a_kill() {
    refunded_once_across_a_kill(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_cancelled_order_is_refunded_at_stripe_once_across_a_kill() {
    refunded_once_across_a_kill(Some(TestDatabase::postgres().await)).await;
}

async fn eventually(within: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < deadline, "never came to pass: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// How many refunds were asked of `stripe`.
async fn refunds_asked(stripe: &MockServer) -> usize {
    stripe
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == "/v1/refunds")
        .count()
}

fn fixture(name: &str) -> Value {
    let file = format!("../adapters/tests/fixtures/webhooks/stripe/{name}");
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

async fn refunded_once_across_a_kill(db: Option<TestDatabase>) {
    let mut refund = fixture("fixtures3.refund.json");
    refund["amount"] = json!(2_500);
    refund["currency"] = json!("eur");
    refund["payment_intent"] = json!(INTENT);
    // Stripe takes its time: the service is killed while the call is in flight.
    let stripe = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/refunds"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(refund)
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&stripe)
        .await;
    let stripe_uri = stripe.uri();
    let folder = Folder::new();
    let mut env = vec![
        ("BACKOFFICE_OUTBOUND__STRIPE__BASE_URL", stripe_uri.as_str()),
        ("BACKOFFICE_OUTBOUND__STRIPE__SECRET_KEY", "sk_test_crash"),
        ("BACKOFFICE_WEBHOOKS__STRIPE", STRIPE_SECRET),
    ];
    if let Some(db) = &db {
        env.push(("DATABASE_URL", db.url.as_str()));
    }
    let (ok, token, stderr) = cli_with(
        &folder.0,
        &env,
        &["users", "create", "--name", "ops", "--role", "admin"],
    );
    assert!(ok, "{stderr}");
    let token = token.trim().to_owned();
    let mut first = serve(&folder.0, &env);
    let base = format!("http://{}", first.address);
    let client = reqwest::Client::new();
    let post = async |path: &str, body: Value| -> Value {
        let response = client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    };

    // An order paid at Stripe (its payment intent known from Stripe's webhook).
    let order = post(
        "/api/v1/orders",
        json!({
            "customer_id": uuid::Uuid::now_v7(), "currency": "EUR",
            "lines": [{"sku": "SKU-A", "name": "Mug", "quantity": 1, "unit_price_minor": 2500}],
            "shipping_address": {"recipient": "Ana Lima", "line1": "Hauptstrasse 1",
                                 "city": "Berlin", "country": "DE"}
        }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let payment = post(
        "/api/v1/payments",
        json!({"order_id": order, "amount_minor": 2500, "currency": "EUR", "provider": "stripe"}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut succeeded = fixture("evt_payment_intent.succeeded.json");
    let intent = &mut succeeded["data"]["object"];
    intent["amount"] = json!(2_500);
    intent["amount_received"] = json!(2_500);
    intent["currency"] = json!("eur");
    intent["metadata"] = json!({"payment_id": payment, "order_id": order});
    let body = serde_json::to_vec(&succeeded).unwrap();
    let signature = adapters::inbound::signature::StripeVerifier::new(STRIPE_SECRET)
        .unwrap()
        .sign(chrono::Utc::now().timestamp(), &body);
    let delivered = client
        .post(format!("{base}/webhooks/stripe"))
        .header("content-type", "application/json")
        .header("stripe-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(delivered.status().as_u16(), 202);
    let read_payment = async || -> Value {
        client
            .get(format!("{base}/api/v1/payments/{payment}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    eventually(Duration::from_secs(30), "the capture", async || {
        read_payment().await["status"] == "captured"
    })
    .await;

    // Cancelled: the cancellation asks Stripe for the refund; killed while Stripe answers.
    post(
        &format!("/api/v1/orders/{order}/cancel"),
        json!({"reason": "customer asked"}),
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "the refund asked of Stripe",
        async || refunds_asked(&stripe).await > 0,
    )
    .await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    let _second = serve(&folder.0, &env);
    let log = match &db {
        Some(db) => db.log().await,
        None => {
            let url = format!("sqlite:{}", folder.0.join("data/backoffice.db").display());
            EventLog::connect(&url, &eventlog::ConnectOptions::default())
                .await
                .unwrap()
        }
    };
    let handler = CommandHandler::new(log.clone());
    eventually(Duration::from_secs(60), "the refund recorded", async || {
        let (state, _) = handler.load::<Payment>(&payment).await.unwrap();
        state.unwrap().refunded.amount_minor == 2_500
    })
    .await;

    // (The service also pulls Stripe's events, `GET /v1/events`: not counted here.)
    let calls: Vec<wiremock::Request> = stripe
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/v1/refunds")
        .collect();
    let keys: HashSet<String> = calls
        .iter()
        .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_owned())
        .collect();
    assert!(
        calls.len() >= 2,
        "asked again after the restart: {}",
        calls.len()
    );
    assert_eq!(keys.len(), 1, "one key, so one refund at Stripe: {keys:?}");
    let refunds = log
        .read_all(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.event_type == "PaymentRefunded")
        .count();
    assert_eq!(refunds, 1, "one refund recorded");
    let (state, _) = handler.load::<Payment>(&payment).await.unwrap();
    assert_eq!(state.unwrap().refund_pending().amount_minor, 0);
}
