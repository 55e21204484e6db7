//! Rules across aggregates hold under concurrent requests, and what a workflow cannot finish is
//! an attention item a person resolves (ADR 0009, 0010), through the real router and workers
//! on both backends.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

#[macro_use]
mod support;

use std::time::Instant;

use api::auth::Role;
use domain::{
    order::{AllocationStatus, Order, OrderStatus},
    shipment::{Shipment, ShipmentStatus},
};
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{new_order, trail, App};

on_both_backends!(
    dispatch_and_cancel_sent_together_never_both_succeed,
    two_allocations_that_together_exceed_a_line_never_both_succeed,
    a_refund_refused_during_a_cancellation_is_an_attention_item_a_person_retries,
);

const ROUNDS: usize = 50;

/// An order with one shipment of its two mugs allocated, and the shipment created by the
/// fulfillment process.
async fn order_with_a_shipment(app: &App) -> (String, String) {
    let (status, placed) = app
        .post(Role::Operator, "/api/v1/orders", new_order())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    let order = placed["id"].as_str().unwrap().to_owned();
    let (status, allocated) = app
        .post(
            Role::Operator,
            &format!("/api/v1/orders/{order}/shipments"),
            json!({"carrier": "dhl", "lines": [{"sku": "SKU-A", "quantity": 2}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{allocated}");
    (order, allocated["id"].as_str().unwrap().to_owned())
}

async fn dispatch_and_cancel_sent_together_never_both_succeed(app: App) {
    let mut pairs = Vec::new();
    for _ in 0..ROUNDS {
        pairs.push(order_with_a_shipment(&app).await);
    }
    let handler = app.handler();
    for (_, shipment) in &pairs {
        let deadline = Instant::now() + std::time::Duration::from_secs(30);
        while handler
            .load::<Shipment>(shipment)
            .await
            .unwrap()
            .0
            .is_none()
        {
            assert!(
                Instant::now() < deadline,
                "shipment {shipment} never created"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    // Every dispatch and every cancel at once.
    // Every dispatch and every cancel at once, the cancel sent first in every other pair.
    let races = pairs.iter().zip(0..).map(|((order, shipment), round)| {
        let app = &app;
        async move {
            let dispatch = format!("/api/v1/shipments/{shipment}/dispatch");
            let cancel = format!("/api/v1/orders/{order}/cancel");
            let reason = json!({"reason": "customer changed their mind"});
            if round % 2 == 0 {
                tokio::join!(
                    app.post(Role::Operator, &dispatch, json!({})),
                    app.post(Role::Operator, &cancel, reason)
                )
            } else {
                let (cancelled, dispatched) = tokio::join!(
                    app.post(Role::Operator, &cancel, reason),
                    app.post(Role::Operator, &dispatch, json!({}))
                );
                (dispatched, cancelled)
            }
        }
    });
    let outcomes = futures::future::join_all(races).await;

    let (mut dispatched, mut cancelled) = (0, 0);
    for (((order, shipment), (dispatch, cancel)), round) in pairs.iter().zip(&outcomes).zip(0..) {
        let (dispatch_ok, cancel_ok) = (dispatch.0 == StatusCode::OK, cancel.0 == StatusCode::OK);
        assert!(
            dispatch_ok != cancel_ok,
            "round {round}: exactly one wins: dispatch {dispatch:?}, cancel {cancel:?}"
        );
        // A dispatch after the cancel is refused by the order, or, once the cancellation process
        // has cancelled the shipment, by the shipment.
        let loser = if dispatch_ok { &cancel.1 } else { &dispatch.1 };
        let rules: &[&str] = if dispatch_ok {
            &["cancel_after_dispatch"]
        } else {
            &["dispatch_after_cancel", "cancelled"]
        };
        assert!(
            rules.iter().any(|rule| loser["rule"] == *rule),
            "round {round}: {loser}"
        );

        // As the log has it: cancelled with nothing dispatched, or dispatched and open.
        let order_state = handler.load::<Order>(order).await.unwrap().0.unwrap();
        let shipment_state = handler.load::<Shipment>(shipment).await.unwrap().0.unwrap();
        let left = !shipment_state.status.is_before_dispatch()
            && shipment_state.status != ShipmentStatus::Cancelled;
        if cancel_ok {
            cancelled += 1;
            assert_eq!(order_state.status, OrderStatus::Cancelled, "round {round}");
            assert!(!left, "round {round}: goods of a cancelled order left");
            assert!(!order_state.anything_dispatched(), "round {round}");
        } else {
            dispatched += 1;
            assert_eq!(order_state.status, OrderStatus::Placed, "round {round}");
            assert!(left, "round {round}");
            assert_eq!(
                order_state.allocations.values().next().unwrap().status,
                AllocationStatus::Dispatched,
                "round {round}: the order knows in the same commit"
            );
        }
    }
    println!("{ROUNDS} races: {dispatched} dispatched first, {cancelled} cancelled first");
}

async fn two_allocations_that_together_exceed_a_line_never_both_succeed(app: App) {
    let mut orders = Vec::new();
    for _ in 0..ROUNDS {
        let (status, placed) = app
            .post(Role::Operator, "/api/v1/orders", new_order())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{placed}");
        orders.push(placed["id"].as_str().unwrap().to_owned());
    }
    // Two shipments of both mugs each, for every order, all at once.
    let races = orders.iter().map(|order| {
        let app = &app;
        async move {
            let path = format!("/api/v1/orders/{order}/shipments");
            let body = json!({"carrier": "dhl", "lines": [{"sku": "SKU-A", "quantity": 2}]});
            tokio::join!(
                app.post(Role::Operator, &path, body.clone()),
                app.post(Role::Operator, &path, body)
            )
        }
    });
    let outcomes = futures::future::join_all(races).await;
    let handler = app.handler();
    for ((order, (first, second)), round) in orders.iter().zip(&outcomes).zip(0..) {
        let allocated = [first, second]
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .count();
        assert_eq!(allocated, 1, "round {round}: {first:?} {second:?}");
        let refused: &Value = if first.0 == StatusCode::OK {
            &second.1
        } else {
            &first.1
        };
        assert_eq!(refused["rule"], "allocation_exceeds_remaining", "{refused}");
        let state = handler.load::<Order>(order).await.unwrap().0.unwrap();
        let sku = domain::Sku::parse("SKU-A").unwrap();
        assert_eq!(state.allocated(&sku), 2, "round {round}");
    }
}

/// Waits until the Stripe delivery `event_id` is processed.
async fn processed(app: &App, event_id: &str) {
    let path = format!("/api/v1/admin/webhooks/deliveries/stripe/{event_id}");
    app.eventually(&path, |delivery| delivery["status"] == "done")
        .await;
}

/// A Stripe dispute event about `charge` (no payment intent), in `status`.
fn dispute(event_id: &str, event_type: &str, status: &str, charge: &str, order: &str) -> Value {
    json!({
        "id": event_id, "object": "event", "type": event_type, "created": 1721950000,
        "livemode": false,
        "data": {"object": {
            "id": "dp_e2e_1", "object": "dispute", "amount": 2500, "currency": "eur",
            "reason": "fraudulent", "status": status, "charge": charge,
            "payment_intent": null, "metadata": {"order_id": order}
        }}
    })
}

async fn a_refund_refused_during_a_cancellation_is_an_attention_item_a_person_retries(app: App) {
    let (_, placed) = app
        .post(Role::Operator, "/api/v1/orders", new_order())
        .await;
    let order = placed["id"].as_str().unwrap().to_owned();
    let (status, requested) = app
        .post(
            Role::Operator,
            "/api/v1/payments",
            json!({"order_id": order, "amount_minor": 2500, "currency": "EUR", "provider": "stripe"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{requested}");
    let payment = requested["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .post(
            Role::Finance,
            &format!("/api/v1/payments/{payment}/capture"),
            json!({"amount_minor": 2500, "reference": "ch_e2e_1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    // The cardholder's bank opens a dispute: the money is with the bank until it ends.
    let opened = dispute(
        "evt_dp_1",
        "charge.dispute.created",
        "needs_response",
        "ch_e2e_1",
        &order,
    );
    assert_eq!(app.stripe_delivery(&opened).await, StatusCode::ACCEPTED);
    processed(&app, "evt_dp_1").await;

    // Cancelled now, the order's refund is refused: a person is told, with why and from what.
    let cancelled_at = Instant::now();
    let response = app
        .request(
            Role::Operator,
            reqwest::Method::POST,
            &format!("/api/v1/orders/{order}/cancel"),
        )
        .header("x-request-id", "req-cancel-e2e")
        .json(&json!({"reason": "customer changed their mind"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let list = app
        .eventually(&format!("/api/v1/attention?order_id={order}"), |page| {
            page["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
        })
        .await;
    println!(
        "attention item listed {:?} after the cancel",
        cancelled_at.elapsed()
    );
    let item = &list["items"][0];
    assert_eq!(item["kind"], "refused_step", "{item}");
    assert_eq!(item["status"], "open", "{item}");
    assert_eq!(item["rule"], "refund_while_disputed", "{item}");
    assert_eq!(item["process"], "process:order-cancellation", "{item}");
    assert_eq!(item["cause_event_type"], "OrderCancelled", "{item}");
    assert_eq!(item["correlation_id"], "req-cancel-e2e", "{item}");
    assert_eq!(item["target"], format!("payment/{payment}"), "{item}");
    let id = item["attention_id"].as_str().unwrap().to_owned();

    // Its cause chain leads back to the request.
    let (status, detail) = app
        .get(Role::Viewer, &format!("/api/v1/attention/{id}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(
        detail["cause_chain"][0]["event_type"], "OrderCancelled",
        "{detail}"
    );
    assert_eq!(
        detail["cause_chain"][0]["actor"], "user:operator",
        "{detail}"
    );

    // A viewer may not act on it; retrying before the cause is fixed is refused again.
    let (status, _) = app
        .post(
            Role::Viewer,
            &format!("/api/v1/attention/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, retried) = app
        .post(
            Role::Finance,
            &format!("/api/v1/attention/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    app.eventually(&format!("/api/v1/attention/{id}"), |i| {
        i["status"] == "open" && i["retries"] == 1
    })
    .await;

    // The dispute is won; retried, the refund goes, and the item is resolved.
    let won = dispute(
        "evt_dp_2",
        "charge.dispute.closed",
        "won",
        "ch_e2e_1",
        &order,
    );
    assert_eq!(app.stripe_delivery(&won).await, StatusCode::ACCEPTED);
    processed(&app, "evt_dp_2").await;
    let (status, retried) = app
        .post(
            Role::Finance,
            &format!("/api/v1/attention/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    app.eventually(&format!("/api/v1/attention/{id}"), |i| {
        i["status"] == "resolved"
    })
    .await;
    app.eventually(&format!("/api/v1/payments/{payment}"), |p| {
        p["status"] == "refunded" && p["refunded_minor"] == 2500
    })
    .await;
    app.eventually(&format!("/api/v1/orders/{order}"), |o| {
        o["payment_status"] == "refunded"
    })
    .await;

    // Every step is in the audit trail: raised by the process, retried by finance (refused
    // again), retried, resolved by the process.
    let (status, history) = app
        .get(
            Role::Auditor,
            &format!("/api/v1/audit/streams/attention/{id}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let step = |event: &str, actor: &str| (event.to_owned(), actor.to_owned());
    assert_eq!(
        trail(&history),
        [
            step("AttentionRaised", "process:order-cancellation"),
            step("AttentionRetryRequested", "user:finance"),
            step("AttentionRetryFailed", "process:order-cancellation"),
            step("AttentionRetryRequested", "user:finance"),
            step("AttentionResolved", "process:order-cancellation"),
        ]
    );
    // The refund itself names the cancellation that caused it.
    let (_, payment_history) = app
        .get(
            Role::Auditor,
            &format!("/api/v1/audit/streams/payment/{payment}"),
        )
        .await;
    let refund = payment_history
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "PaymentRefunded")
        .unwrap();
    assert_eq!(refund["metadata"]["actor"], "process:order-cancellation");
    assert_eq!(refund["metadata"]["correlation_id"], "req-cancel-e2e");
}
