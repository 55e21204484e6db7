//! Rebuild without downtime: while a rebuild of the orders read model runs over a long log,
//! readers never see an empty or partial table, and after the swap the tables equal the
//! incrementally built ones; the live projection then goes on from the rebuilt position.
#![allow(clippy::unwrap_used)]

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use eventlog::{testing::TestDatabase, EventLog, SubscriptionOptions};
use projections::{
    orders::{get_order, list_orders, OrderFilter},
    ReadModel, ReadModelProjection,
};

mod support;

use support::history::{append_lifecycles, id};

/// About 100k events on PostgreSQL (acceptance of issue 4), 10k on SQLite (the same code).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_over_100k_events_never_shows_readers_an_empty_or_partial_table_on_postgres() {
    let db = TestDatabase::postgres().await;
    rebuild_under_readers(db.log().await, 7_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_never_shows_readers_an_empty_or_partial_table_on_sqlite() {
    let db = TestDatabase::sqlite();
    rebuild_under_readers(db.log().await, 700).await;
}

async fn count(log: &EventLog, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    eventlog::on_readers!(log, |pool, _time| sqlx::query_scalar(&sql)
        .fetch_one(pool)
        .await
        .unwrap())
}

async fn rebuild_under_readers(log: EventLog, orders: u128) {
    let log = support::with_tables(log).await;
    let events = append_lifecycles(&log, 1, orders + 1).await;
    assert!(
        events >= usize::try_from(orders * 14).unwrap(),
        "{events} events"
    );
    for model in ReadModel::ALL {
        support::project(&log, model).await;
    }
    let mut incremental = Vec::new();
    for model in ReadModel::ALL {
        incremental.push(projections::digest(&log, model).await.unwrap());
    }
    let expected_orders = i64::try_from(orders).unwrap();
    let expected_lines = count(&log, "order_lines").await;

    // Readers: the list's first page and whole-table counts, in a loop, the whole time.
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (log, done) = (log.clone(), done.clone());
        tokio::spawn(async move {
            let mut reads = 0_u32;
            while !done.load(Ordering::SeqCst) {
                let page = list_orders(&log, &OrderFilter::default(), None, 50)
                    .await
                    .unwrap();
                assert_eq!(page.items.len(), 50, "a full first page");
                assert_eq!(count(&log, "orders").await, expected_orders, "every order");
                assert_eq!(
                    count(&log, "order_lines").await,
                    expected_lines,
                    "every line"
                );
                reads += 1;
            }
            reads
        })
    };
    let options = projections::rebuild_options();
    let position = projections::rebuild(&log, &[ReadModel::Orders], &options)
        .await
        .unwrap();
    assert_eq!(position, support::appended(&log).await);
    let others = &ReadModel::ALL[1..];
    let position = projections::rebuild(&log, others, &options).await.unwrap();
    assert_eq!(position, support::appended(&log).await);
    done.store(true, Ordering::SeqCst);
    let reads = reader.await.unwrap();
    assert!(
        reads >= 5,
        "the readers read during the rebuild ({reads} times)"
    );

    for (model, before) in ReadModel::ALL.into_iter().zip(&incremental) {
        let after = projections::digest(&log, model).await.unwrap();
        assert_eq!(
            &after,
            before,
            "{} rebuilt equals incremental",
            model.name()
        );
    }

    // The live projection goes on from the rebuilt position, into the swapped-in tables.
    let live = {
        let (log, projection) = (
            log.clone(),
            ReadModelProjection::new(log.clone(), ReadModel::Orders),
        );
        tokio::spawn(async move {
            log.run_projection(&projection, &SubscriptionOptions::default())
                .await
        })
    };
    append_lifecycles(&log, orders + 1, orders + 2).await;
    let head = support::appended(&log).await;
    projections::wait_for(&log, "orders", head, Duration::from_secs(30))
        .await
        .unwrap();
    live.abort();
    let newest = get_order(&log, &id(1, orders + 1).to_string())
        .await
        .unwrap();
    assert_eq!(newest.unwrap().status, "completed");
}
