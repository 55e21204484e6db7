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

#[tokio::test]
async fn after_the_server_drops_its_connections_the_next_append_succeeds_and_none_is_half_stored() {
    let db = TestDatabase::postgres().await;
    let log = db.log().await;
    log.append(append("before")).await.unwrap();

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

    // The append on the dropped connection may fail, as a storage error, and then is not stored.
    let first = log.append(append("during")).await;
    if let Err(error) = &first {
        assert!(matches!(error, AppendError::Storage(_)), "{error:?}");
    }
    let after = log.append(append("after")).await.unwrap();
    assert_eq!(after.stream_version(), Some(1));

    let EventLog::Postgres(pg) = &log else {
        unreachable!()
    };
    let streams: Vec<String> =
        sqlx::query_scalar("SELECT aggregate_id FROM events ORDER BY position")
            .fetch_all(pg.pool())
            .await
            .unwrap();
    let expected: Vec<&str> = if first.is_ok() {
        vec!["before", "during", "after"]
    } else {
        vec!["before", "after"]
    };
    assert_eq!(streams, expected);
}
