//! The order lifecycle over HTTP: placed, paid, shipped, delivered, completed; a cancellation
//! with refund; a payment refused for an order it cannot pay. On PostgreSQL, and the same
//! lifecycle on SQLite.
#![allow(clippy::unwrap_used)]

mod support;

use api::auth::Role;
use reqwest::StatusCode;
use serde_json::json;
use support::{new_order, App};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_goes_from_placed_to_completed_on_postgres() {
    lifecycle(&App::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_goes_from_placed_to_completed_on_sqlite() {
    lifecycle(&App::sqlite().await).await;
}

async fn lifecycle(app: &App) {
    let (status, placed) = app
        .post(Role::Operator, "/api/v1/orders", new_order())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    let order = placed["id"].as_str().unwrap().to_owned();
    assert_eq!(placed["stream_version"], 1);

    // Read-your-writes: the read waits for the command's position.
    let position = placed["position"].as_i64().unwrap();
    let (status, row) = app
        .get(
            Role::Viewer,
            &format!("/api/v1/orders/{order}?min_position={position}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{row}");
    assert_eq!(
        (row["status"].as_str(), row["total_minor"].as_i64()),
        (Some("placed"), Some(2500))
    );

    let (status, payment) = app
        .post(Role::Operator, "/api/v1/payments", json!({"order_id": order, "amount_minor": 2500, "currency": "EUR", "provider": "stripe"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    let payment = payment["id"].as_str().unwrap().to_owned();
    let (status, captured) = app
        .post(
            Role::Finance,
            &format!("/api/v1/payments/{payment}/capture"),
            json!({"amount_minor": 2500}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{captured}");
    app.eventually(&format!("/api/v1/orders/{order}"), |o| {
        o["payment_status"] == "paid"
    })
    .await;

    let (status, allocated) = app
        .post(Role::Operator, &format!("/api/v1/orders/{order}/shipments"), json!({"carrier": "dhl", "lines": [{"sku": "SKU-A", "quantity": 2}, {"sku": "SKU-B", "quantity": 1}]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{allocated}");
    let shipment = allocated["id"].as_str().unwrap().to_owned();
    app.eventually(&format!("/api/v1/shipments/{shipment}"), |s| {
        s["status"] == "pending"
    })
    .await;
    for (step, body) in [
        ("label", json!({"tracking_number": "TRK-1"})),
        ("dispatch", json!({})),
        ("delivery", json!({})),
    ] {
        let (status, answer) = app
            .post(
                Role::Operator,
                &format!("/api/v1/shipments/{shipment}/{step}"),
                body,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{step}: {answer}");
    }
    let done = app
        .eventually(&format!("/api/v1/orders/{order}"), |o| {
            o["status"] == "completed"
        })
        .await;
    assert_eq!(
        (
            done["payment_status"].as_str(),
            done["fulfillment_status"].as_str()
        ),
        (Some("paid"), Some("delivered"))
    );
    let shipment = app
        .eventually(&format!("/api/v1/shipments/{shipment}"), |s| {
            s["status"] == "delivered"
        })
        .await;
    assert_eq!(shipment["tracking_number"], "TRK-1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_paid_order_is_refunded() {
    let app = App::postgres().await;
    let (_, placed) = app
        .post(Role::Operator, "/api/v1/orders", new_order())
        .await;
    let order = placed["id"].as_str().unwrap().to_owned();
    let (_, payment) = app
        .post(Role::Operator, "/api/v1/payments", json!({"order_id": order, "amount_minor": 2500, "currency": "EUR", "provider": "stripe"}))
        .await;
    let payment = payment["id"].as_str().unwrap().to_owned();
    app.post(
        Role::Finance,
        &format!("/api/v1/payments/{payment}/capture"),
        json!({"amount_minor": 2500}),
    )
    .await;
    app.eventually(&format!("/api/v1/orders/{order}"), |o| {
        o["payment_status"] == "paid"
    })
    .await;

    let (status, cancelled) = app
        .post(
            Role::Operator,
            &format!("/api/v1/orders/{order}/cancel"),
            json!({"reason": "customer asked"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let refunded = app
        .eventually(&format!("/api/v1/payments/{payment}"), |p| {
            p["status"] == "refunded"
        })
        .await;
    assert_eq!(refunded["refunded_minor"], 2500);
    let order = app
        .eventually(&format!("/api/v1/orders/{order}"), |o| {
            o["payment_status"] == "refunded"
        })
        .await;
    assert_eq!(order["status"], "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_for_an_order_that_does_not_exist_or_in_another_currency_is_refused() {
    let app = App::sqlite().await;
    let (_, placed) = app
        .post(Role::Operator, "/api/v1/orders", new_order())
        .await;
    let order = placed["id"].as_str().unwrap().to_owned();

    let nowhere = "0190d8a4-0000-7000-8000-000000000000";
    let (status, problem) = app
        .post(Role::Operator, "/api/v1/payments", json!({"order_id": nowhere, "amount_minor": 2500, "currency": "EUR", "provider": "stripe"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "order_id", "{problem}");
    let (status, problem) = app
        .post(Role::Operator, "/api/v1/payments", json!({"order_id": order, "amount_minor": 2500, "currency": "USD", "provider": "stripe"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "currency", "{problem}");

    eventlog::testing::everything_visible(&app.log).await;
    let events = app.log.read_all(0, 1000).await.unwrap();
    assert!(
        events.iter().all(|e| e.stream.aggregate_type != "payment"),
        "no payment stored"
    );
}
