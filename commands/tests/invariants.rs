//! Random interleavings of place, allocate, dispatch, cancel, capture, refund and void, sent by
//! several callers at once while the process managers run, on both backends (a property test,
//! state-machine style: random rounds of concurrent commands against a small world). After each
//! run, what the log holds keeps the rules that span aggregates (ADR 0009, 0010):
//!
//! - no order is cancelled with goods that left;
//! - no line is allocated past what was ordered;
//! - no payment refunds more than it captured, nor captures more than was authorized;
//! - every cancelled order's captured money is refunded, or an attention item is open for it.
#![allow(clippy::unwrap_used)]

mod support;

use std::{collections::BTreeMap, sync::OnceLock, time::Duration};

use commands::CommandHandler;
use domain::{
    attention::Attention,
    order::{Order, OrderCommand, OrderStatus},
    payment::{Payment, PaymentCommand},
    shipment::{Shipment, ShipmentCommand},
};
use eventlog::{testing::TestDatabase, EventLog, StepState};
use proptest::prelude::*;
use support::*;

/// Orders in the world of one run.
const ORDERS: u128 = 3;

#[derive(Debug, Clone)]
enum Op {
    Allocate {
        order: u128,
        sku: &'static str,
        quantity: u32,
    },
    Dispatch {
        order: u128,
        shipment: u128,
    },
    Cancel {
        order: u128,
    },
    Capture {
        order: u128,
        amount: i64,
    },
    Refund {
        order: u128,
        amount: i64,
    },
    Void {
        order: u128,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let order = 1..=ORDERS;
    prop_oneof![
        (
            order.clone(),
            prop_oneof![Just("SKU-A"), Just("SKU-B")],
            1..=2u32
        )
            .prop_map(|(order, sku, quantity)| Op::Allocate {
                order,
                sku,
                quantity
            }),
        (order.clone(), 0..3u128).prop_map(|(order, shipment)| Op::Dispatch { order, shipment }),
        order.clone().prop_map(|order| Op::Cancel { order }),
        (order.clone(), 500..=2500i64).prop_map(|(order, amount)| Op::Capture { order, amount }),
        (order.clone(), 500..=2500i64).prop_map(|(order, amount)| Op::Refund { order, amount }),
        order.prop_map(|order| Op::Void { order }),
    ]
}

/// Rounds of up to four commands sent at once.
fn rounds() -> impl Strategy<Value = Vec<Vec<Op>>> {
    prop::collection::vec(prop::collection::vec(op(), 1..=4), 2..=6)
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .enable_all()
            .build()
            .unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn concurrent_interleavings_keep_the_rules_on_postgres(rounds in rounds()) {
        runtime().block_on(async {
            let db = TestDatabase::postgres().await;
            run(db.log().await, rounds).await;
        });
    }

    #[test]
    fn concurrent_interleavings_keep_the_rules_on_sqlite(rounds in rounds()) {
        runtime().block_on(async {
            let db = TestDatabase::sqlite();
            run(db.log().await, rounds).await;
        });
    }
}

/// The shipment `n` of order `order` (each allocation names a new one).
fn shipment_of(order: u128, n: u128) -> domain::ShipmentId {
    shipment_id(order * 100 + n)
}

async fn run(log: EventLog, rounds: Vec<Vec<Op>>) {
    let handler = CommandHandler::new(log.clone());
    for n in 1..=ORDERS {
        let order = placed(&handler, n).await;
        requested(&handler, n, order).await;
    }
    // The process managers run all along, as in `serve`; through a handler of their own here,
    // so that each handler's kept states go stale under the other's appends.
    let options = quick();
    let mut managers = tokio::task::JoinSet::new();
    commands::process::spawn_all(&CommandHandler::new(log.clone()), &options, &mut managers);

    let mut allocations: BTreeMap<u128, u128> = BTreeMap::new();
    for (round, ops) in rounds.into_iter().enumerate() {
        let mut sent = Vec::new();
        for (n, op) in ops.into_iter().enumerate() {
            let key = format!("{round}-{n}");
            if let Op::Allocate { order, .. } = op {
                *allocations.entry(order).or_default() += 1;
            }
            let next = allocations.get(&order_of(&op)).copied().unwrap_or(0);
            let handler = handler.clone();
            sent.push(tokio::spawn(
                async move { send(&handler, op, next, &key).await },
            ));
        }
        for command in sent {
            command.await.unwrap();
        }
    }
    settled(&log).await;
    managers.shutdown().await;
    check(&handler, &allocations).await;
}

fn order_of(op: &Op) -> u128 {
    match op {
        Op::Allocate { order, .. }
        | Op::Dispatch { order, .. }
        | Op::Cancel { order }
        | Op::Capture { order, .. }
        | Op::Refund { order, .. }
        | Op::Void { order } => *order,
    }
}

/// Sends one command as a user would; a refusal is an answer like any other.
async fn send(handler: &CommandHandler, op: Op, allocated: u128, key: &str) {
    let meta = by_user(key);
    let payment = |order: u128| payment_id(order).to_string();
    let outcome = match op {
        Op::Allocate {
            order,
            sku,
            quantity,
        } => {
            let command = OrderCommand::AllocateShipment {
                shipment_id: shipment_of(order, allocated),
                carrier: code("dhl"),
                lines: vec![line(sku, quantity)],
            };
            handler
                .execute::<Order>(&order_id(order).to_string(), command, &meta)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
        Op::Dispatch { order, shipment } => handler
            .execute::<Shipment>(
                &shipment_of(order, shipment + 1).to_string(),
                ShipmentCommand::DispatchShipment,
                &meta,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Op::Cancel { order } => handler
            .execute::<Order>(
                &order_id(order).to_string(),
                OrderCommand::CancelOrder {
                    reason: text("changed their mind"),
                },
                &meta,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Op::Capture { order, amount } => handler
            .execute::<Payment>(
                &payment(order),
                PaymentCommand::CapturePayment {
                    capture_id: ext(&format!("ch-{key}")),
                    amount: eur(amount),
                    provider_reference: None,
                },
                &meta,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Op::Refund { order, amount } => handler
            .execute::<Payment>(
                &payment(order),
                PaymentCommand::RefundPayment {
                    refund_id: ext(&format!("re-{key}")),
                    amount: eur(amount),
                    request: None,
                },
                &meta,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Op::Void { order } => handler
            .execute::<Payment>(
                &payment(order),
                PaymentCommand::VoidPayment {
                    reason: text("not wanted"),
                },
                &meta,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
    };
    // Only a refusal or a lost race may fail a command here, never storage.
    if let Err(error) = outcome {
        assert!(!error.contains("database"), "{error}");
    }
}

/// Waits until the process managers have taken every step they can take by themselves.
async fn settled(log: &EventLog) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let head = eventlog::testing::everything_visible(log).await;
        let statuses = log.subscribers().await.unwrap();
        let caught_up = commands::process::NAMES.iter().all(|name| {
            statuses
                .iter()
                .any(|s| s.name == *name && s.position >= head)
        });
        let pending = log
            .set_aside_steps(None)
            .await
            .unwrap()
            .iter()
            .any(|step| !matches!(step.state, StepState::Parked | StepState::Waiting));
        if caught_up && !pending && eventlog::testing::everything_visible(log).await == head {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "never settled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn check(handler: &CommandHandler, allocations: &BTreeMap<u128, u128>) {
    let open_items = open_attention_orders(handler).await;
    for n in 1..=ORDERS {
        let order = handler
            .load::<Order>(&order_id(n).to_string())
            .await
            .unwrap()
            .0
            .unwrap();
        let payment = handler
            .load::<Payment>(&payment_id(n).to_string())
            .await
            .unwrap()
            .0
            .unwrap();
        for line in &order.lines {
            assert!(
                order.allocated(&line.sku) <= u64::from(line.quantity.get()),
                "order {n}: {} allocated past the line",
                line.sku
            );
        }
        let mut left = false;
        for k in 1..=allocations.get(&n).copied().unwrap_or(0) {
            let (shipment, _) = handler
                .load::<Shipment>(&shipment_of(n, k).to_string())
                .await
                .unwrap();
            left |= shipment.is_some_and(|s| {
                !s.status.is_before_dispatch()
                    && s.status != domain::shipment::ShipmentStatus::Cancelled
            });
        }
        if order.status == OrderStatus::Cancelled {
            assert!(!left, "order {n}: cancelled while its goods left");
            assert!(!order.anything_dispatched(), "order {n}");
            assert!(
                payment.refundable().is_zero() || open_items.contains(&order_id(n)),
                "order {n}: cancelled, {} still held and nobody told",
                payment.refundable().amount_minor
            );
        }
        assert!(
            payment.refunded.amount_minor <= payment.captured.amount_minor,
            "payment {n}: refunded past captured"
        );
        assert!(
            payment.captured.amount_minor <= payment.authorized().amount_minor,
            "payment {n}: captured past authorized"
        );
    }
}

/// The orders with an open attention item.
async fn open_attention_orders(handler: &CommandHandler) -> Vec<domain::OrderId> {
    let log = handler.log();
    let mut orders = Vec::new();
    for event in log.read_all(0, 100_000).await.unwrap() {
        if event.stream.aggregate_type != domain::attention::AGGREGATE_TYPE {
            continue;
        }
        let (item, _) = handler
            .load::<Attention>(&event.stream.aggregate_id)
            .await
            .unwrap();
        if let Some(item) = item.filter(|i| !i.status.is_closed()) {
            orders.extend(item.raised.order_id);
        }
    }
    orders
}
