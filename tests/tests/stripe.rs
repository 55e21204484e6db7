//! Refunds executed at Stripe, through the real router and workers, against an HTTP mock of
//! Stripe's API answering with Stripe's own refund object: a refund asked through the API is
//! held back as pending, sent once as `POST /v1/refunds` with an idempotency key, recorded under
//! Stripe's id when Stripe answers; the signed `charge.refunded` webhook Stripe sends about it
//! afterwards changes nothing. Both backends.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use api::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{new_order, App};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

const REFUND_ID: &str = "re_1Pgc72B7WZ01zgkWqPvrRrPE";
const INTENT: &str = "pi_1PgafyB7WZ01zgkWSjxsAJo3";
const CHARGE: &str = "ch_1PgafuB7WZ01zgkWXYmPNZs8";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_sqlite_a_refund_is_made_once_at_stripe_and_its_webhook_changes_nothing() {
    a_refund_is_made_once_at_stripe_and_its_webhook_changes_nothing(
        eventlog::testing::TestDatabase::sqlite(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgresql_a_refund_is_made_once_at_stripe_and_its_webhook_changes_nothing() {
    a_refund_is_made_once_at_stripe_and_its_webhook_changes_nothing(
        eventlog::testing::TestDatabase::postgres().await,
    )
    .await;
}

/// An order of 25 EUR and its payment at Stripe, requested: their ids.
async fn order_with_a_payment(app: &App) -> (String, String) {
    let (status, placed) = app
        .post(Role::Operator, "/api/v1/orders", new_order())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    let order = placed["id"].as_str().unwrap().to_owned();
    let (status, payment) = app
        .post(Role::Operator, "/api/v1/payments", json!({"order_id": order, "amount_minor": 2500, "currency": "EUR", "provider": "stripe"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    (order, payment["id"].as_str().unwrap().to_owned())
}

/// Stripe's own fixture, as its API or webhooks send it, with `edit` applied.
fn fixture(name: &str, edit: impl FnOnce(&mut Value)) -> Value {
    let file = format!("../adapters/tests/fixtures/webhooks/stripe/{name}");
    let mut value: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    edit(&mut value);
    value
}

async fn a_refund_is_made_once_at_stripe_and_its_webhook_changes_nothing(
    db: eventlog::testing::TestDatabase,
) {
    let reference = "refund-e2e-1";
    let refund = fixture("fixtures3.refund.json", |r| {
        r["amount"] = json!(1_000);
        r["currency"] = json!("eur");
        r["payment_intent"] = json!(INTENT);
        r["metadata"] = json!({"refund_id": reference});
    });
    let stripe = MockServer::start().await;
    // Slow enough that the pending refund shows before Stripe's answer.
    Mock::given(method("POST"))
        .and(path("/v1/refunds"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(refund.clone())
                .set_delay(Duration::from_millis(1_500)),
        )
        .mount(&stripe)
        .await;
    let outbound = serde_json::from_value(json!({"stripe": {
        "base_url": stripe.uri(), "secret_key": "sk_test_e2e",
    }}))
    .unwrap();
    let app = App::start_sending(db, eventlog::SubscriptionOptions::default(), outbound).await;

    // A payment Stripe tells us about: its payment intent is known, so refunds go to Stripe.
    let (order, payment) = order_with_a_payment(&app).await;
    let succeeded = fixture("evt_payment_intent.succeeded.json", |e| {
        let intent = &mut e["data"]["object"];
        intent["amount"] = json!(2_500);
        intent["amount_received"] = json!(2_500);
        intent["currency"] = json!("eur");
        intent["metadata"] = json!({"payment_id": payment, "order_id": order});
    });
    assert_eq!(app.stripe_delivery(&succeeded).await, StatusCode::ACCEPTED);
    let path_of_payment = format!("/api/v1/payments/{payment}");
    app.eventually(&path_of_payment, |p| {
        p["status"] == "captured" && p["provider_reference"] == INTENT
    })
    .await;

    // The refund, asked through the API: pending until Stripe answers, then Stripe's.
    let (status, asked) = app
        .post(
            Role::Finance,
            &format!("/api/v1/payments/{payment}/refund"),
            json!({"amount_minor": 1_000, "reference": reference}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{asked}");
    let pending = app
        .eventually(&path_of_payment, |p| p["refund_pending_minor"] == 1_000)
        .await;
    assert_eq!(
        pending["refunded_minor"], 0,
        "not refunded before Stripe says so"
    );
    let done = app
        .eventually(&path_of_payment, |p| p["refunded_minor"] == 1_000)
        .await;
    assert_eq!(done["refund_pending_minor"], 0);
    assert_eq!(done["status"], "partially_refunded");

    // (The service also pulls Stripe's events, `GET /v1/events`: not counted here.)
    let refunds_asked = async || -> Vec<wiremock::Request> {
        stripe
            .received_requests()
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.url.path() == "/v1/refunds")
            .collect()
    };
    let calls = refunds_asked().await;
    assert_eq!(calls.len(), 1, "one refund asked of Stripe");
    let body = String::from_utf8(calls[0].body.clone()).unwrap();
    assert!(
        body.contains(&format!("payment_intent={INTENT}")) && body.contains("amount=1000"),
        "{body}"
    );
    assert!(calls[0].headers.get("idempotency-key").is_some());
    let history_path = format!("/api/v1/audit/streams/payment/{payment}");
    let (status, before) = app.get(Role::Auditor, &history_path).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    let recorded: Vec<&Value> = before
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "PaymentRefunded")
        .collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["payload"]["refund_id"], REFUND_ID);
    assert_eq!(recorded[0]["payload"]["request"], reference);

    // Stripe's webhook about the same refund: recognised by its id, nothing changes.
    let charge_refunded = fixture("fixtures3.charge.json", |charge| {
        charge["amount"] = json!(2_500);
        charge["amount_captured"] = json!(2_500);
        charge["amount_refunded"] = json!(1_000);
        charge["currency"] = json!("eur");
        charge["refunded"] = json!(false);
        charge["payment_intent"] = json!(INTENT);
        charge["refunds"] = json!({"object": "list", "data": [refund], "has_more": false,
            "url": format!("/v1/charges/{CHARGE}/refunds")});
    });
    let event = json!({"id": "evt_e2e_charge_refunded", "object": "event",
        "type": "charge.refunded", "created": 1_721_950_000, "livemode": false,
        "data": {"object": charge_refunded}});
    assert_eq!(app.stripe_delivery(&event).await, StatusCode::ACCEPTED);
    app.eventually(
        "/api/v1/admin/webhooks/deliveries/stripe/evt_e2e_charge_refunded",
        |delivery| delivery["status"] == "done",
    )
    .await;
    let (_, after) = app.get(Role::Auditor, &history_path).await;
    assert_eq!(
        after.as_array().unwrap().len(),
        before.as_array().unwrap().len(),
        "the webhook recorded nothing new: {after}"
    );
    let (_, row) = app.get(Role::Viewer, &path_of_payment).await;
    assert_eq!(
        (
            row["refunded_minor"].as_i64(),
            row["refund_pending_minor"].as_i64()
        ),
        (Some(1_000), Some(0))
    );
    assert_eq!(refunds_asked().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_sqlite_a_pull_applies_what_webhooks_missed_once() {
    a_pull_applies_what_webhooks_missed_once(App::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgresql_a_pull_applies_what_webhooks_missed_once() {
    a_pull_applies_what_webhooks_missed_once(App::postgres().await).await;
}

/// Stripe holds 30 events (a payment succeeding each), of which webhooks delivered 20: one pull
/// stores the other 10 and the worker applies each once; a second pull stores nothing.
async fn a_pull_applies_what_webhooks_missed_once(app: App) {
    const EVENTS: usize = 30;
    // Created in the last hour: within the first pull's look back.
    let base = chrono::Utc::now().timestamp() - 3_600;
    let mut events = Vec::new();
    let mut payments = Vec::new();
    for i in 0..EVENTS {
        let (order, payment) = order_with_a_payment(&app).await;
        payments.push(payment.clone());
        events.push(fixture("evt_payment_intent.succeeded.json", |e| {
            e["id"] = json!(format!("evt_pull_{i:02}"));
            e["created"] = json!(base + i64::try_from(i).unwrap());
            let intent = &mut e["data"]["object"];
            intent["id"] = json!(format!("pi_pull_{i:02}"));
            intent["latest_charge"] = json!(format!("ch_pull_{i:02}"));
            intent["amount"] = json!(2_500);
            intent["amount_received"] = json!(2_500);
            intent["currency"] = json!("eur");
            intent["metadata"] = json!({"payment_id": payment, "order_id": order});
        }));
    }
    for event in &events[..20] {
        assert_eq!(app.stripe_delivery(event).await, StatusCode::ACCEPTED);
    }

    // Stripe lists newest first, 15 to a page here, the next page after the last id.
    let stripe = MockServer::start().await;
    let newest_first: Vec<Value> = events.iter().rev().cloned().collect();
    Mock::given(method("GET"))
        .and(path("/v1/events"))
        .and(wiremock::matchers::query_param(
            "starting_after",
            "evt_pull_15",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"object": "list", "data": newest_first[15..], "has_more": false}),
        ))
        .with_priority(1)
        .mount(&stripe)
        .await;
    Mock::given(method("GET"))
        .and(path("/v1/events"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"object": "list", "data": newest_first[..15], "has_more": true}),
            ),
        )
        .mount(&stripe)
        .await;
    // Reconciliation reads each payment intent: Stripe agrees with us on all but one, which it
    // refunded in part without any event about it reaching us.
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex(
            r"^/v1/payment_intents/pi_pull_\d\d$",
        ))
        .respond_with(|request: &wiremock::Request| {
            let id = request.url.path().rsplit('/').next().unwrap().to_owned();
            let refunded = if id == "pi_pull_07" { 1_000 } else { 0 };
            ResponseTemplate::new(200).set_body_json(json!({
                "id": id, "object": "payment_intent", "amount": 2_500,
                "amount_received": 2_500, "currency": "eur", "status": "succeeded",
                "latest_charge": {"id": id.replace("pi_", "ch_"), "object": "charge",
                                  "amount_captured": 2_500, "amount_refunded": refunded},
            }))
        })
        .mount(&stripe)
        .await;
    let pull = adapters::inbound::pull::StripePull::new(
        &stripe.uri(),
        "sk_test_pull".to_owned().into(),
        app.state.webhooks.inbox().clone(),
        app.state.webhooks.wake(),
    )
    .unwrap();
    let first = pull.run_once().await.unwrap();
    assert_eq!(
        (
            first.fetched,
            first.stored,
            first.duplicates,
            first.error.as_deref()
        ),
        (30, 10, 20, None)
    );
    assert_eq!(first.next_since, base + 29, "the newest event seen");

    // Every payment captured, each once.
    app.eventually("/api/v1/payments?status=captured&limit=50", |page| {
        page["items"]
            .as_array()
            .is_some_and(|items| items.len() == EVENTS)
    })
    .await;
    let captured = || async {
        eventlog::testing::everything_visible(&app.log).await;
        app.log
            .read_all(0, 100_000)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.event_type == "PaymentCaptured")
            .count()
    };
    assert_eq!(captured().await, EVENTS);

    // The one difference is a mismatch before a person, once, and only that one.
    let mismatched = payments[7].clone();
    let found = app
        .eventually("/api/v1/attention?status=open", |page| {
            page["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
        })
        .await;
    let items = found["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{found}");
    assert_eq!(items[0]["rule"], "provider_mismatch");
    assert_eq!(
        items[0]["cause_stream"],
        format!("payment/{mismatched}").as_str()
    );
    assert_eq!(items[0]["cause_event_type"], "PaymentMismatchFound");
    assert_eq!(items[0]["process"], "process:payment-reconciliation");
    let mismatches = || async {
        eventlog::testing::everything_visible(&app.log).await;
        app.log
            .read_all(0, 100_000)
            .await
            .unwrap()
            .iter()
            .filter(|e| e.event_type == "PaymentMismatchFound")
            .map(|e| e.payload.clone())
            .collect::<Vec<_>>()
    };
    let recorded = mismatches().await;
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["provider_refunded"]["amount"], 1_000);
    assert_eq!(recorded[0]["refunded"]["amount"], 0);

    // Stripe's word on that refund arrives late (its webhook): a retry finds ours agree now,
    // and the item is resolved.
    let late_refund = fixture("fixtures3.charge.json", |charge| {
        charge["id"] = json!("ch_pull_07");
        charge["amount"] = json!(2_500);
        charge["amount_captured"] = json!(2_500);
        charge["amount_refunded"] = json!(1_000);
        charge["currency"] = json!("eur");
        charge["refunded"] = json!(false);
        charge["payment_intent"] = json!("pi_pull_07");
        charge["refunds"] = json!({"object": "list", "data": [], "has_more": false,
            "url": "/v1/charges/ch_pull_07/refunds"});
    });
    let late = json!({"id": "evt_pull_late_refund", "object": "event",
        "type": "charge.refunded", "created": 1_721_950_000, "livemode": false,
        "data": {"object": late_refund}});
    assert_eq!(app.stripe_delivery(&late).await, StatusCode::ACCEPTED);
    app.eventually(&format!("/api/v1/payments/{mismatched}"), |p| {
        p["refunded_minor"] == 1_000
    })
    .await;
    let item = items[0]["attention_id"].as_str().unwrap();
    let (status, retried) = app
        .post(
            Role::Operator,
            &format!("/api/v1/attention/{item}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    app.eventually(&format!("/api/v1/attention/{item}"), |item| {
        item["status"] == "resolved"
    })
    .await;

    // Nothing new at Stripe: the second pull stores nothing, and nothing is applied again.
    let second = pull.run_once().await.unwrap();
    assert_eq!(
        (second.fetched, second.stored, second.duplicates),
        (30, 0, 30)
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(captured().await, EVENTS);
    assert_eq!(
        mismatches().await.len(),
        1,
        "the same mismatch is recorded once"
    );
    let calls = stripe.received_requests().await.unwrap();
    let listings: Vec<&wiremock::Request> = calls
        .iter()
        .filter(|c| c.url.path() == "/v1/events")
        .collect();
    let first_query = listings[0].url.query().unwrap_or_default().to_owned();
    assert!(
        first_query.contains("created%5Bgte%5D=") || first_query.contains("created[gte]="),
        "{first_query}"
    );
    let last_query = listings
        .last()
        .unwrap()
        .url
        .query()
        .unwrap_or_default()
        .to_owned();
    assert!(
        last_query.contains(&(base + 29).to_string()),
        "the second pull lists from the newest seen: {last_query}"
    );
    assert!(calls
        .iter()
        .all(|c| c.headers["authorization"] == "Bearer sk_test_pull"));

    // Shown with the Stripe destination's status.
    let statuses = adapters::outbound::status::destinations(&app.log, &["stripe"], |_| false)
        .await
        .unwrap();
    let last = statuses[0].last_pull.as_ref().unwrap();
    assert_eq!((last.fetched, last.stored), (30, 0));
}
