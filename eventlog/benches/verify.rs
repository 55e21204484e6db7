//! The hash chain's check (`eventlog::chain::check`) over a log of 100 000 events, in events
//! per second, against the least the stack can do in the same run: reading the same events in
//! pages (`read_all`), without hashing; once without seals and once over the same events sealed
//! every 1 000 (each seal's signature and Merkle root checked too), the rounds interleaved.
//!
//! Run: `cargo bench -p eventlog --bench verify`. `BENCH_EVENTS=…` changes the log's size.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use ed25519_dalek::SigningKey;
use eventlog::{
    chain, sealer::Sealer, testing::TestDatabase, Append, EventLog, ExpectedVersion, NewEvent,
    StreamId,
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
    println!("hash chain check over {events} events, best of 3 (interleaved)");
    println!("SQLite");
    let (a, b) = (TestDatabase::sqlite(), TestDatabase::sqlite());
    let plain = prepared(&a, events, false).await;
    let sealed = prepared(&b, events, true).await;
    measure(&plain, &sealed, events).await;
    drop((plain, sealed, a, b));

    println!("PostgreSQL");
    let (a, b) = (
        TestDatabase::postgres().await,
        TestDatabase::postgres().await,
    );
    let plain = prepared(&a, events, false).await;
    let sealed = prepared(&b, events, true).await;
    measure(&plain, &sealed, events).await;
}

/// A log of `events` on `db`, linked (on PostgreSQL by the chainer, as `serve` runs it), and
/// if `sealed` sealed every 1 000 events, as `serve`'s sealer does by default.
async fn prepared(db: &TestDatabase, events: usize, sealed: bool) -> EventLog {
    let log = db.log().await;
    fill(&log, events).await;
    if let EventLog::Postgres(_) = &log {
        let chainer = {
            let log = log.clone();
            tokio::spawn(async move {
                log.run_projection(&chain::Chainer, &Default::default())
                    .await
            })
        };
        while chain::check(&log, &trust()).await.unwrap().unwrap().events < events as u64 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        chainer.abort();
    }
    if sealed {
        Sealer::new(key()).seal_all(&log).await.unwrap();
    }
    log
}

/// The key the log is sealed with.
fn key() -> SigningKey {
    SigningKey::from_bytes(&[1; 32])
}

/// A check trusting [`key`].
fn trust() -> chain::Trust {
    chain::Trust {
        keys: vec![key().verifying_key()],
        published: Vec::new(),
    }
}

/// Seconds of a check of `log`, which must hold `seals` seals.
async fn check(log: &EventLog, events: usize, seals: u64) -> f64 {
    let started = Instant::now();
    let checked = chain::check(log, &trust()).await.unwrap().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    assert!(checked.events >= events as u64);
    assert_eq!(checked.seals, seals);
    seconds
}

/// Reading `plain`, checking it, and checking `sealed` (the same events, sealed), in turn.
async fn measure(plain: &EventLog, sealed: &EventLog, events: usize) {
    let (mut read, mut unsealed, mut with_seals) = (f64::MAX, f64::MAX, f64::MAX);
    for _ in 0..3 {
        let started = Instant::now();
        let mut after = 0;
        loop {
            let page = plain.read_all(after, 10_000).await.unwrap();
            let Some(last) = page.last() else { break };
            after = last.position;
        }
        read = read.min(started.elapsed().as_secs_f64());
        unsealed = unsealed.min(check(plain, events, 0).await);
        let seals = events.div_ceil(1_000) as u64;
        with_seals = with_seals.min(check(sealed, events, seals).await);
    }
    let rate = |seconds: f64| events as f64 / seconds;
    println!(
        "  read_all, pages of 10 000           {:>10.0} events/s",
        rate(read)
    );
    println!(
        "  chain::check, no seals              {:>10.0} events/s",
        rate(unsealed)
    );
    println!(
        "  chain::check, sealed every 1 000    {:>10.0} events/s",
        rate(with_seals)
    );
    println!(
        "  sealed check ÷ read                 {:>10.2}x",
        read / with_seals
    );
}
