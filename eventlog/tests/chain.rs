//! The hash chain: on SQLite every append links its events to the one before; on PostgreSQL
//! the chainer does, in position order. On a log of 10 000 events (each case its own), a check
//! of the whole log passes untouched and names the first event where it was changed, removed,
//! added or moved by someone who went around the log (its triggers dropped or disabled by the
//! database's owner).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use eventlog::{
    chain, testing::TestDatabase, Append, EventLog, ExpectedVersion, NewEvent, StreamId,
};
use serde_json::json;
use sqlx::{Connection, PgConnection, SqliteConnection};

/// The events of each log the tamper tests start from.
const EVENTS: i64 = 10_000;

/// 10 000 events in 100 streams; on PostgreSQL, linked by the chainer.
async fn log_of_10_000_events(db: &TestDatabase) -> EventLog {
    let log = db.log().await;
    for stream in 0..100 {
        let events = (1..=100)
            .map(|n| NewEvent::new("Happened", 1, json!({"n": n, "text": "é \"quoted\" \u{1}"})))
            .collect();
        log.append(Append::new(
            StreamId::new("order", format!("o-{stream}")),
            ExpectedVersion::NoStream,
            events,
        ))
        .await
        .unwrap();
    }
    if let EventLog::Postgres(_) = &log {
        let chainer = {
            let log = log.clone();
            tokio::spawn(async move {
                log.run_projection(&chain::Chainer, &Default::default())
                    .await
            })
        };
        let started = Instant::now();
        loop {
            let checked = chain::check(&log).await.unwrap().unwrap();
            if checked.not_linked_yet == 0 {
                break;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "{checked:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        chainer.abort();
    }
    log
}

/// The break a check finds after the owner ran `statements` (written for `db`'s backend) on a
/// linked log of 10 000 events, its own copy.
async fn tampered(db: TestDatabase, statements: &[&str]) -> chain::ChainBreak {
    let log = log_of_10_000_events(&db).await;
    let checked = chain::check(&log).await.unwrap().unwrap();
    assert_eq!(
        (checked.events, checked.before_chain, checked.not_linked_yet),
        (EVENTS as u64, 0, 0)
    );
    assert_eq!(checked.head.unwrap().0, EVENTS);
    match &log {
        EventLog::Sqlite(_) => {
            let mut owner = SqliteConnection::connect(&db.url).await.unwrap();
            for statement in [
                "DROP TRIGGER events_refuse_update",
                "DROP TRIGGER events_refuse_delete",
                "DROP TRIGGER events_refuse_replace",
                "DROP TRIGGER events_refuse_replace_by_event_id",
            ]
            .iter()
            .chain(statements)
            {
                sqlx::query(statement).execute(&mut owner).await.unwrap();
            }
        }
        EventLog::Postgres(_) => {
            let mut owner = PgConnection::connect(&db.url).await.unwrap();
            for statement in [
                "ALTER TABLE events DISABLE TRIGGER USER",
                "ALTER TABLE event_links DISABLE TRIGGER USER",
            ]
            .iter()
            .chain(statements)
            {
                sqlx::query(statement).execute(&mut owner).await.unwrap();
            }
        }
    }
    chain::check(&log).await.unwrap().unwrap_err()
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn a_changed_payload_breaks_the_chain_at_its_event() {
        let broken = tampered(
            TestDatabase::sqlite(),
            &["UPDATE events SET payload = json_set(payload, '$.n', 9) WHERE position = 1717"],
        )
        .await;
        assert_eq!(broken.position, 1717, "{broken:?}");
    }

    #[tokio::test]
    async fn a_removed_event_breaks_the_chain_at_the_next() {
        let broken = tampered(
            TestDatabase::sqlite(),
            &["DELETE FROM events WHERE position = 5000"],
        )
        .await;
        assert_eq!(broken.position, 5001, "{broken:?}");
    }

    #[tokio::test]
    async fn a_replaced_row_and_swapped_positions_break_the_chain() {
        let broken = tampered(
            TestDatabase::sqlite(),
            &[
                "REPLACE INTO events SELECT position, event_id, aggregate_type, aggregate_id, \
               sequence, 'Forged', event_version, payload, metadata, recorded_at, chain_hash \
               FROM events WHERE position = 9999",
            ],
        )
        .await;
        assert_eq!(broken.position, 9999, "{broken:?}");
        let broken = tampered(
            TestDatabase::sqlite(),
            &[
                "UPDATE events SET position = -8 WHERE position = 8",
                "UPDATE events SET position = 8 WHERE position = 9",
                "UPDATE events SET position = 9 WHERE position = -8",
            ],
        )
        .await;
        assert_eq!(broken.position, 8, "{broken:?}");
    }

    #[tokio::test]
    async fn a_row_added_without_the_append_breaks_the_chain() {
        let broken = tampered(
            TestDatabase::sqlite(),
            &[
                "INSERT INTO events (position, event_id, aggregate_type, aggregate_id, sequence, \
               event_type, event_version, payload, metadata, recorded_at) \
               SELECT 10001, 'forged', 'order', 'o-x', 1, 'Forged', 1, '{}', '{}', recorded_at \
               FROM events WHERE position = 10000",
            ],
        )
        .await;
        assert_eq!(broken.position, 10001, "{broken:?}");
    }
}

mod postgres {
    use super::*;

    #[tokio::test]
    async fn a_changed_payload_breaks_the_chain_at_its_event() {
        let broken = tampered(
            TestDatabase::postgres().await,
            &["UPDATE events SET payload = jsonb_set(payload, '{n}', '9') WHERE position = 1717"],
        )
        .await;
        assert_eq!(broken.position, 1717, "{broken:?}");
    }

    #[tokio::test]
    async fn a_removed_event_or_link_breaks_the_chain() {
        let broken = tampered(
            TestDatabase::postgres().await,
            &["DELETE FROM events WHERE position = 5000"],
        )
        .await;
        assert_eq!(broken.position, 5001, "{broken:?}");
        let broken = tampered(
            TestDatabase::postgres().await,
            &["DELETE FROM event_links WHERE position = 5000"],
        )
        .await;
        assert_eq!(broken.position, 5000, "{broken:?}");
    }

    #[tokio::test]
    async fn swapped_positions_and_a_forged_row_break_the_chain() {
        let broken = tampered(
            TestDatabase::postgres().await,
            &[
                "ALTER TABLE events ALTER COLUMN position SET GENERATED BY DEFAULT",
                "UPDATE events SET position = -8 WHERE position = 8",
                "UPDATE events SET position = 8 WHERE position = 9",
                "UPDATE events SET position = 9 WHERE position = -8",
            ],
        )
        .await;
        assert_eq!(broken.position, 8, "{broken:?}");
        // A row forged into a position the log never used, below the chain's head.
        let broken = tampered(
            TestDatabase::postgres().await,
            &[
                "DELETE FROM events WHERE position = 4321",
                "DELETE FROM event_links WHERE position = 4321",
                "INSERT INTO events (position, event_id, aggregate_type, aggregate_id, sequence, \
                 event_type, event_version, payload, metadata, transaction_id) OVERRIDING SYSTEM VALUE \
                 SELECT 4321, gen_random_uuid(), 'order', 'o-x', 1, 'Forged', 1, '{}', '{}', \
                 pg_current_xact_id()",
            ],
        )
        .await;
        assert_eq!(broken.position, 4321, "{broken:?}");
    }
}
