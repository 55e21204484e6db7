//! Duplicates, out-of-order deliveries, a stopped worker and a poison delivery.

use axum::{body::Body, http::Request, http::StatusCode};
use eventlog::{testing::TestDatabase, EventLog, StreamId};
use projections::payments::get_payment;
use serde_json::json;

use crate::support::*;

eventlog::on_both_backends!(
    the_same_delivery_sent_twenty_times_at_once_changes_state_once,
    a_capture_before_its_authorization_ends_captured,
    a_delivered_scan_before_in_transit_ends_delivered,
    with_the_worker_stopped_deliveries_are_stored_and_processed_after,
    a_poison_delivery_dead_letters_without_holding_the_rest_and_an_admin_retry_applies_it_once,
);

const PAYMENT: &str = "0190e8a0-0000-7000-8000-0000000000e1";

fn capture(event_id: &str) -> Vec<u8> {
    let mut object = intent("succeeded", 0, 1099, json!({"payment_id": PAYMENT}));
    object["latest_charge"] = "ch_capture_e1".into();
    stripe_event(event_id, "payment_intent.succeeded", object)
}

fn authorization(event_id: &str) -> Vec<u8> {
    let object = intent("requires_capture", 1099, 0, json!({"payment_id": PAYMENT}));
    stripe_event(event_id, "payment_intent.amount_capturable_updated", object)
}

async fn events_of(log: &EventLog, payment: &str) -> Vec<String> {
    log.read_stream(&StreamId::new("payment", payment), 1)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

async fn the_same_delivery_sent_twenty_times_at_once_changes_state_once(
    _db: &TestDatabase,
    log: EventLog,
) {
    let app = app(log).await;
    request_payment(&app, PAYMENT).await;
    let body = capture("evt_dup_0001");
    let sends = (0..20).map(|_| send(&app.router, stripe(&body)));
    let answers = futures::future::join_all(sends).await;
    let accepted = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::ACCEPTED)
        .count();
    let duplicate = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!((accepted, duplicate), (1, 19), "{answers:?}");
    // Two workers race for the one row.
    let (a, b) = tokio::join!(
        app.worker.process_available(),
        app.worker.process_available()
    );
    assert_eq!(a.unwrap() + b.unwrap(), 1);
    project(&app.log).await;
    assert_eq!(
        events_of(&app.log, PAYMENT).await,
        ["PaymentRequested", "PaymentAuthorized", "PaymentCaptured"]
    );
    assert_eq!(
        count(&app.log, "SELECT count(*) FROM webhook_inbox").await,
        1
    );
}

async fn a_capture_before_its_authorization_ends_captured(_db: &TestDatabase, log: EventLog) {
    let app = app(log).await;
    request_payment(&app, PAYMENT).await;
    send(&app.router, stripe(&capture("evt_ooo_capture"))).await;
    work(&app).await;
    send(&app.router, stripe(&authorization("evt_ooo_auth"))).await;
    work(&app).await;
    let payment = get_payment(&app.log, PAYMENT).await.unwrap().unwrap();
    assert_eq!(
        (
            payment.status.as_str(),
            payment.authorized_minor,
            payment.captured_minor
        ),
        ("captured", 1099, 1099)
    );
    assert_eq!(payment.provider_reference.as_deref(), Some(FIXTURE_INTENT));
    for event_id in ["evt_ooo_capture", "evt_ooo_auth"] {
        assert_eq!(delivery(&app, "stripe", event_id).await["status"], "done");
    }
}

fn tracker(event_id: &str, scans: &[(&str, &str)]) -> Vec<u8> {
    let details: Vec<_> = scans
        .iter()
        .map(|(status, at)| json!({"status": status, "datetime": at, "message": status}))
        .collect();
    let status = scans.last().map_or("unknown", |(s, _)| *s);
    serde_json::to_vec(&json!({
        "id": event_id, "description": "tracker.updated", "created_at": "2024-08-02T19:26:52Z",
        "result": {"id": "trk_ooo", "tracking_code": "TRACK-OOO", "status": status,
                   "carrier": "FedEx", "tracking_details": details}
    }))
    .unwrap()
}

async fn a_delivered_scan_before_in_transit_ends_delivered(_db: &TestDatabase, log: EventLog) {
    let app = app(log).await;
    place_order(&app).await;
    let shipment = "0190e8a0-0000-7000-8000-0000000000d2";
    labelled_shipment(&app, shipment, "TRACK-OOO").await;
    project(&app.log).await;
    let early = [("in_transit", "2024-08-01T10:00:00Z")];
    let late = [
        ("in_transit", "2024-08-01T10:00:00Z"),
        ("delivered", "2024-08-02T10:00:00Z"),
    ];
    send(&app.router, easypost(&tracker("evt_late", &late))).await;
    work(&app).await;
    send(&app.router, easypost(&tracker("evt_early", &early))).await;
    work(&app).await;
    let row = projections::shipments::get_shipment(&app.log, shipment)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.status, "delivered");
    assert_eq!(row.tracking.len(), 2);
}

async fn with_the_worker_stopped_deliveries_are_stored_and_processed_after(
    _db: &TestDatabase,
    log: EventLog,
) {
    let app = app(log).await;
    request_payment(&app, PAYMENT).await;
    for n in 0..5 {
        let body = stripe_event(
            &format!("evt_stopped_{n}"),
            "customer.created",
            json!({"id": format!("cus_{n}")}),
        );
        assert_eq!(
            send(&app.router, stripe(&body)).await.0,
            StatusCode::ACCEPTED
        );
    }
    send(&app.router, stripe(&capture("evt_stopped_capture"))).await;
    assert_eq!(
        count(
            &app.log,
            "SELECT count(*) FROM webhook_inbox WHERE status = 'pending'"
        )
        .await,
        6
    );
    // The worker starts: its run loop processes everything and keeps going.
    let worker = app.worker.clone();
    let running = tokio::spawn(async move { worker.run().await });
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    while count(
        &app.log,
        "SELECT count(*) FROM webhook_inbox WHERE status = 'pending'",
    )
    .await
        > 0
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker never caught up"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    running.abort();
    assert_eq!(
        count(
            &app.log,
            "SELECT count(*) FROM webhook_inbox WHERE status = 'ignored'"
        )
        .await,
        5
    );
    project(&app.log).await;
    let payment = get_payment(&app.log, PAYMENT).await.unwrap().unwrap();
    assert_eq!(payment.status, "captured");
}

async fn a_poison_delivery_dead_letters_without_holding_the_rest_and_an_admin_retry_applies_it_once(
    _db: &TestDatabase,
    log: EventLog,
) {
    let app = app(log).await;
    request_payment(&app, PAYMENT).await;
    // A dispute over money not captured yet: the payment refuses it, again and again.
    let mut dispute = adapters_fixture("ours/stripe/evt_charge.dispute.created.example.json");
    dispute["data"]["object"]["metadata"] = json!({"payment_id": PAYMENT});
    let dispute = serde_json::to_vec(&dispute).unwrap();
    send(&app.router, stripe(&dispute)).await;
    let other = stripe_event("evt_other", "customer.created", json!({"id": "cus_1"}));
    send(&app.router, stripe(&other)).await;
    for _ in 0..3 {
        work(&app).await;
    }
    let poison = delivery(&app, "stripe", "evt_ours_dispute_created_0001").await;
    assert_eq!(poison["status"], "dead", "{poison}");
    assert_eq!(poison["attempts_history"].as_array().unwrap().len(), 3);
    assert!(poison["last_error"]
        .as_str()
        .unwrap()
        .contains("dispute exceeds"));
    assert_eq!(
        delivery(&app, "stripe", "evt_other").await["status"],
        "ignored"
    );
    // Dead rows are listed by status.
    let list = Request::get("/deliveries?source=stripe&status=dead")
        .body(Body::empty())
        .unwrap();
    let (status, page) = send(&app.admin, list).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    // A filter no delivery can match, or a page size out of range, is a 422 naming it.
    for (query, field) in [("status=bogus", "status"), ("limit=0", "limit")] {
        let list = Request::get(format!("/deliveries?{query}"))
            .body(Body::empty())
            .unwrap();
        let (status, problem) = send(&app.admin, list).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["field"], field, "{problem}");
    }

    // Fixed: the money arrives. An admin retry then applies the dispute, once.
    send(&app.router, stripe(&capture("evt_poison_capture"))).await;
    work(&app).await;
    let retry = Request::post("/deliveries/stripe/evt_ours_dispute_created_0001/retry")
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(&app.admin, retry).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    work(&app).await;
    work(&app).await;
    assert_eq!(
        delivery(&app, "stripe", "evt_ours_dispute_created_0001").await["status"],
        "done"
    );
    let disputed = events_of(&app.log, PAYMENT)
        .await
        .into_iter()
        .filter(|t| t == "PaymentDisputed")
        .count();
    assert_eq!(disputed, 1);
    // A done delivery is not retried.
    let again = Request::post("/deliveries/stripe/evt_ours_dispute_created_0001/retry")
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(&app.admin, again).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["code"], "not_retryable");
}
