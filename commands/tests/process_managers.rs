//! Process managers are idempotent: rerunning them changes nothing, and a crash between a
//! command and the checkpoint causes no second effect.
#![allow(clippy::unwrap_used)]

mod support;

use commands::{
    process::{
        OrderCancellation, OrderCompletion, OrderFulfillment, OrderPayments, ProcessManager,
    },
    CommandHandler,
};
use domain::order::{Order, OrderCommand};
use eventlog::{testing::TestDatabase, EventLog, Subscriber, SubscriptionOptions};
use support::*;

eventlog::on_both_backends!(
    rerunning_every_process_manager_from_position_zero_issues_no_new_commands,
    a_crash_between_a_command_and_the_checkpoint_causes_no_second_effect,
    a_running_process_manager_reacts_to_new_events_on_its_own,
    a_cancellation_handled_late_settles_a_payment_recorded_before_it_as_its_own,
);

async fn event_count(log: &EventLog) -> usize {
    eventlog::testing::everything_visible(log).await;
    log.read_all(0, 100_000).await.unwrap().len()
}

/// An order paid, partly refunded on cancellation, with one shipment allocated and cancelled.
async fn busy_history(handler: &CommandHandler) {
    let (order, _) = placed_and_captured(handler, 7, 2500).await;
    let allocate = OrderCommand::AllocateShipment {
        shipment_id: shipment_id(7),
        carrier: code("ups"),
        lines: vec![line("SKU-A", 1)],
    };
    handler
        .execute::<Order>(&order.to_string(), allocate, &by_user("allocate"))
        .await
        .unwrap();
    settle(handler).await;
    let cancel = OrderCommand::CancelOrder {
        reason: text("out of stock"),
    };
    handler
        .execute::<Order>(&order.to_string(), cancel, &by_user("cancel"))
        .await
        .unwrap();
    settle(handler).await;
}

async fn rerunning_every_process_manager_from_position_zero_issues_no_new_commands(
    _db: &TestDatabase,
    log: EventLog,
) {
    let handler = CommandHandler::new(log.clone());
    busy_history(&handler).await;
    let before = event_count(&log).await;
    let names = [
        ProcessManager::new(handler.clone(), OrderPayments)
            .name()
            .to_owned(),
        ProcessManager::new(handler.clone(), OrderCancellation)
            .name()
            .to_owned(),
        ProcessManager::new(handler.clone(), OrderFulfillment)
            .name()
            .to_owned(),
        ProcessManager::new(handler.clone(), OrderCompletion)
            .name()
            .to_owned(),
    ];
    for name in &names {
        assert!(log.checkpoint(name).await.unwrap() > 0, "{name} ran");
        log.reset_checkpoint(name, 0).await.unwrap();
    }
    settle(&handler).await;
    assert_eq!(
        event_count(&log).await,
        before,
        "a rerun from 0 over a finished history adds nothing"
    );
    for name in &names {
        assert_eq!(
            log.checkpoint(name).await.unwrap(),
            log.head().await.unwrap(),
            "{name} caught up again"
        );
    }
}

async fn a_crash_between_a_command_and_the_checkpoint_causes_no_second_effect(
    _db: &TestDatabase,
    log: EventLog,
) {
    let handler = CommandHandler::new(log.clone());
    let (order, _) = placed_and_captured(&handler, 8, 1000).await;

    // The process manager handles the batch and "crashes" before saving its checkpoint.
    let payments = ProcessManager::new(handler.clone(), OrderPayments);
    eventlog::testing::everything_visible(&log).await;
    let batch = log.read_all(0, 100).await.unwrap();
    for event in &batch {
        payments.handle(event).await.unwrap();
    }
    assert_eq!(
        log.checkpoint(payments.name()).await.unwrap(),
        0,
        "no checkpoint was saved"
    );
    let after_first_run = event_count(&log).await;
    let (order_after_first, _) = handler.load::<Order>(&order.to_string()).await.unwrap();

    // On restart it handles the same events again, from its old checkpoint.
    log.catch_up(&payments, &SubscriptionOptions::default())
        .await
        .unwrap();
    assert_eq!(
        event_count(&log).await,
        after_first_run,
        "the second run appended nothing"
    );
    let (order_after_second, _) = handler.load::<Order>(&order.to_string()).await.unwrap();
    assert_eq!(order_after_second, order_after_first);
    let paid = order_after_second.unwrap();
    assert_eq!(paid.net_paid(), eur(1000), "the capture counted once");
}

async fn a_running_process_manager_reacts_to_new_events_on_its_own(
    _db: &TestDatabase,
    log: EventLog,
) {
    let handler = CommandHandler::new(log.clone());
    let running = {
        let (log, manager) = (
            log.clone(),
            ProcessManager::new(handler.clone(), OrderPayments),
        );
        tokio::spawn(async move { log.run(&manager, &SubscriptionOptions::default()).await })
    };
    let order = placed(&handler, 9).await;
    let payment = requested(&handler, 9, order).await;

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (state, _) = handler.load::<Order>(&order.to_string()).await.unwrap();
        if state.unwrap().open_payments() == vec![payment] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the order never learned of its payment"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    running.abort();
}

async fn a_cancellation_handled_late_settles_a_payment_recorded_before_it_as_its_own(
    _db: &TestDatabase,
    log: EventLog,
) {
    let handler = CommandHandler::new(log.clone());
    let (order, payment) = placed_and_captured(&handler, 10, 2500).await;
    // The order learns of the capture, and is cancelled before the cancellation workflow has
    // looked at that: when it does, the order it loads is already cancelled.
    log.catch_up(
        &ProcessManager::new(handler.clone(), OrderPayments),
        &quick(),
    )
    .await
    .unwrap();
    let cancel = OrderCommand::CancelOrder {
        reason: text("customer changed their mind"),
    };
    handler
        .execute::<Order>(&order.to_string(), cancel, &by_user("cancel-late"))
        .await
        .unwrap();
    settle(&handler).await;

    eventlog::testing::everything_visible(&log).await;
    let events = log.read_all(0, 100_000).await.unwrap();
    let cancelled = events
        .iter()
        .find(|e| e.event_type == "OrderCancelled")
        .unwrap();
    let refunds: Vec<String> = events
        .iter()
        .filter(|e| e.event_type == "PaymentRefundRequested")
        .map(|e| e.payload["reference"].as_str().unwrap().to_owned())
        .collect();
    // The payment was recorded before the cancellation, which names it: the refund is the
    // cancellation's, asked once.
    assert_eq!(
        refunds,
        vec![format!("cancel-{}-{payment}", cancelled.event_id)]
    );
}
