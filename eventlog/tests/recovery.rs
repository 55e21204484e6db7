//! The log recovers from connections the server drops (restart, failover, idle kill).
#![allow(clippy::unwrap_used)]

use eventlog::{
    testing::TestDatabase, Append, AppendError, EventLog, ExpectedVersion, HandlerError,
    LogTransaction, NewEvent, Projection, RecordedEvent, StreamId, SubscriptionOptions,
};
use serde_json::json;
use sqlx::Connection;

fn append(id: &str) -> Append {
    Append::new(
        StreamId::new("order", id),
        ExpectedVersion::NoStream,
        vec![NewEvent::new("Placed", 1, json!({}))],
    )
}

/// Terminates every backend of the test database and waits until they are gone.
async fn terminate_backends(db: &TestDatabase) {
    let mut admin = sqlx::PgConnection::connect(&eventlog::testing::admin_url())
        .await
        .unwrap();
    let name = db.url.rsplit('/').next().unwrap().to_owned();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&name)
        .execute(&mut admin)
        .await
        .unwrap();
    // Termination is a signal: wait until the backends are gone, so that none dies later.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1")
                .bind(&name)
                .fetch_one(&mut admin)
                .await
                .unwrap();
        if left == 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{left} backends outlived their termination"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn after_the_server_drops_its_connections_the_next_append_succeeds_every_time_and_is_stored_once(
) {
    let db = TestDatabase::postgres().await;
    let log = db.log().await;
    log.append(append("before")).await.unwrap();

    let mut expected = vec!["before".to_owned()];
    for round in 0..3 {
        terminate_backends(&db).await;
        // The writer's kept connection is dead: the append goes through on a new one.
        let id = format!("after-{round}");
        let appended = log.append(append(&id)).await.unwrap();
        assert_eq!(appended.stream_version(), Some(1));
        expected.push(id);
    }
    // A batch of several appends, one of them stale, after another termination: each its own
    // outcome, none lost or doubled.
    terminate_backends(&db).await;
    let (a, b, stale) = tokio::join!(
        log.append(append("batch-a")),
        log.append(append("batch-b")),
        log.append(append("before"))
    );
    a.unwrap();
    b.unwrap();
    assert!(
        matches!(stale, Err(AppendError::WrongExpectedVersion { .. })),
        "{stale:?}"
    );
    expected.extend(["batch-a".to_owned(), "batch-b".to_owned()]);

    let EventLog::Postgres(pg) = &log else {
        unreachable!()
    };
    let mut streams: Vec<String> =
        sqlx::query_scalar("SELECT aggregate_id FROM events ORDER BY position")
            .fetch_all(pg.pool())
            .await
            .unwrap();
    streams.sort();
    expected.sort();
    assert_eq!(streams, expected);
}

/// Writes the position of each event it is given.
struct Positions;

impl Projection for Positions {
    fn name(&self) -> &str {
        "positions"
    }

    async fn apply(
        &self,
        tx: &mut LogTransaction,
        events: &[RecordedEvent],
    ) -> Result<(), HandlerError> {
        for event in events {
            let sql = "INSERT INTO projected_positions (position) VALUES ($1)";
            eventlog::on_tx!(&mut *tx, |conn, _time| sqlx::query(sql)
                .bind(event.position)
                .execute(&mut *conn)
                .await
                .map(|_| ()))?;
        }
        Ok(())
    }
}

/// The running projection's rows, once they reach `count`.
async fn projected(log: &EventLog, count: usize) -> Vec<i64> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let rows: Vec<i64> = eventlog::on_readers!(log, |pool, _time| sqlx::query_scalar(
            "SELECT position FROM projected_positions ORDER BY position"
        )
        .fetch_all(pool)
        .await
        .unwrap());
        if rows.len() >= count || std::time::Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// The subscribers' connections are trusted without a ping while recently used: one the server
/// ended fails a round, which the running projection takes again.
#[tokio::test]
async fn after_the_server_drops_its_connections_a_running_projection_goes_on_with_each_event_once()
{
    let db = TestDatabase::postgres().await;
    let log = db.log().await;
    eventlog::on_writer!(&log, |pool, _time| sqlx::query(
        "CREATE TABLE projected_positions (position BIGINT PRIMARY KEY)"
    )
    .execute(pool)
    .await
    .map(|_| ())
    .unwrap());
    let options = SubscriptionOptions {
        backoff_base: std::time::Duration::from_millis(5),
        backoff_max: std::time::Duration::from_millis(50),
        ..SubscriptionOptions::default()
    };
    let running = {
        let log = log.clone();
        tokio::spawn(async move { log.run_projection(&Positions, &options).await })
    };
    let mut positions = Vec::new();
    for round in 0..3 {
        let appended = log.append(append(&format!("p-{round}"))).await.unwrap();
        positions.push(appended.last_position().unwrap());
        assert_eq!(projected(&log, positions.len()).await, positions);
        terminate_backends(&db).await;
    }
    let appended = log.append(append("p-last")).await.unwrap();
    positions.push(appended.last_position().unwrap());
    assert_eq!(
        projected(&log, positions.len()).await,
        positions,
        "every event projected once, after each termination"
    );
    running.abort();
}

#[tokio::test]
async fn on_a_full_disk_sqlite_appends_fail_as_unavailable_and_pass_again_once_space_is_back() {
    let disk = eventlog::testing::SmallFilesystem::mount(8);
    let url = format!("sqlite:{}", disk.path.join("log.db").display());
    let log = EventLog::connect(&url, &eventlog::ConnectOptions::default())
        .await
        .unwrap();
    log.migrate().await.unwrap();
    log.append(append("before")).await.unwrap();
    log.check_writable().await.unwrap();

    disk.fill();
    // The WAL reuses its own space after a checkpoint: append until it must grow.
    let big = serde_json::json!({ "padding": "x".repeat(16 * 1024) });
    let mut stored = vec!["before".to_owned()];
    let mut failure = None;
    for n in 0..2000 {
        let id = format!("full-{n}");
        let append = Append::new(
            StreamId::new("order", &id),
            ExpectedVersion::NoStream,
            vec![NewEvent::new("Placed", 1, big.clone())],
        );
        match log.append(append).await {
            Ok(_) => stored.push(id),
            Err(error) => {
                failure = Some(error);
                break;
            }
        }
    }
    let Some(AppendError::Storage(error)) = failure else {
        panic!("appends never failed on a full disk: {failure:?}");
    };
    assert!(error.is_unavailable(), "{error:?}");
    assert!(log.check_writable().await.is_err(), "readiness must see it");
    // Still failing, and still said so, while the disk is full.
    assert!(log.append(append("still-full")).await.is_err());
    // A transaction of the caller's whose COMMIT fails (SQLite rolls it back itself) must
    // not leave the writer refusing every later BEGIN.
    let mut tx = log.begin().await.unwrap();
    log.append_in(&mut tx, append("in-tx")).await.unwrap();
    assert!(tx.commit().await.is_err(), "a commit on a full disk");

    disk.free();
    log.append(append("after")).await.unwrap();
    stored.push("after".to_owned());
    // Readiness remembers the failure for a few seconds after the last one (WriteHealth).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while let Err(error) = log.check_writable().await {
        assert!(
            std::time::Instant::now() < deadline,
            "still failing: {error}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    let mut streams: Vec<String> = log
        .read_all(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.stream.aggregate_id)
        .collect();
    streams.sort();
    stored.sort();
    assert_eq!(
        streams, stored,
        "every acknowledged append, once; no failed one"
    );
}

#[tokio::test]
async fn a_sqlite_file_deleted_while_serving_fails_writes_and_readiness_instead_of_writing_into_it()
{
    let folder = std::env::temp_dir().join(format!("bo_vanish_{}", uuid::Uuid::now_v7().simple()));
    let path = folder.join("log.db");
    let log = EventLog::connect(
        &format!("sqlite:{}", path.display()),
        &eventlog::ConnectOptions::default(),
    )
    .await
    .unwrap();
    log.migrate().await.unwrap();
    log.append(append("before")).await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the database is its owner's only");
        let wal = std::fs::metadata(folder.join("log.db-wal")).unwrap();
        assert_eq!(wal.permissions().mode() & 0o777, 0o600);
    }

    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(folder.join(format!("log.db{suffix}")));
    }
    let refused = log.append(append("into-the-void")).await;
    let Err(AppendError::Storage(error)) = refused else {
        panic!("an append into a deleted file was acknowledged: {refused:?}");
    };
    assert!(error.is_unavailable(), "{error:?}");
    assert!(log.check_writable().await.is_err());
    assert!(!path.exists(), "no empty database is created in its place");
    let _ = std::fs::remove_dir_all(&folder);
}
