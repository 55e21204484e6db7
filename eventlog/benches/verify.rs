//! The hash chain's check (`eventlog::chain::check`) over a log of 100 000 events, in events
//! per second, against the least the stack can do in the same run: reading the same events
//! in pages (`read_all`), without hashing.
//!
//! Run: `cargo bench -p eventlog --bench verify`. `BENCH_EVENTS=…` changes the log's size.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use eventlog::{
    chain, testing::TestDatabase, Append, EventLog, ExpectedVersion, NewEvent, StreamId,
};
use serde_json::json;

fn main() {
    let events: usize = std::env::var("BENCH_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run(events));
}

/// A log of `events` order-like events (a payload of a few hundred bytes, metadata with an
/// actor and a correlation id), appended 100 per stream.
async fn fill(log: &EventLog, events: usize) {
    for stream in 0..events.div_ceil(100) {
        let batch = (0..100.min(events - stream * 100))
            .map(|n| {
                NewEvent::new(
                    "OrderPlaced",
                    2,
                    json!({"order_id": format!("o-{stream}"), "customer_id": "c-1", "currency": "EUR",
                        "lines": [{"sku": "SKU-A", "name": "Mug", "quantity": n, "unit_price": {"amount": 1000, "currency": "EUR"}}],
                        "shipping_address": {"recipient": "Ana Lima", "line1": "Hauptstrasse 1", "city": "Berlin", "country": "DE"},
                        "external_reference": "SHOP-1001"}),
                )
            })
            .collect();
        log.append(Append::new(
            StreamId::new("order", format!("o-{stream}")),
            ExpectedVersion::NoStream,
            batch,
        ))
        .await
        .unwrap();
    }
}

async fn run(events: usize) {
    let db = TestDatabase::sqlite();
    let log = db.log().await;
    fill(&log, events).await;
    println!("hash chain check over {events} events, best of 3");
    println!("SQLite");
    measure(&log, events).await;
    drop(log);
    drop(db);

    let db = TestDatabase::postgres().await;
    let log = db.log().await;
    fill(&log, events).await;
    // The chainer links the log first, as `serve` runs it.
    let chainer = {
        let log = log.clone();
        tokio::spawn(async move {
            log.run_projection(&chain::Chainer, &Default::default())
                .await
        })
    };
    while chain::check(&log).await.unwrap().unwrap().events < events as u64 {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    chainer.abort();
    println!("PostgreSQL");
    measure(&log, events).await;
}

async fn measure(log: &EventLog, events: usize) {
    let (mut read, mut check) = (f64::MAX, f64::MAX);
    for _ in 0..3 {
        let started = Instant::now();
        let mut after = 0;
        loop {
            let page = log.read_all(after, 10_000).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.position;
        }
        read = read.min(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let checked = chain::check(log).await.unwrap().unwrap();
        check = check.min(started.elapsed().as_secs_f64());
        assert_eq!(checked.events, events as u64);
    }
    let rate = |seconds: f64| events as f64 / seconds;
    println!(
        "  read_all, pages of 10 000      {:>10.0} events/s",
        rate(read)
    );
    println!(
        "  chain::check                   {:>10.0} events/s",
        rate(check)
    );
    println!("  check ÷ read                   {:>10.2}x", read / check);
}
