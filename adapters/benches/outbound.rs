//! Messages per second through the outbound engine to a local partner, and the lag it keeps
//! behind a command load, on SQLite and PostgreSQL.
//!
//! Run: `cargo bench -p adapters --bench outbound` (env `BENCH_MESSAGES`, default 2 000).
//!
//! - The reference: the same requests posted one after the other to the same local partner
//!   by a bare HTTP client, with no log, no engine and no record: the least this stack can do.
//! - The engine: the CRM destination catching up over as many `OrderPlaced` events (loading
//!   the order, mapping, the circuit, recording every attempt, the checkpoint), with the
//!   partner taking everything (0 %), then failing every tenth call with a 503 (10 %): those
//!   are retried after a backoff of 10 ms, doubling.
//! - Lag: orders placed through the command handler at 500 per second for 10 seconds while
//!   the destination runs as `serve` runs it; the lag (events appended and not yet handled by
//!   the destination) is sampled every 100 ms.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use adapters::outbound::{config::CrmConfig, crm::Crm, Destination, Limits, Outbound};
use axum::{http::StatusCode, routing::post, Router};
use commands::{CommandHandler, CommandMeta};
use domain::{
    order::{Order, OrderCommand, OrderLine, PlaceOrder},
    Address, CountryCode, Currency, Money, NonEmptyText, Quantity, Sku,
};
use eventlog::{testing::TestDatabase, EventLog};

/// A local partner: counts calls and answers 201, or 503 to every tenth call when failing.
#[derive(Clone, Default)]
struct Partner {
    calls: Arc<AtomicU64>,
    taken: Arc<AtomicU64>,
    failing: Arc<std::sync::atomic::AtomicBool>,
}

async fn start(partner: Partner) -> String {
    let app = Router::new().route(
        "/{*path}",
        post(move || {
            let partner = partner.clone();
            async move {
                let n = partner.calls.fetch_add(1, Ordering::Relaxed) + 1;
                if partner.failing.load(Ordering::Relaxed) && n.is_multiple_of(10) {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    partner.taken.fetch_add(1, Ordering::Relaxed);
                    StatusCode::CREATED
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn place(n: u64) -> PlaceOrder {
    let text = |s: &str| NonEmptyText::parse(s).unwrap();
    PlaceOrder {
        order_id: uuid::Uuid::now_v7().to_string().parse().unwrap(),
        customer_id: uuid::Uuid::now_v7().to_string().parse().unwrap(),
        currency: Currency::EUR,
        lines: vec![OrderLine {
            sku: Sku::parse("MUG").unwrap(),
            name: text("Mug"),
            quantity: Quantity::parse(1).unwrap(),
            unit_price: Money::new(1_000 + i64::try_from(n % 100).unwrap(), Currency::EUR),
        }],
        shipping_address: Address {
            recipient: text("Ana Lima"),
            line1: text("Hauptstrasse 1"),
            line2: None,
            postal_code: None,
            city: text("Berlin"),
            country: CountryCode::parse("DE").unwrap(),
        },
        external_reference: None,
    }
}

async fn place_orders(handler: &CommandHandler, count: u64) {
    for n in 0..count {
        let place = place(n);
        let id = place.order_id.to_string();
        handler
            .execute::<Order>(
                &id,
                OrderCommand::PlaceOrder(place),
                &CommandMeta::default(),
            )
            .await
            .unwrap();
    }
}

fn limits() -> Limits {
    Limits {
        backoff_base_ms: 10,
        backoff_max_ms: 200,
        ..Limits::default()
    }
}

async fn crm(log: &EventLog, url: &str) -> Outbound<Crm> {
    let config: CrmConfig =
        serde_json::from_value(serde_json::json!({"base_url": url, "token": "t"})).unwrap();
    Outbound::new(
        CommandHandler::new(log.clone()),
        Crm::connect(&config).await.unwrap(),
        limits(),
    )
}

/// The bare client's rate: `count` posts of a CRM activity's size, one after the other.
async fn reference(url: &str, count: u64) -> f64 {
    let client = reqwest::Client::new();
    let body = serde_json::json!({"id": uuid::Uuid::now_v7(), "type": "order_placed",
        "order_id": uuid::Uuid::now_v7(), "summary": "Order placed: 1 items, 10.00 EUR",
        "amount_minor": 1000, "currency": "EUR", "occurred_at": chrono::Utc::now()});
    let started = Instant::now();
    for _ in 0..count {
        let response = client
            .post(format!("{url}/customers/c/activities"))
            .header("idempotency-key", uuid::Uuid::now_v7().to_string())
            .bearer_auth("t")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success());
    }
    count as f64 / started.elapsed().as_secs_f64()
}

/// The engine's rate over `count` placed orders, the partner failing every tenth call or not.
async fn engine(db: &TestDatabase, count: u64, failing: bool) -> (f64, u64) {
    let log = db.log().await;
    let handler = CommandHandler::new(log.clone());
    place_orders(&handler, count).await;
    let partner = Partner::default();
    partner.failing.store(failing, Ordering::Relaxed);
    let url = start(partner.clone()).await;
    let outbound = crm(&log, &url).await;
    let options = limits().subscription();
    let last = log.last_position().await.unwrap();
    log.wait_until_visible(last, Duration::from_secs(60))
        .await
        .unwrap();
    let started = Instant::now();
    while partner.taken.load(Ordering::Relaxed) < count {
        log.catch_up(&outbound, &options).await.unwrap();
        if partner.taken.load(Ordering::Relaxed) < count {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let rate = count as f64 / started.elapsed().as_secs_f64();
    (rate, partner.calls.load(Ordering::Relaxed))
}

/// Lag samples (events) while orders are placed at `per_second` for `seconds`, the achieved
/// command rate, and how long the destination took to drain after the load stopped.
async fn lag(db: &TestDatabase, per_second: u64, seconds: u64) -> (Vec<i64>, f64, Duration) {
    let log = db.log().await;
    let partner = Partner::default();
    let url = start(partner.clone()).await;
    let outbound = crm(&log, &url).await;
    let running = tokio::spawn({
        let log = log.clone();
        async move { log.run(&outbound, &limits().subscription()).await }
    });
    let handler = CommandHandler::new(log.clone());
    let total = per_second * seconds;
    let load = tokio::spawn({
        let handler = handler.clone();
        async move {
            let started = Instant::now();
            let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / per_second));
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for n in 0..total {
                ticks.tick().await;
                let place = place(n);
                let id = place.order_id.to_string();
                handler
                    .execute::<Order>(
                        &id,
                        OrderCommand::PlaceOrder(place),
                        &CommandMeta::default(),
                    )
                    .await
                    .unwrap();
            }
            total as f64 / started.elapsed().as_secs_f64()
        }
    });
    let mut samples = Vec::new();
    while !load.is_finished() {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let head = log.last_position().await.unwrap();
        let done = log.checkpoint("outbound.crm").await.unwrap();
        samples.push(head - done);
    }
    let achieved = load.await.unwrap();
    let stopped = Instant::now();
    while partner.taken.load(Ordering::Relaxed) < total {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let drain = stopped.elapsed();
    running.abort();
    samples.sort_unstable();
    (samples, achieved, drain)
}

fn main() {
    let count: u64 = std::env::var("BENCH_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for postgres in [false, true] {
            let backend = if postgres { "PostgreSQL" } else { "SQLite" };
            let fresh = async || {
                if postgres {
                    TestDatabase::postgres().await
                } else {
                    TestDatabase::sqlite()
                }
            };
            let url = start(Partner::default()).await;
            let bare = reference(&url, count).await;
            println!("{backend:<10} reference, bare client:        {bare:>7.0} requests/s");
            for failing in [false, true] {
                let db = fresh().await;
                let (rate, calls) = engine(&db, count, failing).await;
                println!(
                    "{backend:<10} engine, {:>2} % failures:       {rate:>7.0} messages/s \
                     ({:.2} x the reference; {calls} calls for {count} messages)",
                    if failing { 10 } else { 0 },
                    rate / bare
                );
            }
            let db = fresh().await;
            let (samples, achieved, drain) = lag(&db, 500, 10).await;
            let at = |q: f64| samples[((samples.len() - 1) as f64 * q) as usize];
            println!(
                "{backend:<10} lag behind {achieved:.0} orders/s (asked 500): median {} events, \
                 p95 {}, max {}; drained {:.2} s after the load stopped",
                at(0.5),
                at(0.95),
                samples.last().unwrap(),
                drain.as_secs_f64()
            );
        }
    });
}
