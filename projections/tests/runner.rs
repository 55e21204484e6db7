//! The projection runner: a poison event stops only its projection, named in its status, and
//! nothing after it is skipped; two runners never apply at once, and one takes over when the
//! other stops, ending with the tables a rebuild makes.
#![allow(clippy::unwrap_used)]

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use eventlog::{
    testing::TestDatabase, EventLog, HandlerError, LogTransaction, Projection, RecordedEvent,
    StreamId, SubscriptionOptions,
};
use projections::{orders::get_order, ReadModel, ReadModelProjection};

mod support;

use support::history::{append_lifecycles, id};

eventlog::on_both_backends!(a_poison_event_stops_its_projection_only_and_names_itself);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_runners_never_apply_at_once_and_one_takes_over_when_the_other_stops() {
    let db = TestDatabase::postgres().await;
    two_runners(&db).await;
}

/// A read model's projection, watched: how many applies overlap, who applied last, and an
/// injectable failure on one position.
#[derive(Debug, Clone)]
struct Watched {
    inner: ReadModelProjection,
    runner: &'static str,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    applying: AtomicUsize,
    overlaps: AtomicUsize,
    last_runner: Mutex<&'static str>,
    poison: Mutex<Option<i64>>,
}

impl Projection for Watched {
    fn name(&self) -> &str {
        self.inner.name()
    }

    async fn apply(
        &self,
        tx: &mut LogTransaction,
        events: &[RecordedEvent],
    ) -> Result<(), HandlerError> {
        let poison = *self.shared.poison.lock().unwrap();
        if let Some(poison) = poison {
            if events.iter().any(|e| e.position == poison) {
                return Err(format!("injected failure on position {poison}").into());
            }
        }
        if self.shared.applying.fetch_add(1, Ordering::SeqCst) > 0 {
            self.shared.overlaps.fetch_add(1, Ordering::SeqCst);
        }
        let applied = self.inner.apply(tx, events).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
        *self.shared.last_runner.lock().unwrap() = self.runner;
        self.shared.applying.fetch_sub(1, Ordering::SeqCst);
        applied
    }
}

fn quick() -> SubscriptionOptions {
    SubscriptionOptions {
        batch_size: 50,
        poll_interval: Duration::from_millis(50),
        retry_after: Duration::from_millis(50),
        ..SubscriptionOptions::default()
    }
}

fn spawn(log: &EventLog, projection: impl Projection + 'static) -> tokio::task::JoinHandle<()> {
    let log = log.clone();
    tokio::spawn(async move { log.run_projection(&projection, &quick()).await })
}

async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < Duration::from_secs(30), "never: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

async fn a_poison_event_stops_its_projection_only_and_names_itself(
    _db: &TestDatabase,
    log: EventLog,
) {
    let log = support::with_tables(log).await;
    append_lifecycles(&log, 1, 9).await;
    let head = support::appended(&log).await;
    let order_6 = log
        .read_stream(&StreamId::new("order", id(1, 6).to_string()), 1)
        .await
        .unwrap();
    let poison = order_6[0].position;
    let before_poison = log
        .read_all(0, 10_000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .filter(|&p| p < poison)
        .max()
        .unwrap();

    let shared = Arc::new(Shared::default());
    *shared.poison.lock().unwrap() = Some(poison);
    let orders = spawn(
        &log,
        Watched {
            inner: ReadModelProjection::new(log.clone(), ReadModel::Orders),
            runner: "a",
            shared: shared.clone(),
        },
    );
    let payments = spawn(
        &log,
        ReadModelProjection::new(log.clone(), ReadModel::Payments),
    );

    until("payments keep up", async || {
        log.checkpoint("payments").await.unwrap() == head
    })
    .await;
    until("orders is failed", async || {
        let statuses = log.subscribers().await.unwrap();
        statuses
            .iter()
            .any(|s| s.name == "orders" && s.state == "failed")
    })
    .await;
    let status = log.subscribers().await.unwrap();
    let status = status.iter().find(|s| s.name == "orders").unwrap();
    assert_eq!(
        status.error_position,
        Some(poison),
        "names the event itself"
    );
    assert!(
        status
            .last_error
            .as_deref()
            .unwrap()
            .contains("injected failure"),
        "{status:?}"
    );
    assert_eq!(
        status.position, before_poison,
        "every event before the poison is applied, none after"
    );
    assert!(get_order(&log, &id(1, 5).to_string())
        .await
        .unwrap()
        .is_some());
    assert!(get_order(&log, &id(1, 7).to_string())
        .await
        .unwrap()
        .is_none());

    // Fixed: it resumes where it stopped, skipping nothing.
    *shared.poison.lock().unwrap() = None;
    until("orders resumes", async || {
        log.checkpoint("orders").await.unwrap() == head
    })
    .await;
    let status = log.subscribers().await.unwrap();
    let status = status.iter().find(|s| s.name == "orders").unwrap();
    assert_eq!(
        (status.state.as_str(), status.last_error.as_deref()),
        ("running", None)
    );
    orders.abort();
    payments.abort();
    let resumed = projections::digest(&log, ReadModel::Orders).await.unwrap();
    projections::rebuild(&log, &[ReadModel::Orders], &SubscriptionOptions::default())
        .await
        .unwrap();
    assert_eq!(
        resumed,
        projections::digest(&log, ReadModel::Orders).await.unwrap()
    );
}

async fn two_runners(db: &TestDatabase) {
    let log = support::with_tables(db.log().await).await;
    let (first, second) = (db.log().await, db.log().await);
    let shared = Arc::new(Shared::default());
    let watched = |log: &EventLog, runner| Watched {
        inner: ReadModelProjection::new(log.clone(), ReadModel::Orders),
        runner,
        shared: shared.clone(),
    };
    let mut runners = vec![
        ("first", spawn(&first, watched(&first, "first"))),
        ("second", spawn(&second, watched(&second, "second"))),
    ];
    for chunk in 0..5 {
        append_lifecycles(&log, chunk * 10 + 1, chunk * 10 + 11).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let head = support::appended(&log).await;
    until("caught up", async || {
        log.checkpoint("orders").await.unwrap() == head
    })
    .await;

    let owner = *shared.last_runner.lock().unwrap();
    let at = runners.iter().position(|(name, _)| *name == owner).unwrap();
    let (_, stopped) = runners.remove(at);
    stopped.abort();
    let _ = stopped.await;
    append_lifecycles(&log, 51, 61).await;
    let head = support::appended(&log).await;
    let took = until("the other takes over", async || {
        log.checkpoint("orders").await.unwrap() == head
    })
    .await;
    assert!(took < Duration::from_secs(10), "took over in {took:?}");
    assert_ne!(*shared.last_runner.lock().unwrap(), owner);
    assert_eq!(
        shared.overlaps.load(Ordering::SeqCst),
        0,
        "never both at once"
    );
    for (_, runner) in runners {
        runner.abort();
    }

    let taken_over = projections::digest(&log, ReadModel::Orders).await.unwrap();
    projections::rebuild(&log, &[ReadModel::Orders], &SubscriptionOptions::default())
        .await
        .unwrap();
    assert_eq!(
        taken_over,
        projections::digest(&log, ReadModel::Orders).await.unwrap()
    );
    assert!(taken_over.starts_with("orders:60:"), "{taken_over}");
}
