//! Subscribers of the log, on both backends: checkpoints, batches, failures, claims.
#![allow(clippy::unwrap_used)]

use std::sync::Mutex;

use eventlog::{
    testing::TestDatabase, Append, EventLog, ExpectedVersion, HandlerError, LogTransaction,
    NewEvent, Projection, RecordedEvent, SetAside, StepError, StreamId, Subscriber,
    SubscriptionOptions,
};
use serde_json::json;

eventlog::on_both_backends!(
    a_subscriber_handles_every_event_once_in_batches_and_resumes_from_its_checkpoint,
    a_claimed_subscriber_cannot_be_claimed_again_until_released,
    a_recorded_idempotency_key_can_be_looked_up,
    a_failed_projection_shows_why_and_where_until_it_is_fixed,
    two_logs_on_one_database_never_hold_one_claim_at_once,
);

/// Records the positions it sees; fails on the event types it is told to.
struct Recorder {
    seen: Mutex<Vec<i64>>,
    fail_on: Option<&'static str>,
}

impl Recorder {
    fn new(fail_on: Option<&'static str>) -> Self {
        Self {
            seen: Mutex::default(),
            fail_on,
        }
    }
}

impl Subscriber for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }

    fn lane(&self, event: &RecordedEvent) -> Option<String> {
        Some(event.stream.to_string())
    }

    async fn handle(&self, event: &RecordedEvent) -> Result<(), StepError> {
        if self.fail_on == Some(event.event_type.as_str()) {
            return Err(StepError::failed(format!(
                "cannot handle {}",
                event.event_type
            )));
        }
        self.seen.lock().unwrap().push(event.position);
        Ok(())
    }

    async fn set_aside(&self, _: &RecordedEvent, _: SetAside<'_>) -> Result<(), HandlerError> {
        Ok(())
    }

    async fn went_through(&self, _: &RecordedEvent) -> Result<(), HandlerError> {
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
            eventlog::on_tx!(&mut *tx, |conn, _time| sqlx::query(sql)
                .bind(event.position)
                .execute(&mut *conn)
                .await
                .map(|_| ()))?;
            if n == 0 && events.iter().any(|e| Some(e.position) == self.crash_at) {
                return Err("crashed mid-batch".into());
            }
        }
        Ok(())
    }
}

async fn projected(log: &EventLog) -> Vec<i64> {
    let sql = "SELECT position FROM projected_positions ORDER BY position";
    eventlog::on_readers!(log, |pool, _time| sqlx::query_scalar(sql)
        .fetch_all(pool)
        .await
        .unwrap())
}

async fn a_failed_projection_shows_why_and_where_until_it_is_fixed(
    _db: &TestDatabase,
    log: EventLog,
) {
    let create = "CREATE TABLE projected_positions (position BIGINT PRIMARY KEY)";
    eventlog::on_writer!(&log, |pool, _time| sqlx::query(create)
        .execute(pool)
        .await
        .map(|_| ())
        .unwrap());
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

    let status = log.subscribers().await.unwrap();
    let failed = status.iter().find(|s| s.name == "positions").unwrap();
    assert_eq!(
        (
            failed.state.as_str(),
            failed.position,
            failed.error_position,
            failed.last_error.as_deref()
        ),
        ("failed", last - 1, Some(last), Some("crashed mid-batch"))
    );
    assert!(failed.is_degraded());

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
    let status = log.subscribers().await.unwrap();
    let fixed = status.iter().find(|s| s.name == "positions").unwrap();
    assert_eq!(
        (fixed.state.as_str(), fixed.last_error.as_deref()),
        ("running", None)
    );
    // Bound from this process's clock on both backends, and read back as the same instant.
    let batch_at = fixed.last_batch_at.expect("the time of the last batch");
    let age = chrono::Utc::now() - batch_at;
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::seconds(60),
        "last batch at {batch_at}, {age} ago"
    );
}

/// Two connections to one database (as two processes have) exclude each other: on SQLite the
/// claim is a lock on a file beside the database, not a name known to one process only.
async fn two_logs_on_one_database_never_hold_one_claim_at_once(db: &TestDatabase, log: EventLog) {
    let other = db.log().await;
    let held = log
        .try_claim("rebuild")
        .await
        .unwrap()
        .expect("the first claim");
    assert!(other.try_claim("rebuild").await.unwrap().is_none());
    assert!(other.try_claim("orders").await.unwrap().is_some());
    drop(held);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while other.try_claim("rebuild").await.unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "never released");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A claim whose connection the server ended (as a network failure or a restart of the server
/// would) knows it no longer holds: its runner stops before another process takes over.
#[tokio::test]
async fn a_claim_whose_connection_is_gone_no_longer_holds() {
    let db = TestDatabase::postgres().await;
    let log = db.log().await;
    let EventLog::Postgres(pg) = &log else {
        unreachable!("PostgreSQL only")
    };
    let mut held = log.try_claim("recorder").await.unwrap().unwrap();
    assert!(held.holds().await);
    let eventlog::Claim::Postgres(connection) = &mut held else {
        unreachable!("a PostgreSQL claim")
    };
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(connection)
        .await
        .unwrap();
    sqlx::query("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .execute(pg.pool())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while held.holds().await {
        assert!(std::time::Instant::now() < deadline, "still believed held");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(log.try_claim("recorder").await.unwrap().is_some());
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
