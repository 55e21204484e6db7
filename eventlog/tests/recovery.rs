//! The log recovers from connections the server drops (restart, failover, idle kill).
#![allow(clippy::unwrap_used)]

use eventlog::{
    testing::TestDatabase, Append, AppendError, EventLog, ExpectedVersion, NewEvent, StreamId,
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
