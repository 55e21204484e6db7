//! Full commands per second (decide against the stream's state, append) from 1 and from 8
//! concurrent callers; on PostgreSQL against postgres-es 0.5 in the same run, then on SQLite.
//!
//! Run: `cargo bench -p commands`. Each caller places orders and records a payment request on
//! each (the second command addresses a stream with history). The contender is a
//! `CqrsFramework` over postgres-es's `PostgresEventRepository` (its own tables, on the same
//! database), driving the same domain: the same `Order::decide` and `Order::evolve`, the same
//! event payloads. The contenders run interleaved, round by round, after an untimed warm-up;
//! each figure is the median of the rounds (`BENCH_ROUNDS`, default 3, of
//! `BENCH_COMMANDS`, default 2000, commands).
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::{future::Future, sync::Arc, time::Instant};

use commands::{CommandHandler, CommandMeta};
use cqrs_es::{
    event_sink::EventSink, persist::PersistedEventStore, Aggregate, CqrsFramework, DomainEvent,
};
use domain::{
    order::{Order, OrderCommand, OrderEvent, OrderLine, OrderState, PlaceOrder},
    Address, Context, CountryCode, Currency, Decider as _, EventCodec as _, Money, NonEmptyText,
    OrderId, PaymentId, Quantity, Sku,
};
use eventlog::{testing::TestDatabase, EventLog};
use postgres_es::PostgresEventRepository;
use serde::{Deserialize, Serialize};

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let rounds = env("BENCH_ROUNDS", 3);
    let commands = env("BENCH_COMMANDS", 2000);
    runtime.block_on(async {
        println!("commands/s (decide + append), median of {rounds} interleaved rounds of {commands}");
        let db = TestDatabase::postgres().await;
        let log = db.log().await;
        let EventLog::Postgres(pg) = &log else {
            unreachable!()
        };
        let pges = Arc::new(postgres_es(pg.pool()).await);
        let ours = CommandHandler::new(log.clone());
        for callers in [1, 8] {
            let ours = ours.clone();
            let pges = Arc::clone(&pges);
            let contenders: [(&str, Contender); 2] = [
                ("ours", Box::new(move |order| place_and_request(ours.clone(), order))),
                ("postgres-es", Box::new(move |order| pges_place_and_request(Arc::clone(&pges), order))),
            ];
            let mut rates = [Vec::new(), Vec::new()];
            for (_, contender) in &contenders {
                run(contender, callers, callers * 20).await;
            }
            for _ in 0..rounds {
                for ((_, contender), rates) in contenders.iter().zip(&mut rates) {
                    rates.push(run(contender, callers, commands).await);
                }
            }
            let ratios: Vec<f64> = rates[0].iter().zip(&rates[1]).map(|(o, p)| o / p).collect();
            println!(
                "  PostgreSQL {callers} caller(s)  ours {:>6.0}/s  postgres-es {:>6.0}/s  ratio per round {}  median {:.2}x",
                median(&rates[0]),
                median(&rates[1]),
                ratios.iter().map(|r| format!("{r:.2}x")).collect::<Vec<_>>().join(" "),
                median(&ratios),
            );
        }
        drop(db);
        let db = TestDatabase::sqlite();
        let ours = CommandHandler::new(db.log().await);
        for callers in [1, 8] {
            let ours = ours.clone();
            let contender: Contender = Box::new(move |order| place_and_request(ours.clone(), order));
            run(&contender, callers, callers * 20).await;
            let mut rates = Vec::new();
            for _ in 0..rounds {
                rates.push(run(&contender, callers, commands).await);
            }
            println!("  SQLite     {callers} caller(s)  ours {:>6.0}/s", median(&rates));
        }
    });
}

/// Places an order and records a payment request on it: two commands.
type Contender = Box<dyn Fn(OrderId) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

/// Runs `total` commands over `callers` tasks; returns commands per second.
async fn run(contender: &Contender, callers: usize, total: usize) -> f64 {
    let per_caller = (total / callers / 2).max(1);
    let started = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|_| {
            let work: Vec<_> = (0..per_caller)
                .map(|_| contender(OrderId::from(uuid::Uuid::now_v7())))
                .collect();
            tokio::spawn(async move {
                for command in work {
                    command.await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    (per_caller * callers * 2) as f64 / started.elapsed().as_secs_f64()
}

fn boxed(
    future: impl Future<Output = ()> + Send + 'static,
) -> futures::future::BoxFuture<'static, ()> {
    Box::pin(future)
}

fn place_and_request(
    handler: CommandHandler,
    order: OrderId,
) -> futures::future::BoxFuture<'static, ()> {
    boxed(async move {
        let id = order.to_string();
        let meta = CommandMeta::default();
        handler
            .execute::<Order>(&id, OrderCommand::PlaceOrder(place(order)), &meta)
            .await
            .unwrap();
        handler
            .execute::<Order>(&id, requested(), &meta)
            .await
            .unwrap();
    })
}

fn pges_place_and_request(
    cqrs: Arc<CqrsFramework<PgesOrder, PersistedEventStore<PostgresEventRepository, PgesOrder>>>,
    order: OrderId,
) -> futures::future::BoxFuture<'static, ()> {
    boxed(async move {
        let id = order.to_string();
        cqrs.execute(&id, OrderCommand::PlaceOrder(place(order)))
            .await
            .unwrap();
        cqrs.execute(&id, requested()).await.unwrap();
    })
}

/// postgres-es over `pool`, in tables of its own beside ours.
async fn postgres_es(
    pool: &sqlx::PgPool,
) -> CqrsFramework<PgesOrder, PersistedEventStore<PostgresEventRepository, PgesOrder>> {
    for statement in eventlog::testing::POSTGRES_ES_TABLES {
        sqlx::query(statement).execute(pool).await.unwrap();
    }
    let repo =
        PostgresEventRepository::new(pool.clone()).with_tables("pges_events", "pges_snapshots");
    CqrsFramework::new(PersistedEventStore::new_event_store(repo), vec![], ())
}

/// Our order aggregate as postgres-es runs it: the same decide and evolve.
#[derive(Debug, Default, Serialize, Deserialize)]
struct PgesOrder {
    #[serde(skip)]
    state: Option<OrderState>,
}

/// An order event as postgres-es stores it: our event type, version and payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct PgesEvent {
    event_type: String,
    event_version: i32,
    payload: serde_json::Value,
}

impl DomainEvent for PgesEvent {
    fn event_type(&self) -> String {
        self.event_type.clone()
    }
    fn event_version(&self) -> String {
        self.event_version.to_string()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

impl Aggregate for PgesOrder {
    const TYPE: &'static str = "order";
    type Command = OrderCommand;
    type Event = PgesEvent;
    type Error = Refused;
    type Services = ();

    async fn handle(
        &mut self,
        command: OrderCommand,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), Refused> {
        let ctx = Context::new(chrono::Utc::now(), uuid::Uuid::now_v7);
        let events =
            Order::decide(&self.state, command, &ctx).map_err(|e| Refused(e.to_string()))?;
        for event in events {
            let stored = event.encode();
            let event = PgesEvent {
                event_type: stored.event_type.to_owned(),
                event_version: stored.event_version,
                payload: stored.payload,
            };
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: PgesEvent) {
        let event =
            OrderEvent::decode(&event.event_type, event.event_version, &event.payload).unwrap();
        Order::evolve(&mut self.state, &event);
    }
}

fn requested() -> OrderCommand {
    OrderCommand::RecordPaymentRequested {
        payment_id: PaymentId::from(uuid::Uuid::now_v7()),
        amount: eur(2500),
    }
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
