//! `backoffice audit verify` on both backends: an untouched log verifies (exit 0, how many
//! events and the head); after the database's owner rewrites an event around the log's
//! triggers it exits non-zero, naming the first bad position.
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    process::{Command, Output},
    time::{Duration, Instant},
};

use eventlog::{
    chain, testing::TestDatabase, Append, EventLog, ExpectedVersion, NewEvent, StreamId,
};
use serde_json::json;
use sqlx::Connection;
use support::BINARY;

fn verify(db: &TestDatabase) -> Output {
    Command::new(BINARY)
        .args(["audit", "verify"])
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap()
}

async fn thirty_events(log: &EventLog) {
    for stream in 0..10 {
        let events = (1..=3)
            .map(|n| NewEvent::new("Happened", 1, json!({"n": n})))
            .collect();
        log.append(Append::new(
            StreamId::new("order", format!("o-{stream}")),
            ExpectedVersion::NoStream,
            events,
        ))
        .await
        .unwrap();
    }
}

async fn verified_then_broken(db: TestDatabase, tamper: &[&str]) {
    let log = db.log().await;
    thirty_events(&log).await;
    if let EventLog::Postgres(_) = &log {
        // `serve` runs the chainer; here it runs until the log is linked.
        let chainer = {
            let log = log.clone();
            tokio::spawn(async move {
                log.run_projection(&chain::Chainer, &Default::default())
                    .await
            })
        };
        let started = Instant::now();
        while chain::check(&log, &Default::default())
            .await
            .unwrap()
            .unwrap()
            .not_linked_yet
            > 0
        {
            assert!(started.elapsed() < Duration::from_secs(30));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        chainer.abort();
    }
    let untouched = verify(&db);
    let stdout = String::from_utf8_lossy(&untouched.stdout);
    assert!(
        untouched.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&untouched.stderr)
    );
    assert!(
        stdout.contains("the chain holds: 30 events linked up to position 30"),
        "{stdout}"
    );

    match &log {
        EventLog::Postgres(_) => {
            let mut owner = sqlx::PgConnection::connect(&db.url).await.unwrap();
            for statement in tamper {
                sqlx::query(statement).execute(&mut owner).await.unwrap();
            }
        }
        EventLog::Sqlite(_) => {
            let mut owner = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            for statement in tamper {
                sqlx::query(statement).execute(&mut owner).await.unwrap();
            }
        }
    }
    let tampered = verify(&db);
    let stderr = String::from_utf8_lossy(&tampered.stderr);
    assert!(
        !tampered.status.success(),
        "{}",
        String::from_utf8_lossy(&tampered.stdout)
    );
    assert!(
        stderr.contains("the chain breaks at position 7:"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_rewritten_event_fails_verify_at_its_position() {
    verified_then_broken(
        TestDatabase::sqlite(),
        &[
            "DROP TRIGGER events_refuse_update",
            "UPDATE events SET payload = '{\"n\": 99}' WHERE position = 7",
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_rewritten_event_fails_verify_at_its_position() {
    verified_then_broken(
        TestDatabase::postgres().await,
        &[
            "ALTER TABLE events DISABLE TRIGGER USER",
            "UPDATE events SET payload = '{\"n\": 99}' WHERE position = 7",
        ],
    )
    .await;
}
