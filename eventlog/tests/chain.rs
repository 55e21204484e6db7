//! The hash chain on SQLite: every append links its events to the one before; a check of the
//! whole log passes untouched and names the first event where it was changed, removed or
//! added by someone who went around the log (the triggers dropped).
#![allow(clippy::unwrap_used)]

use eventlog::{
    chain, testing::TestDatabase, Append, EventLog, ExpectedVersion, NewEvent, StreamId,
};
use serde_json::json;
use sqlx::{Connection, SqliteConnection};

async fn log_of_60_events(db: &TestDatabase) -> EventLog {
    let log = db.log().await;
    for stream in 0..20 {
        let events = (1..=3)
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
    log
}

async fn tampered(statements: &[&str]) -> chain::ChainBreak {
    let db = TestDatabase::sqlite();
    let log = log_of_60_events(&db).await;
    let checked = chain::check(&log).await.unwrap().unwrap();
    assert_eq!((checked.events, checked.before_chain), (60, 0));
    assert_eq!(checked.head.unwrap().0, 60);
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
    chain::check(&log).await.unwrap().unwrap_err()
}

#[tokio::test]
async fn a_changed_payload_breaks_the_chain_at_its_event() {
    let broken =
        tampered(&["UPDATE events SET payload = json_set(payload, '$.n', 9) WHERE position = 17"])
            .await;
    assert_eq!(broken.position, 17, "{broken:?}");
}

#[tokio::test]
async fn a_removed_event_breaks_the_chain_at_the_next() {
    let broken = tampered(&["DELETE FROM events WHERE position = 30"]).await;
    assert_eq!(broken.position, 31, "{broken:?}");
}

#[tokio::test]
async fn a_replaced_row_and_swapped_positions_break_the_chain() {
    let broken = tampered(&[
        "REPLACE INTO events SELECT position, event_id, aggregate_type, aggregate_id, sequence, \
         'Forged', event_version, payload, metadata, recorded_at, chain_hash FROM events \
         WHERE position = 5",
    ])
    .await;
    assert_eq!(broken.position, 5, "{broken:?}");
    let broken = tampered(&[
        "UPDATE events SET position = -8 WHERE position = 8",
        "UPDATE events SET position = 8 WHERE position = 9",
        "UPDATE events SET position = 9 WHERE position = -8",
    ])
    .await;
    assert_eq!(broken.position, 8, "{broken:?}");
}

#[tokio::test]
async fn a_row_added_without_the_append_breaks_the_chain() {
    let broken = tampered(&[
        "INSERT INTO events (position, event_id, aggregate_type, aggregate_id, sequence, \
         event_type, event_version, payload, metadata, recorded_at) \
         SELECT 61, 'forged', 'order', 'o-x', 1, 'Forged', 1, '{}', '{}', recorded_at \
         FROM events WHERE position = 60",
    ])
    .await;
    assert_eq!(broken.position, 61, "{broken:?}");
}
