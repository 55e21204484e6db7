//! Gap-free reading on PostgreSQL: while many writers commit out of order, a reader tailing the
//! whole log from its own checkpoint sees every committed event exactly once, in position order.
#![allow(clippy::unwrap_used)]

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use eventlog::{
    testing::TestDatabase, Append, ConnectOptions, EventLog, ExpectedVersion, NewEvent, StreamId,
};
use serde_json::json;

const WRITERS: usize = 8;
const APPENDS_PER_WRITER: usize = 500;
/// Each writer holds every 125th append's transaction open this long before committing, so
/// appends that drew later positions commit first.
const HOLD: Duration = Duration::from_secs(1);

/// (position, when its transaction committed, whether it was held open)
type Committed = Arc<Mutex<Vec<(i64, Instant, bool)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tailing_reader_sees_every_event_once_in_order_while_writers_commit_out_of_order() {
    let db = TestDatabase::postgres().await;
    let options = ConnectOptions {
        max_connections: 24,
        ..ConnectOptions::default()
    };
    let log = db.log_with(&options).await;
    let committed: Committed = Arc::default();
    let writing = Arc::new(AtomicBool::new(true));

    let reader = tokio::spawn(tail(log.clone(), Arc::clone(&writing)));
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| tokio::spawn(write(log.clone(), w, Arc::clone(&committed))))
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    writing.store(false, Ordering::SeqCst);
    let seen = reader.await.unwrap();

    let EventLog::Postgres(pg) = &log else {
        unreachable!("a PostgreSQL test")
    };
    let stored: Vec<i64> = sqlx::query_scalar("SELECT position FROM events ORDER BY position")
        .fetch_all(pg.pool())
        .await
        .unwrap();
    let committed = committed.lock().unwrap().clone();
    assert_eq!(stored.len(), committed.len(), "every append committed");
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "the reader saw positions out of order or twice"
    );
    let missed: Vec<i64> = stored
        .iter()
        .filter(|p| seen.binary_search(p).is_err())
        .copied()
        .collect();
    assert!(
        missed.is_empty(),
        "the reader skipped {} events, first {:?}",
        missed.len(),
        &missed[..missed.len().min(10)]
    );
    assert_eq!(
        seen.len(),
        stored.len(),
        "the reader saw events that were never committed"
    );

    // The test is only meaningful if commits really overtook each other: a held transaction
    // committed after a later position had already committed.
    let overtaken = committed.iter().filter(|(position, at, held)| {
        *held && committed.iter().any(|(p, t, _)| p > position && t < at)
    });
    assert!(
        overtaken.count() > 0,
        "no commit overtook a held transaction"
    );
}

async fn write(log: EventLog, writer: usize, committed: Committed) {
    for i in 0..APPENDS_PER_WRITER {
        let stream = StreamId::new("order", format!("w{writer}-{}", i % 10));
        let events = (0..1 + i % 3)
            .map(|n| NewEvent::new("Happened", 1, json!({ "i": i, "n": n })))
            .collect();
        let append = Append::new(stream, ExpectedVersion::Any, events);
        let held = i % 125 == 60 + writer;
        let appended = if held {
            let mut tx = log.begin().await.unwrap();
            let appended = log.append_in(&mut tx, append).await.unwrap();
            tokio::time::sleep(HOLD).await;
            tx.commit().await.unwrap();
            appended
        } else {
            log.append(append).await.unwrap()
        };
        let at = Instant::now();
        committed
            .lock()
            .unwrap()
            .extend(appended.events.iter().map(|e| (e.position, at, held)));
    }
}

/// Reads the whole log from its own checkpoint until the writers are done and it has caught up.
async fn tail(log: EventLog, writing: Arc<AtomicBool>) -> Vec<i64> {
    let mut seen = Vec::new();
    let mut checkpoint = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let done = !writing.load(Ordering::SeqCst);
        let batch = log.read_all(checkpoint, 100).await.unwrap();
        if let Some(last) = batch.last() {
            checkpoint = last.position;
            seen.extend(batch.iter().map(|e| e.position));
        } else if done && checkpoint >= stored_max(&log).await {
            return seen;
        } else {
            assert!(Instant::now() < deadline, "the reader never caught up");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

async fn stored_max(log: &EventLog) -> i64 {
    let EventLog::Postgres(pg) = log else {
        unreachable!("a PostgreSQL test")
    };
    sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
        .fetch_one(pg.pool())
        .await
        .unwrap()
}
