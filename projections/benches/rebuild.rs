//! Rebuild rate of the read models, beside the raw ordered scan of the events table, on
//! PostgreSQL and SQLite.
//!
//! Run: `cargo bench -p projections` (env `BENCH_ORDERS`, default 14 000 lifecycles: about
//! 200k events; `BENCH_BATCH`, events per batch, default the rebuild's; `BENCH_ROUNDS`, rounds of
//! the whole rebuild, default 3, median printed). Each figure is events of the whole log per second of wall time.
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::time::Instant;

use eventlog::{testing::TestDatabase, EventLog, SubscriptionOptions};
use projections::ReadModel;

#[path = "../tests/support/history.rs"]
mod history;

fn main() {
    let orders: u128 = std::env::var("BENCH_ORDERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(14_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let db = TestDatabase::postgres().await;
        report("PostgreSQL", db.log().await, orders).await;
        drop(db);
        let db = TestDatabase::sqlite();
        report("SQLite", db.log().await, orders).await;
    });
}

async fn report(backend: &str, log: EventLog, orders: u128) {
    projections::create_tables(&log).await.unwrap();
    let started = Instant::now();
    let events = history::append_lifecycles(&log, 1, orders + 1).await as f64;
    println!(
        "{backend}: {events} events of {orders} order lifecycles appended in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let rate = |started: Instant| events / started.elapsed().as_secs_f64();

    let started = Instant::now();
    raw_scan(&log).await;
    println!(
        "  raw ordered scan of events        {:>9.0} events/s",
        rate(started)
    );

    let started = Instant::now();
    let mut after = 0;
    loop {
        let batch = log.read_all(after, 500).await.unwrap();
        match batch.last() {
            Some(last) => after = last.position,
            None => break,
        }
    }
    println!(
        "  read_all in batches of 500        {:>9.0} events/s",
        rate(started)
    );

    let options = SubscriptionOptions {
        batch_size: std::env::var("BENCH_BATCH")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(projections::rebuild_options().batch_size),
        ..projections::rebuild_options()
    };
    for model in ReadModel::ALL {
        let started = Instant::now();
        projections::rebuild(&log, &[model], &options)
            .await
            .unwrap();
        println!(
            "  rebuild {:<25} {:>9.0} events/s",
            model.name(),
            rate(started)
        );
    }
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let mut rates = Vec::new();
    for round in 1..=rounds {
        let started = Instant::now();
        projections::rebuild(&log, &ReadModel::ALL, &options)
            .await
            .unwrap();
        rates.push(rate(started));
        println!(
            "  rebuild of all (--all), round {round}  {:>9.0} events/s",
            rates[round - 1]
        );
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "  rebuild of all (--all), median     {:>9.0} events/s",
        rates[rates.len() / 2]
    );
}

/// Every row of the events table in position order, decoded as the log decodes them.
async fn raw_scan(log: &EventLog) {
    use futures::TryStreamExt as _;
    let sql = "SELECT position, event_id, aggregate_type, aggregate_id, sequence, event_type, \
               event_version, payload, metadata, recorded_at FROM events ORDER BY position";
    let rows = eventlog::on_readers!(log, |pool, _time| sqlx::query(sql)
        .fetch(pool)
        .try_fold(0_u64, |n, _| async move { Ok(n + 1) })
        .await);
    assert!(rows.unwrap() > 0);
}
