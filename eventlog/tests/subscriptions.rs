//! Subscribers of the log, on both backends: checkpoints, batches, failures, claims.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

use eventlog::{
    testing::TestDatabase, Append, EventLog, ExpectedVersion, HandlerError, LogTransaction,
    NewEvent, Projection, RecordedEvent, StreamId, Subscriber, SubscriptionError,
    SubscriptionOptions,
};
use serde_json::json;

eventlog::on_both_backends!(
    a_subscriber_handles_every_event_once_in_batches_and_resumes_from_its_checkpoint,
    a_failing_batch_leaves_the_checkpoint_where_it_was,
    a_claimed_subscriber_cannot_be_claimed_again_until_released,
    a_recorded_idempotency_key_can_be_looked_up,
    a_failed_subscriber_shows_why_and_where_until_it_is_fixed,
    a_projection_failing_midway_through_a_batch_keeps_the_events_before_the_failing_one_once,
);

/// Records the positions it sees; fails on the event types it is told to.
struct Recorder {
    seen: Mutex<Vec<i64>>,
    batches: Mutex<usize>,
    fail_on: Option<&'static str>,
}

impl Recorder {
    fn new(fail_on: Option<&'static str>) -> Self {
        Self {
            seen: Mutex::default(),
            batches: Mutex::default(),
            fail_on,
        }
    }
}

impl Subscriber for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    async fn handle(&self, events: &[RecordedEvent]) -> Result<(), HandlerError> {
        if let Some(bad) = self.fail_on {
            if events.iter().any(|e| e.event_type == bad) {
                return Err(format!("cannot handle {bad}").into());
            }
        }
        *self.batches.lock().unwrap() += 1;
        self.seen
            .lock()
            .unwrap()
            .extend(events.iter().map(|e| e.position));
        Ok(())
    }
}

async fn append(log: &EventLog, stream: &str, kinds: &[&str]) -> i64 {
    let events = kinds
        .iter()
        .map(|k| NewEvent::new(*k, 1, json!({})))
        .collect();
    let appended = log
        .append(Append::new(
            StreamId::new("order", stream),
            ExpectedVersion::Any,
            events,
        ))
        .await
        .unwrap();
    let last = appended.last_position().unwrap();
    assert!(log
        .wait_until_visible(last, std::time::Duration::from_secs(30))
        .await
        .unwrap());
    last
}

fn small_batches() -> SubscriptionOptions {
    SubscriptionOptions {
        batch_size: 3,
        ..SubscriptionOptions::default()
    }
}

async fn a_subscriber_handles_every_event_once_in_batches_and_resumes_from_its_checkpoint(
    _db: &TestDatabase,
    log: EventLog,
) {
    append(&log, "a", &["Placed", "Paid", "Shipped", "Delivered"]).await;
    let last = append(&log, "b", &["Placed", "Cancelled"]).await;
    let recorder = Recorder::new(None);
    assert_eq!(
        log.catch_up(&recorder, &small_batches()).await.unwrap(),
        last
    );
    assert_eq!(
        *recorder.batches.lock().unwrap(),
        2,
        "6 events in batches of 3"
    );
    assert_eq!(log.checkpoint("recorder").await.unwrap(), last);

    let newest = append(&log, "c", &["Placed"]).await;
    assert_eq!(
        log.catch_up(&recorder, &small_batches()).await.unwrap(),
        newest
    );
    let seen = recorder.seen.lock().unwrap().clone();
    let all: Vec<i64> = log
        .read_all(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(
        seen, all,
        "each event once, in order, the second run from the checkpoint"
    );
}

async fn a_failing_batch_leaves_the_checkpoint_where_it_was(_db: &TestDatabase, log: EventLog) {
    let good = append(&log, "a", &["Placed", "Paid", "Shipped"]).await;
    append(&log, "b", &["Poison"]).await;
    let recorder = Recorder::new(Some("Poison"));
    match log.catch_up(&recorder, &small_batches()).await {
        Err(SubscriptionError::Handler { position, .. }) => assert_eq!(position, good + 1),
        other => panic!("expected the poison batch to fail, got {other:?}"),
    }
    assert_eq!(
        log.checkpoint("recorder").await.unwrap(),
        good,
        "nothing after the failure is skipped"
    );

    let fixed = Recorder::new(None);
    let last = log.catch_up(&fixed, &small_batches()).await.unwrap();
    assert_eq!(
        *fixed.seen.lock().unwrap(),
        vec![good + 1],
        "after a fix it resumes at the failed event"
    );
    assert_eq!(last, good + 1);
}

async fn a_claimed_subscriber_cannot_be_claimed_again_until_released(
    _db: &TestDatabase,
    log: EventLog,
) {
    let claim = log
        .try_claim("exclusive")
        .await
        .unwrap()
        .expect("the first claim");
    assert!(log.try_claim("exclusive").await.unwrap().is_none());
    let recorder = Recorder::new(None);
    assert!(
        log.try_claim("recorder").await.unwrap().is_some(),
        "other names are free"
    );
    drop(claim);
    // On PostgreSQL the lock goes with its connection, closed in the background.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if log.try_claim("exclusive").await.unwrap().is_some() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a released claim never became free"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    drop(recorder);
}

async fn a_recorded_idempotency_key_can_be_looked_up(_db: &TestDatabase, log: EventLog) {
    assert!(log.recorded("api:k").await.unwrap().is_none());
    let appended = log
        .append(
            Append::new(
                StreamId::new("order", "a"),
                ExpectedVersion::NoStream,
                vec![NewEvent::new("Placed", 1, json!({"n": 1}))],
            )
            .idempotent("api:k"),
        )
        .await
        .unwrap();
    let recorded = log.recorded("api:k").await.unwrap().unwrap();
    assert_eq!(recorded.events, appended.events);
    assert_eq!(recorded.stream, StreamId::new("order", "a"));
}

async fn a_failed_subscriber_shows_why_and_where_until_it_is_fixed(
    _db: &TestDatabase,
    log: EventLog,
) {
    let good = append(&log, "a", &["Placed"]).await;
    let poison = append(&log, "b", &["Poison"]).await;
    assert!(log
        .catch_up(&Recorder::new(Some("Poison")), &small_batches())
        .await
        .is_err());
    let status = log.subscribers().await.unwrap();
    let recorder = status.iter().find(|s| s.name == "recorder").unwrap();
    assert_eq!(
        (
            recorder.state.as_str(),
            recorder.position,
            recorder.error_position,
            recorder.last_error.as_deref()
        ),
        // Both events are in one batch of three: it fails, and is retried one event at a time,
        // which handles the good one and names the poison one.
        ("failed", good, Some(poison), Some("cannot handle Poison"))
    );
    log.catch_up(&Recorder::new(None), &small_batches())
        .await
        .unwrap();
    let status = log.subscribers().await.unwrap();
    let recorder = status.iter().find(|s| s.name == "recorder").unwrap();
    assert_eq!(
        (recorder.state.as_str(), recorder.last_error.as_deref()),
        ("running", None)
    );
    assert!(recorder.last_batch_at.is_some());
}

/// Writes each event's position into a table whose key refuses a second write; fails after
/// writing the first event of any batch holding `crash_at`.
struct Positions {
    crash_at: Option<i64>,
}

impl Projection for Positions {
    fn name(&self) -> &str {
        "positions"
    }

    async fn apply(
        &self,
        tx: &mut LogTransaction,
        events: &[RecordedEvent],
    ) -> Result<(), HandlerError> {
        for (n, event) in events.iter().enumerate() {
            let sql = "INSERT INTO projected_positions (position) VALUES ($1)";
            match tx {
                LogTransaction::Postgres(tx) => {
                    sqlx::query(sql)
                        .bind(event.position)
                        .execute(&mut **tx)
                        .await?
                }
                LogTransaction::Sqlite(tx) => sqlx::query(sql)
                    .bind(event.position)
                    .execute(&mut **tx)
                    .await
                    .map(|_| Default::default())?,
            };
            if n == 0 && events.iter().any(|e| Some(e.position) == self.crash_at) {
                return Err("crashed mid-batch".into());
            }
        }
        Ok(())
    }
}

async fn projected(log: &EventLog) -> Vec<i64> {
    let sql = "SELECT position FROM projected_positions ORDER BY position";
    match log {
        EventLog::Postgres(pg) => sqlx::query_scalar(sql).fetch_all(pg.pool()).await.unwrap(),
        EventLog::Sqlite(lite) => sqlx::query_scalar(sql)
            .fetch_all(lite.readers())
            .await
            .unwrap(),
    }
}

async fn a_projection_failing_midway_through_a_batch_keeps_the_events_before_the_failing_one_once(
    _db: &TestDatabase,
    log: EventLog,
) {
    let create = "CREATE TABLE projected_positions (position BIGINT PRIMARY KEY)";
    match &log {
        EventLog::Postgres(pg) => sqlx::query(create)
            .execute(pg.pool())
            .await
            .map(|_| ())
            .unwrap(),
        EventLog::Sqlite(lite) => sqlx::query(create)
            .execute(lite.writer())
            .await
            .map(|_| ())
            .unwrap(),
    }
    append(&log, "a", &["A", "B", "C"]).await;
    let last = append(&log, "b", &["D", "E", "F"]).await;

    let crashing = Positions {
        crash_at: Some(last),
    };
    assert!(log
        .catch_up_projection(&crashing, &small_batches())
        .await
        .is_err());
    assert_eq!(
        projected(&log).await,
        (last - 5..last).collect::<Vec<_>>(),
        "the failed batch, retried event by event, applied those before the failing one, \
         and the failing one left no row"
    );
    assert_eq!(log.checkpoint("positions").await.unwrap(), last - 1);

    let fixed = Positions { crash_at: None };
    assert_eq!(
        log.catch_up_projection(&fixed, &small_batches())
            .await
            .unwrap(),
        last
    );
    assert_eq!(
        projected(&log).await,
        (last - 5..=last).collect::<Vec<_>>(),
        "each event exactly once"
    );
}

/// Sessions opened on the test database so far (PostgreSQL counts them as backends report).
async fn sessions_opened(log: &EventLog) -> i64 {
    let EventLog::Postgres(pg) = log else {
        unreachable!("PostgreSQL only")
    };
    sqlx::query_scalar("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        .fetch_one(pg.pool())
        .await
        .unwrap()
}

/// Whether the standby `recorder`, once the claim is free, handles a new event within 30 s.
async fn took_over(log: &EventLog) -> bool {
    let last = append(log, "a", &["A"]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while log.checkpoint("recorder").await.unwrap() < last {
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    true
}

#[tokio::test]
async fn a_standby_process_waits_for_its_claim_on_one_connection() {
    let db = TestDatabase::postgres().await;
    let log = db.log().await;
    let held = log.try_claim("recorder").await.unwrap().unwrap();
    let before = sessions_opened(&log).await;

    // Another process's subscriber polls for the claim every 10 ms for two seconds.
    let standby = {
        let log = log.clone();
        let options = SubscriptionOptions {
            poll_interval: std::time::Duration::from_millis(10),
            ..small_batches()
        };
        tokio::spawn(async move { log.run(&Recorder::new(None), &options).await })
    };
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    drop(held);
    assert!(took_over(&log).await, "the standby never took over");
    standby.abort();

    // A connection per attempt opened 74 here; one connection, 5 (the count also takes in the
    // pool's own, as backends report them late).
    let opened = sessions_opened(&log).await - before;
    assert!(opened < 20, "{opened} sessions: a connection per attempt");
}

#[tokio::test]
async fn a_standby_whose_connection_the_server_closed_asks_again_at_once() {
    let db = TestDatabase::postgres().await;
    let log = db.log().await;
    let EventLog::Postgres(pg) = &log else {
        unreachable!("PostgreSQL only")
    };
    let mut held = log.try_claim("recorder").await.unwrap().unwrap();
    let eventlog::Claim::Postgres(holder) = &mut held else {
        unreachable!("a PostgreSQL claim")
    };
    let holder: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(holder)
        .await
        .unwrap();

    // A standby that, after a failure, would wait a minute before claiming again.
    let standby = {
        let log = log.clone();
        let options = SubscriptionOptions {
            poll_interval: std::time::Duration::from_millis(10),
            retry_after: std::time::Duration::from_secs(60),
            ..small_batches()
        };
        tokio::spawn(async move { log.run(&Recorder::new(None), &options).await })
    };
    // The server closes the standby's connection (as an idle time-out would).
    let asking = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
                  AND pid NOT IN ($1, pg_backend_pid()) AND query LIKE '%pg_try_advisory_lock%'";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let standby_pid: i32 = loop {
        let found: Option<i32> = sqlx::query_scalar(asking)
            .bind(holder)
            .fetch_optional(pg.pool())
            .await
            .unwrap();
        if let Some(pid) = found {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline, "no standby asked");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(standby_pid)
        .execute(pg.pool())
        .await
        .unwrap();

    // Released, the claim goes to the standby well within its minute of retry pause.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    drop(held);
    assert!(
        took_over(&log).await,
        "the standby did not ask again on a new connection"
    );
    standby.abort();
}
