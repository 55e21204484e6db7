//! End to end through `commands/` on both backends: the whole life of an order, with the
//! process managers carrying it across payments and shipments; and a cancellation with refund.
#![allow(clippy::unwrap_used)]

mod support;

use commands::process::{OrderCancellation, OrderFulfillment, ProcessManager};
use commands::CommandHandler;
use domain::{
    order::{AllocationStatus, Order, OrderCommand, OrderStatus},
    payment::{Payment, PaymentCommand, PaymentStatus},
    shipment::{Shipment, ShipmentCommand, ShipmentStatus},
};
use eventlog::{testing::TestDatabase, EventLog, SubscriptionOptions};
use support::*;

eventlog::on_both_backends!(
    an_order_is_paid_in_two_captures_shipped_in_two_parts_delivered_and_completed,
    a_cancelled_order_refunds_its_captured_money,
    a_cancellation_refunds_what_a_payment_holds_when_the_order_has_not_caught_up,
    a_shipment_allocated_before_a_cancellation_is_cancelled_whichever_process_runs_first,
    money_captured_after_a_cancellation_is_refunded_too,
);

async fn an_order_is_paid_in_two_captures_shipped_in_two_parts_delivered_and_completed(
    _db: &TestDatabase,
    log: EventLog,
) {
    let handler = CommandHandler::new(log.clone());
    let (first, second) = (shipment_id(1), shipment_id(2));
    let order = placed(&handler, 1).await;
    let payment = requested(&handler, 1, order).await;
    let authorize = PaymentCommand::RecordAuthorization {
        provider_reference: ext("pi_1"),
        amount: eur(2500),
    };
    handler
        .execute::<Payment>(&payment.to_string(), authorize, &by_user("authorize"))
        .await
        .unwrap();
    for (n, amount) in [(1, 1500), (2, 1000)] {
        let capture = PaymentCommand::CapturePayment {
            capture_id: ext(&format!("ch_{n}")),
            amount: eur(amount),
            provider_reference: None,
        };
        handler
            .execute::<Payment>(
                &payment.to_string(),
                capture,
                &by_user(&format!("capture-{n}")),
            )
            .await
            .unwrap();
    }
    let allocations = [
        (first, vec![line("SKU-A", 2)]),
        (second, vec![line("SKU-B", 1)]),
    ];
    for (shipment, lines) in allocations {
        let allocate = OrderCommand::AllocateShipment {
            shipment_id: shipment,
            carrier: code("dhl"),
            lines,
        };
        handler
            .execute::<Order>(
                &order.to_string(),
                allocate,
                &by_user(&format!("allocate-{shipment}")),
            )
            .await
            .unwrap();
    }
    settle(&handler).await;
    for shipment in [first, second] {
        for (step, command) in [
            ("dispatch", ShipmentCommand::DispatchShipment),
            ("deliver", ShipmentCommand::DeliverShipment),
        ] {
            handler
                .execute::<Shipment>(
                    &shipment.to_string(),
                    command,
                    &by_user(&format!("{step}-{shipment}")),
                )
                .await
                .unwrap();
        }
    }
    settle(&handler).await;

    let (state, _) = handler.load::<Order>(&order.to_string()).await.unwrap();
    assert_eq!(state.unwrap().status, OrderStatus::Completed);
    insta::assert_json_snapshot!("lifecycle_order", history(&log, "order", order).await);
    insta::assert_json_snapshot!("lifecycle_payment", history(&log, "payment", payment).await);
    insta::assert_json_snapshot!(
        "lifecycle_first_shipment",
        history(&log, "shipment", first).await
    );
    insta::assert_json_snapshot!(
        "lifecycle_second_shipment",
        history(&log, "shipment", second).await
    );
}

async fn a_cancelled_order_refunds_its_captured_money(_db: &TestDatabase, log: EventLog) {
    let handler = CommandHandler::new(log.clone());
    let (order, payment) = placed_and_captured(&handler, 2, 2500).await;
    settle(&handler).await;

    let cancel = OrderCommand::CancelOrder {
        reason: text("customer changed their mind"),
    };
    handler
        .execute::<Order>(&order.to_string(), cancel, &by_user("cancel"))
        .await
        .unwrap();
    settle(&handler).await;

    let (payment_state, _) = handler.load::<Payment>(&payment.to_string()).await.unwrap();
    assert_eq!(payment_state.unwrap().status(), PaymentStatus::Refunded);
    let (order_state, _) = handler.load::<Order>(&order.to_string()).await.unwrap();
    let order_state = order_state.unwrap();
    assert_eq!(order_state.status, OrderStatus::Cancelled);
    assert!(
        order_state.refunds_due().is_empty(),
        "nothing left to refund"
    );
    insta::assert_json_snapshot!("cancellation_order", history(&log, "order", order).await);
    insta::assert_json_snapshot!(
        "cancellation_payment",
        history(&log, "payment", payment).await
    );
}

async fn a_cancellation_refunds_what_a_payment_holds_when_the_order_has_not_caught_up(
    _db: &TestDatabase,
    log: EventLog,
) {
    let handler = CommandHandler::new(log.clone());
    let (order, payment) = placed_and_captured(&handler, 3, 2500).await;
    settle(&handler).await;
    // Refunded in part at the provider; the order has not heard of it yet.
    let refund = PaymentCommand::RefundPayment {
        refund_id: ext("re_3"),
        amount: eur(1000),
        request: None,
    };
    handler
        .execute::<Payment>(&payment.to_string(), refund, &by_user("dashboard"))
        .await
        .unwrap();
    let cancel = OrderCommand::CancelOrder {
        reason: text("customer changed their mind"),
    };
    handler
        .execute::<Order>(&order.to_string(), cancel, &by_user("cancel"))
        .await
        .unwrap();

    // The cancellation alone: what the payment still holds, 1500, not the 2500 the order saw.
    // (On PostgreSQL a reader sees an append once every older transaction of the cluster has
    // ended: wait for it, or the catch-up may stop short on a busy machine.)
    eventlog::testing::everything_visible(&log).await;
    log.catch_up(
        &ProcessManager::new(handler.clone(), OrderCancellation),
        &SubscriptionOptions::default(),
    )
    .await
    .unwrap();
    // Asked of Stripe (the payment intent is known): refunded once Stripe says so.
    let (payment_state, _) = handler.load::<Payment>(&payment.to_string()).await.unwrap();
    assert_eq!(payment_state.unwrap().refund_pending(), eur(1500));
    provider_answers(&handler).await;
    let (payment_state, _) = handler.load::<Payment>(&payment.to_string()).await.unwrap();
    let payment_state = payment_state.unwrap();
    assert_eq!(payment_state.status(), PaymentStatus::Refunded);
    assert_eq!(payment_state.refunded, eur(2500));

    settle(&handler).await;
    let (order_state, _) = handler.load::<Order>(&order.to_string()).await.unwrap();
    let order_state = order_state.unwrap();
    assert_eq!(order_state.net_paid(), eur(0));
    assert!(order_state.refunds_due().is_empty());
}

async fn a_shipment_allocated_before_a_cancellation_is_cancelled_whichever_process_runs_first(
    _db: &TestDatabase,
    log: EventLog,
) {
    let handler = CommandHandler::new(log.clone());
    let options = SubscriptionOptions::default();
    let shipment = shipment_id(4);
    let order = placed(&handler, 4).await;
    let allocate = OrderCommand::AllocateShipment {
        shipment_id: shipment,
        carrier: code("ups"),
        lines: vec![line("SKU-A", 1)],
    };
    handler
        .execute::<Order>(&order.to_string(), allocate, &by_user("allocate"))
        .await
        .unwrap();
    let cancel = OrderCommand::CancelOrder {
        reason: text("out of stock"),
    };
    handler
        .execute::<Order>(&order.to_string(), cancel, &by_user("cancel"))
        .await
        .unwrap();

    // The cancellation runs before the shipment exists: it has nothing to cancel yet.
    eventlog::testing::everything_visible(&log).await;
    log.catch_up(
        &ProcessManager::new(handler.clone(), OrderCancellation),
        &options,
    )
    .await
    .unwrap();
    let (nothing, _) = handler
        .load::<Shipment>(&shipment.to_string())
        .await
        .unwrap();
    assert!(nothing.is_none());
    log.catch_up(
        &ProcessManager::new(handler.clone(), OrderFulfillment),
        &options,
    )
    .await
    .unwrap();
    settle(&handler).await;

    let (shipment_state, _) = handler
        .load::<Shipment>(&shipment.to_string())
        .await
        .unwrap();
    assert_eq!(shipment_state.unwrap().status, ShipmentStatus::Cancelled);
    let (order_state, _) = handler.load::<Order>(&order.to_string()).await.unwrap();
    let order_state = order_state.unwrap();
    assert_eq!(order_state.status, OrderStatus::Cancelled);
    assert!(
        order_state
            .allocations
            .values()
            .all(|a| a.status == AllocationStatus::Released),
        "{:?}",
        order_state.allocations
    );
}

/// The provider captures more of a payment after the order's cancellation was settled (a
/// partial capture that arrives late): the order records it, and the cancellation refunds it.
async fn money_captured_after_a_cancellation_is_refunded_too(_db: &TestDatabase, log: EventLog) {
    let handler = CommandHandler::new(log.clone());
    let (order, payment) = placed_and_captured(&handler, 5, 1000).await;
    settle(&handler).await;
    let cancel = OrderCommand::CancelOrder {
        reason: text("out of stock"),
    };
    handler
        .execute::<Order>(&order.to_string(), cancel, &by_user("cancel"))
        .await
        .unwrap();
    settle(&handler).await;
    let late = PaymentCommand::CapturePayment {
        capture_id: ext("ch_5_late"),
        amount: eur(500),
        provider_reference: Some(ext("pi_5")),
    };
    handler
        .execute::<Payment>(&payment.to_string(), late, &by_user("late-capture"))
        .await
        .unwrap();
    settle(&handler).await;

    let (payment_state, _) = handler.load::<Payment>(&payment.to_string()).await.unwrap();
    let payment_state = payment_state.unwrap();
    assert_eq!(payment_state.captured, eur(1500));
    assert_eq!(payment_state.refunded, eur(1500), "both captures went back");
    let (order_state, _) = handler.load::<Order>(&order.to_string()).await.unwrap();
    assert_eq!(order_state.unwrap().net_paid(), eur(0));
}
