//! Full commands per second (load the stream, decide, append) from 1 and from 8 concurrent
//! callers, on PostgreSQL and SQLite.
//!
//! Run: `cargo bench -p commands`. Each caller places orders and records a payment request on
//! each (the second command loads a stream that has history). Median of three rounds.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use commands::{CommandHandler, CommandMeta};
use domain::{
    order::{Order, OrderCommand, OrderLine, PlaceOrder},
    Address, CountryCode, Currency, Money, NonEmptyText, OrderId, PaymentId, Quantity, Sku,
};
use eventlog::{testing::TestDatabase, EventLog};

const COMMANDS_PER_ROUND: usize = 2000;
const ROUNDS: usize = 3;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        println!("commands/s (load + decide + append), median of {ROUNDS} rounds of {COMMANDS_PER_ROUND}");
        let db = TestDatabase::postgres().await;
        report("PostgreSQL", db.log().await).await;
        drop(db);
        let db = TestDatabase::sqlite();
        report("SQLite", db.log().await).await;
    });
}

async fn report(backend: &str, log: EventLog) {
    let handler = CommandHandler::new(log);
    for callers in [1, 8] {
        // Warm-up, untimed.
        run(&handler, callers, callers * 20).await;
        let mut rates: Vec<f64> = Vec::new();
        for _ in 0..ROUNDS {
            rates.push(run(&handler, callers, COMMANDS_PER_ROUND).await);
        }
        rates.sort_by(f64::total_cmp);
        println!(
            "  {backend:<10} {callers} caller(s)  {:>7.0} commands/s",
            rates[ROUNDS / 2]
        );
    }
}

/// Runs `total` commands over `callers` tasks; returns commands per second.
async fn run(handler: &CommandHandler, callers: usize, total: usize) -> f64 {
    let per_caller = total / callers / 2;
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let handler = handler.clone();
            tokio::spawn(async move {
                for _ in 0..per_caller {
                    let order = OrderId::from(uuid::Uuid::now_v7());
                    let id = order.to_string();
                    let meta = CommandMeta::default();
                    handler
                        .execute::<Order>(&id, OrderCommand::PlaceOrder(place(order)), &meta)
                        .await
                        .unwrap();
                    let requested = OrderCommand::RecordPaymentRequested {
                        payment_id: PaymentId::from(uuid::Uuid::now_v7()),
                        amount: eur(2500),
                    };
                    handler
                        .execute::<Order>(&id, requested, &meta)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (per_caller * callers * 2) as f64 / started.elapsed().as_secs_f64()
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap())
}

fn text(s: &str) -> NonEmptyText {
    NonEmptyText::parse(s).unwrap()
}

fn place(order_id: OrderId) -> PlaceOrder {
    PlaceOrder {
        order_id,
        customer_id: uuid::Uuid::now_v7().into(),
        currency: Currency::parse("EUR").unwrap(),
        lines: vec![OrderLine {
            sku: Sku::parse("SKU-A").unwrap(),
            name: text("Mug"),
            quantity: Quantity::parse(2).unwrap(),
            unit_price: eur(1250),
        }],
        shipping_address: Address {
            recipient: text("Ana Lima"),
            line1: text("Hauptstrasse 1"),
            line2: None,
            postal_code: Some(text("10115")),
            city: text("Berlin"),
            country: CountryCode::parse("DE").unwrap(),
        },
        external_reference: None,
    }
}
