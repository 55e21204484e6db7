//! The console's workflows in a real browser (headless Chromium over WebDriver, ADR 0025),
//! each person in a browser of their own, against the real server: an order cancelled with its
//! payment refunded and a timeline naming who did what; a refund above the approval amount
//! asked by one person and approved by another in a second browser; a parked outbound message
//! retried from its attention item.
//!
//! Needs Debian's `chromium` and `chromium-driver`, which `.ci/run` installs.
#![allow(clippy::unwrap_used)]

mod support;

/// The harness: WebDriver over reqwest, and a person at a browser (shared with browser.rs,
/// which uses more of it).
#[allow(dead_code)]
mod browser {
    pub mod person;
    pub mod webdriver;
}

use std::time::{Duration, Instant};

use api::auth::Role;
use browser::{person::Person, webdriver::Driver};
use eventlog::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{
    console::{user_with_password, PASSWORD},
    new_order, App,
};
use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};

/// Reloads `path` in `person`'s browser until its text holds `wanted` (a read model catching
/// up), at most 30 s.
async fn shows(person: &Person, path: &str, wanted: &str) -> String {
    let started = Instant::now();
    loop {
        person.open(path).await;
        let text = person.text().await;
        if text.contains(wanted) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{path} never showed {wanted:?}: {text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_cancelled_in_the_console_is_refunded_and_its_timeline_names_who_did_what() {
    let app = App::postgres().await;
    let (order, payment) = app.paid_order("ch_browser_cancel").await;
    user_with_password(&app, "olga", Role::Operator).await;
    let driver = Driver::start().await;
    let olga = Person::signed_in(&driver, &app.base, "olga", PASSWORD).await;

    let page = format!("/console/orders/{order}");
    olga.open(&page).await;
    olga.fill("reason", "The customer changed their mind").await;
    olga.click_button("Cancel the order").await;
    assert!(
        olga.text().await.contains("The order is cancelled."),
        "{}",
        olga.text().await
    );
    olga.assert_no_dialog().await;

    // The cancellation process refunds what was captured.
    app.eventually(&format!("/api/v1/payments/{payment}"), |p| {
        p["refunded_minor"] == 2500
    })
    .await;
    let text = shows(&olga, &format!("/console/payments/{payment}"), "refunded").await;
    assert!(text.contains("25.00 EUR"), "{text}");

    // The order's timeline: placed through the API by the operator, cancelled in the console by
    // olga, the refund by the cancellation process.
    let text = shows(&olga, &page, "PaymentRefunded").await;
    for (event, actor, source) in [
        ("OrderPlaced", "user:operator", "api"),
        ("OrderCancelled", "user:olga", "console"),
        ("PaymentRefunded", "process:order-cancellation", ""),
    ] {
        let line = text
            .lines()
            .find(|line| line.contains(event))
            .unwrap_or_else(|| panic!("no {event} in {text}"));
        assert!(
            line.contains(actor) && line.contains(source),
            "{event} by {actor} through {source}: {line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refund_above_the_amount_is_asked_by_one_person_and_approved_by_another() {
    // Refunds above 10.00 EUR wait for a second person.
    let app = App::start_configured(
        TestDatabase::postgres().await,
        eventlog::SubscriptionOptions::default(),
        adapters::outbound::OutboundConfig::default(),
        |state| state.refund_approval_above_minor = 1_000,
    )
    .await;
    let (_, payment) = app.paid_order("ch_browser_four_eyes").await;
    user_with_password(&app, "fay", Role::Finance).await;
    user_with_password(&app, "finn", Role::Finance).await;
    let driver = Driver::start().await;
    let fay = Person::signed_in(&driver, &app.base, "fay", PASSWORD).await;
    let finn = Person::signed_in(&driver, &app.base, "finn", PASSWORD).await;
    let page = format!("/console/payments/{payment}");

    fay.open(&page).await;
    fay.fill("amount", "15.00").await;
    fay.fill("reference", "goodwill-1").await;
    fay.click_button("Refund").await;
    let text = fay.text().await;
    assert!(text.contains("awaits a second person's approval"), "{text}");
    let text = shows(&fay, &page, "awaits approval").await;
    assert!(text.contains("user:fay"), "{text}");
    assert_eq!(fay.buttons("Approve refund goodwill-1").await, 0);
    assert_eq!(fay.buttons("Withdraw refund goodwill-1").await, 1);
    let (_, row) = app
        .get(Role::Viewer, &format!("/api/v1/payments/{payment}"))
        .await;
    assert_eq!(row["refunded_minor"], 0, "nothing refunded yet: {row}");

    // finn, in a browser of his own, finds it on the attention page and approves it.
    finn.open("/console/attention").await;
    let text = finn.text().await;
    assert!(text.contains("Refunds awaiting approval"), "{text}");
    assert!(
        text.contains("goodwill-1") && text.contains("15.00 EUR"),
        "{text}"
    );
    finn.open(&page).await;
    finn.click_button("Approve refund goodwill-1").await;
    assert!(
        finn.text().await.contains("Refund approved"),
        "{}",
        finn.text().await
    );
    finn.assert_no_dialog().await;
    app.eventually(&format!("/api/v1/payments/{payment}"), |p| {
        p["refunded_minor"] == 1500
    })
    .await;
    let text = shows(&fay, &page, "user:finn,").await;
    assert!(text.contains("approved"), "{text}");
    assert_eq!(fay.buttons("Withdraw refund goodwill-1").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_parked_outbound_message_is_retried_from_its_attention_item() {
    // The CRM refuses every message until it is fixed.
    let crm = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400).set_body_string("no such customer"))
        .mount(&crm)
        .await;
    let outbound = serde_json::from_value(json!({"crm": {
        "base_url": crm.uri(), "token": "crm-token",
        "limits": {"attempts": 2, "backoff_base_ms": 5, "backoff_max_ms": 10},
    }}))
    .unwrap();
    let app = App::start_sending(
        TestDatabase::postgres().await,
        eventlog::SubscriptionOptions::default(),
        outbound,
    )
    .await;
    let (status, _) = app
        .post(Role::Operator, "/api/v1/orders", new_order())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let parked = app
        .eventually("/api/v1/attention?kind=parked_step&status=open", |page| {
            page["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
        })
        .await;
    let item: &Value = &parked["items"][0];
    let id = item["attention_id"].as_str().unwrap().to_owned();

    user_with_password(&app, "otto", Role::Operator).await;
    let driver = Driver::start().await;
    let otto = Person::signed_in(&driver, &app.base, "otto", PASSWORD).await;
    otto.open("/console/attention?kind=parked_step").await;
    otto.click_link(&format!("Open item {id}")).await;
    assert!(otto.text().await.contains("parked_step"));

    crm.reset().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(201))
        .mount(&crm)
        .await;
    otto.click_button("Retry the step").await;
    otto.assert_no_dialog().await;
    let resolved = app
        .eventually(&format!("/api/v1/attention/{id}"), |item| {
            item["status"] == "resolved"
        })
        .await;
    assert_eq!(resolved["retries"], 1, "{resolved}");
    shows(&otto, &format!("/console/attention/{id}"), "resolved").await;
    let received = crm.received_requests().await.unwrap();
    assert!(!received.is_empty(), "the CRM got the message");
}
