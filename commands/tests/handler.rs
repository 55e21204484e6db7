//! The command handler on both backends: no-ops, conflicts, idempotency keys, refusals.
#![allow(clippy::unwrap_used)]

mod support;

use commands::{CommandError, CommandHandler, CommandMeta};
use domain::order::{Order, OrderCommand, OrderError};
use eventlog::{testing::TestDatabase, EventLog};
use support::*;

eventlog::on_both_backends!(
    a_command_that_changes_nothing_appends_nothing_and_says_so,
    concurrent_commands_on_one_stream_are_decided_again_and_all_land,
    a_repeated_idempotency_key_answers_the_first_result,
    a_refused_command_appends_nothing_and_names_the_rule,
    a_state_kept_by_one_handler_goes_stale_under_another_and_is_read_again,
);

async fn a_command_that_changes_nothing_appends_nothing_and_says_so(
    _db: &TestDatabase,
    log: EventLog,
) {
    let handler = CommandHandler::new(log.clone());
    let order = order_id(1);
    let id = order.to_string();
    handler
        .execute::<Order>(
            &id,
            OrderCommand::PlaceOrder(place(order)),
            &CommandMeta::default(),
        )
        .await
        .unwrap();
    let requested = OrderCommand::RecordPaymentRequested {
        payment_id: payment_id(1),
        amount: eur(2500),
    };
    let first = handler
        .execute::<Order>(&id, requested.clone(), &CommandMeta::default())
        .await
        .unwrap();
    assert!(first.changed());
    let again = handler
        .execute::<Order>(&id, requested, &CommandMeta::default())
        .await
        .unwrap();
    assert!(
        !again.changed(),
        "an already applied command changes nothing"
    );
    assert_eq!((again.stream_version, again.position), (2, None));
    assert_eq!(log.read_stream(&again.stream, 1).await.unwrap().len(), 2);
}

async fn concurrent_commands_on_one_stream_are_decided_again_and_all_land(
    _db: &TestDatabase,
    log: EventLog,
) {
    let handler = CommandHandler::new(log.clone());
    let order = order_id(2);
    let id = order.to_string();
    handler
        .execute::<Order>(
            &id,
            OrderCommand::PlaceOrder(place(order)),
            &CommandMeta::default(),
        )
        .await
        .unwrap();
    let tasks: Vec<_> = (1..=4)
        .map(|n| {
            let (handler, id) = (handler.clone(), id.clone());
            tokio::spawn(async move {
                let command = OrderCommand::RecordPaymentRequested {
                    payment_id: payment_id(n),
                    amount: eur(100),
                };
                handler
                    .execute::<Order>(&id, command, &CommandMeta::default())
                    .await
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().unwrap().changed());
    }
    let (state, version) = handler.load::<Order>(&id).await.unwrap();
    assert_eq!(
        version, 5,
        "the place and four requests, none lost to a conflict"
    );
    assert_eq!(state.unwrap().open_payments().len(), 4);
}

async fn a_repeated_idempotency_key_answers_the_first_result(_db: &TestDatabase, log: EventLog) {
    let handler = CommandHandler::new(log.clone());
    let order = order_id(3);
    let id = order.to_string();
    let first = handler
        .execute::<Order>(&id, OrderCommand::PlaceOrder(place(order)), &by_user("k"))
        .await
        .unwrap();
    // Deciding again is refused (the order exists); the key answers with the first result.
    let again = handler
        .execute::<Order>(&id, OrderCommand::PlaceOrder(place(order)), &by_user("k"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(
        (again.events, again.position),
        (first.events, first.position)
    );
    match handler
        .execute::<Order>(
            &order_id(4).to_string(),
            OrderCommand::PlaceOrder(place(order_id(4))),
            &by_user("k"),
        )
        .await
    {
        Err(CommandError::KeyReused { recorded_for, .. }) => assert_eq!(recorded_for, first.stream),
        other => panic!("a key reused for another order must be refused, got {other:?}"),
    }
}

async fn a_refused_command_appends_nothing_and_names_the_rule(_db: &TestDatabase, log: EventLog) {
    let handler = CommandHandler::new(log.clone());
    let id = order_id(5).to_string();
    let cancel = OrderCommand::CancelOrder {
        reason: text("typo"),
    };
    match handler
        .execute::<Order>(&id, cancel, &CommandMeta::default())
        .await
    {
        Err(CommandError::Rejected(OrderError::NotPlaced)) => {}
        other => panic!("cancelling an order that does not exist must be refused, got {other:?}"),
    }
    assert_eq!(log.head().await.unwrap(), 0);
}

/// Each handler keeps the states of the streams it decided on (`commands::states`); two
/// handlers on one log (two processes) make each other's kept states stale. A stale state's
/// decision is refused by the append's expected version and decided again on the log; a
/// refusal is never answered from a kept state (or from a stream not seen yet).
async fn a_state_kept_by_one_handler_goes_stale_under_another_and_is_read_again(
    _db: &TestDatabase,
    log: EventLog,
) {
    let (a, b) = (
        CommandHandler::new(log.clone()),
        CommandHandler::new(log.clone()),
    );
    let order = order_id(6);
    let id = order.to_string();
    let meta = CommandMeta::default();
    let request = |n| OrderCommand::RecordPaymentRequested {
        payment_id: payment_id(n),
        amount: eur(100),
    };
    b.execute::<Order>(&id, OrderCommand::PlaceOrder(place(order)), &meta)
        .await
        .unwrap();
    // `a` has not seen the order: refused against nothing, it reads the log and goes through.
    let first = a.execute::<Order>(&id, request(1), &meta).await.unwrap();
    assert_eq!(first.stream_version, 2);
    // `b` kept the order at version 1: its append is refused, and it decides again.
    let second = b.execute::<Order>(&id, request(2), &meta).await.unwrap();
    assert_eq!(second.stream_version, 3);
    let cancel = OrderCommand::CancelOrder {
        reason: text("customer asked"),
    };
    assert_eq!(
        a.execute::<Order>(&id, cancel, &meta)
            .await
            .unwrap()
            .stream_version,
        4
    );
    // `b`'s kept order is not cancelled; the log's is, and the log's answer is the refusal.
    match b.execute::<Order>(&id, request(3), &meta).await {
        Err(CommandError::Rejected(refusal)) => {
            assert!(matches!(refusal, OrderError::Cancelled), "{refusal:?}")
        }
        other => panic!("a request on a cancelled order must be refused, got {other:?}"),
    }
    let (state, version) = a.load::<Order>(&id).await.unwrap();
    assert_eq!(version, 4);
    assert_eq!(state.unwrap().open_payments().len(), 2);
}
