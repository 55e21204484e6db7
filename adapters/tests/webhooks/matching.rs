//! Finding what a delivery is about, and what happens while nothing matches: a dispute with no
//! payment intent is found by its charge, an order's payment captured through the API without
//! a provider reference by the order in the metadata; an unmatched delivery is rechecked with a
//! growing delay, without an attempt row per recheck, until it rests as `unmatched_expired`.

use std::time::Duration;

use adapters::inbound::{inbox::Inbox, Worker, WorkerOptions};
use domain::payment::{Payment, PaymentCommand};
use eventlog::{testing::TestDatabase, EventLog};
use projections::payments::get_payment;
use serde_json::json;

use crate::support::*;

eventlog::on_both_backends!(
    a_dispute_without_a_payment_intent_finds_its_payment_by_the_charge,
    a_stripe_event_finds_an_orders_payment_captured_through_the_api_without_a_reference,
    an_unmatched_delivery_is_rechecked_without_a_row_per_recheck_and_rests_expired,
    a_claims_lease_runs_from_the_claim_not_from_the_round,
);

const PAYMENT: &str = "0190e8a0-0000-7000-8000-0000000000f1";

fn dispute(event_id: &str, event_type: &str, status: &str, charge: &str) -> Vec<u8> {
    let mut object = adapters_fixture("ours/stripe/evt_charge.dispute.created.example.json")
        ["data"]["object"]
        .clone();
    object["payment_intent"] = serde_json::Value::Null;
    object["charge"] = charge.into();
    object["status"] = status.into();
    stripe_event(event_id, event_type, object)
}

async fn a_dispute_without_a_payment_intent_finds_its_payment_by_the_charge(
    _db: &TestDatabase,
    log: EventLog,
) {
    let app = app(log).await;
    request_payment(&app, PAYMENT).await;
    let mut captured = intent("succeeded", 0, 1099, json!({"payment_id": PAYMENT}));
    captured["latest_charge"] = "ch_dispute_f1".into();
    send(
        &app.router,
        stripe(&stripe_event(
            "evt_cap_f1",
            "payment_intent.succeeded",
            captured,
        )),
    )
    .await;
    work(&app).await;
    let payment = get_payment(&app.log, PAYMENT).await.unwrap().unwrap();
    assert_eq!(payment.charge_id.as_deref(), Some("ch_dispute_f1"));

    let opened = dispute(
        "evt_dp_open",
        "charge.dispute.created",
        "needs_response",
        "ch_dispute_f1",
    );
    send(&app.router, stripe(&opened)).await;
    work(&app).await;
    assert_eq!(
        delivery(&app, "stripe", "evt_dp_open").await["status"],
        "done"
    );
    let payment = get_payment(&app.log, PAYMENT).await.unwrap().unwrap();
    assert_eq!((payment.disputes, payment.disputed_minor), (1, 1099));

    // While the dispute is open a refund waits; won, it goes.
    let refund = |id: &str| PaymentCommand::RefundPayment {
        refund_id: domain::ExternalRef::parse(id).unwrap(),
        amount: usd(1099),
        request: None,
    };
    let refused = app
        .handler
        .execute::<Payment>(PAYMENT, refund("re_f1"), &meta("refund-1"))
        .await;
    assert!(
        matches!(
            refused,
            Err(commands::CommandError::Rejected(
                domain::payment::PaymentError::RefundWhileDisputed
            ))
        ),
        "{refused:?}"
    );
    let won = dispute(
        "evt_dp_won",
        "charge.dispute.closed",
        "won",
        "ch_dispute_f1",
    );
    send(&app.router, stripe(&won)).await;
    work(&app).await;
    assert_eq!(
        delivery(&app, "stripe", "evt_dp_won").await["status"],
        "done"
    );
    app.handler
        .execute::<Payment>(PAYMENT, refund("re_f2"), &meta("refund-2"))
        .await
        .unwrap();

    // A charge nobody captured matches nothing.
    let stray = dispute(
        "evt_dp_stray",
        "charge.dispute.created",
        "needs_response",
        "ch_nobody",
    );
    send(&app.router, stripe(&stray)).await;
    work(&app).await;
    assert_eq!(
        delivery(&app, "stripe", "evt_dp_stray").await["status"],
        "unmatched"
    );
}

async fn a_stripe_event_finds_an_orders_payment_captured_through_the_api_without_a_reference(
    _db: &TestDatabase,
    log: EventLog,
) {
    let app = app(log).await;
    request_payment(&app, PAYMENT).await;
    // Captured by hand (the API makes up a capture id when none is given).
    let capture = PaymentCommand::CapturePayment {
        capture_id: domain::ExternalRef::parse("capture-by-hand").unwrap(),
        amount: usd(1099),
        provider_reference: None,
    };
    app.handler
        .execute::<Payment>(PAYMENT, capture, &meta("capture"))
        .await
        .unwrap();
    project(&app.log).await;

    // Stripe's own event names only the order: the payment is found all the same, and its
    // capture, already recorded, changes nothing; Stripe's authorization replaces the implied one.
    let metadata = json!({"order_id": PAYMENT_ORDER});
    let authorized = intent("requires_capture", 1099, 0, metadata.clone());
    let succeeded = intent("succeeded", 0, 1099, metadata);
    for (id, kind, object) in [
        (
            "evt_api_auth",
            "payment_intent.amount_capturable_updated",
            authorized,
        ),
        ("evt_api_succeeded", "payment_intent.succeeded", succeeded),
    ] {
        send(&app.router, stripe(&stripe_event(id, kind, object))).await;
        work(&app).await;
        assert_eq!(delivery(&app, "stripe", id).await["status"], "done", "{id}");
    }
    let payment = get_payment(&app.log, PAYMENT).await.unwrap().unwrap();
    assert_eq!(
        (
            payment.captured_minor,
            payment.provider_reference.as_deref()
        ),
        (1099, Some(FIXTURE_INTENT))
    );
}

async fn an_unmatched_delivery_is_rechecked_without_a_row_per_recheck_and_rests_expired(
    _db: &TestDatabase,
    log: EventLog,
) {
    let app = app(log).await;
    let unknown = intent(
        "succeeded",
        0,
        1099,
        json!({"payment_id": "0190e8a0-0000-7000-8000-0000000000ff"}),
    );
    send(
        &app.router,
        stripe(&stripe_event(
            "evt_unknown",
            "payment_intent.succeeded",
            unknown,
        )),
    )
    .await;
    for _ in 0..4 {
        work(&app).await;
    }
    let row = delivery(&app, "stripe", "evt_unknown").await;
    assert_eq!(row["status"], "unmatched");
    assert!(row["attempts"].as_i64().unwrap() >= 4, "{row}");
    assert_eq!(
        row["attempts_history"].as_array().unwrap().len(),
        1,
        "a recheck is no new attempt row: {row}"
    );

    // The delay grows with each recheck (30 s, 60 s, … up to hours by default).
    let slow = Worker::new(app.log.clone(), WorkerOptions::default());
    let inbox = Inbox::new(app.log.clone());
    let now = chrono::Utc::now();
    let due = inbox
        .claim(now, Duration::from_secs(120), 10, "test")
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    inbox
        .finish(
            &due[0],
            &adapters::inbound::inbox::Finish {
                status: adapters::inbound::inbox::DeliveryStatus::Unmatched,
                next_attempt_at: Some(now),
                error: None,
            },
            now,
        )
        .await
        .unwrap();
    slow.process_available().await.unwrap();
    let next: chrono::DateTime<chrono::Utc> = serde_json::from_value(
        delivery(&app, "stripe", "evt_unknown").await["next_attempt_at"].clone(),
    )
    .unwrap();
    assert!(
        next - chrono::Utc::now() > chrono::Duration::minutes(1),
        "after {} rechecks the next is more than a minute away: {next}",
        due[0].attempts
    );

    // Past its age it rests, listed, no longer claimed; an admin retry makes it due again.
    let expiring = Worker::new(
        app.log.clone(),
        WorkerOptions {
            unmatched_max_age: Duration::ZERO,
            ..fast_options()
        },
    );
    due_long_ago(&app.log).await;
    expiring.process_available().await.unwrap();
    assert_eq!(
        delivery(&app, "stripe", "evt_unknown").await["status"],
        "unmatched_expired"
    );
    assert_eq!(
        expiring.process_available().await.unwrap(),
        0,
        "not claimed again"
    );
    let retry = axum::http::Request::post("/deliveries/stripe/evt_unknown/retry")
        .body(axum::body::Body::empty())
        .unwrap();
    let (status, body) = send(&app.admin, retry).await;
    assert_eq!(status, axum::http::StatusCode::ACCEPTED, "{body}");
    assert_eq!(
        delivery(&app, "stripe", "evt_unknown").await["status"],
        "pending"
    );
}

async fn a_claims_lease_runs_from_the_claim_not_from_the_round(_db: &TestDatabase, log: EventLog) {
    let app = app(log).await;
    send(
        &app.router,
        stripe(&stripe_event("evt_lease", "customer.created", json!({}))),
    )
    .await;
    due_long_ago(&app.log).await;
    // A round that began an hour ago (a long one) claims now: the lease ends two minutes from
    // now, not two minutes after the round began (which would free it at once).
    let inbox = Inbox::new(app.log.clone());
    let started = chrono::Utc::now() - chrono::Duration::hours(1);
    let claimed = inbox
        .claim(started, Duration::from_secs(120), 10, "test")
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let row = delivery(&app, "stripe", "evt_lease").await;
    let until: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(row["next_attempt_at"].clone()).unwrap();
    assert!(
        until - chrono::Utc::now() > chrono::Duration::seconds(100),
        "the lease runs from the claim: {until}"
    );
}

/// Makes every delivery due since long ago.
async fn due_long_ago(log: &EventLog) {
    let sql = "UPDATE webhook_inbox SET next_attempt_at = $1";
    let long_ago = chrono::Utc::now() - chrono::Duration::days(1);
    eventlog::on_writer!(log, |pool, time| sqlx::query(sql)
        .bind(time(long_ago))
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
}
