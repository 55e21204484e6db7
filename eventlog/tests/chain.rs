//! The hash chain: on SQLite every append links its events to the one before; on PostgreSQL
//! the chainer does, in position order. On a log of 10 000 events (each case its own), a check
//! of the whole log passes untouched and names the first event where it was changed, removed,
//! added or moved by someone who went around the log (its triggers dropped or disabled by the
//! database's owner). Sealed every 1 000 events, it also names the seal an owner edited, and
//! the seal over an event whose change the owner covered by recomputing every later link, which
//! the chain alone cannot tell.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use eventlog::{
    chain, integrity,
    sealer::{self, Sealer},
    testing::TestDatabase,
    Append, EventLog, ExpectedVersion, NewEvent, StreamId,
};
use serde_json::json;
use sqlx::{Connection, PgConnection, SqliteConnection};

/// The events of each log the tamper tests start from.
const EVENTS: i64 = 10_000;

/// A check that trusts no seal key: the logs of the cases without seals have none.
static NO_SEALS: chain::Trust = chain::Trust {
    keys: Vec::new(),
    published: Vec::new(),
};

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
            let checked = chain::check(&log, &NO_SEALS).await.unwrap().unwrap();
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
    let checked = chain::check(&log, &NO_SEALS).await.unwrap().unwrap();
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
    chain::check(&log, &NO_SEALS).await.unwrap().unwrap_err()
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

/// The key the seal cases sign with.
fn seal_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// A linked log of 10 000 events sealed every 1 000 (seals 1 to 10 over positions 1 to 10 000),
/// each seal also written to a seals file of its own: the log, and a check trusting the seals'
/// key with the seals as published (read back from the file).
async fn sealed_log(db: &TestDatabase) -> (EventLog, chain::Trust) {
    let log = log_of_10_000_events(db).await;
    let file = std::env::temp_dir().join(format!("bo_seals_{}.jsonl", uuid::Uuid::now_v7()));
    let mut sealer = Sealer::new(seal_key());
    sealer.file = Some(file.clone());
    let seals = sealer.seal_all(&log).await.unwrap();
    assert_eq!(seals.len(), 10);
    assert_eq!((seals[9].first, seals[9].last), (9_001, EVENTS));
    let (published, unreadable) = sealer::read_published(&std::fs::read_to_string(&file).unwrap());
    std::fs::remove_file(&file).unwrap();
    assert!(unreadable.is_empty());
    assert_eq!(published, seals);
    let trust = chain::Trust {
        keys: vec![seal_key().verifying_key()],
        published,
    };
    let checked = chain::check(&log, &trust).await.unwrap().unwrap();
    assert_eq!(
        (checked.seals, checked.sealed_up_to, checked.before_chain),
        (10, Some(EVENTS), 0)
    );
    (log, trust)
}

/// Runs `statements` as the database's owner, with the triggers of the log, its links and its
/// seals out of the way.
async fn owner_runs(db: &TestDatabase, statements: &[&str]) {
    if db.url.starts_with("sqlite:") {
        let mut owner = SqliteConnection::connect(&db.url).await.unwrap();
        for statement in [
            "DROP TRIGGER IF EXISTS events_refuse_update",
            "DROP TRIGGER IF EXISTS audit_seals_refuse_update",
            "DROP TRIGGER IF EXISTS audit_seals_refuse_delete",
        ]
        .iter()
        .chain(statements)
        {
            sqlx::query(statement).execute(&mut owner).await.unwrap();
        }
    } else {
        let mut owner = PgConnection::connect(&db.url).await.unwrap();
        for statement in [
            "ALTER TABLE events DISABLE TRIGGER USER",
            "ALTER TABLE event_links DISABLE TRIGGER USER",
            "ALTER TABLE audit_seals DISABLE TRIGGER USER",
        ]
        .iter()
        .chain(statements)
        {
            sqlx::query(statement).execute(&mut owner).await.unwrap();
        }
    }
}

/// What an owner with the algorithm in hand does after changing an event: every link
/// recomputed from the stored events and written back, so that the chain holds again.
async fn recompute_the_chain(db: &TestDatabase, log: &EventLog) {
    let (mut positions, mut links) = (Vec::new(), Vec::new());
    let mut previous = integrity::GENESIS;
    let mut after = 0;
    loop {
        let page = log.read_all(after, 1_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.position;
        for event in &page {
            let metadata = serde_json::to_value(&event.metadata).unwrap();
            let content = integrity::Content {
                event_id: event.event_id,
                stream_type: &event.stream.aggregate_type,
                stream_id: &event.stream.aggregate_id,
                event_type: &event.event_type,
                event_version: event.event_version,
                payload: &event.payload,
                metadata: &metadata,
            }
            .hash();
            let micros = integrity::micros(event.recorded_at);
            previous = integrity::link(&previous, event.position, event.sequence, micros, &content);
            positions.push(event.position);
            links.push(previous.to_vec());
        }
    }
    if db.url.starts_with("sqlite:") {
        let mut owner = SqliteConnection::connect(&db.url).await.unwrap();
        let mut tx = owner.begin().await.unwrap();
        for (position, link) in positions.iter().zip(&links) {
            sqlx::query("UPDATE events SET chain_hash = ? WHERE position = ?")
                .bind(link)
                .bind(position)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    } else {
        // The links the chainer wrote (not the latest seals' events: it was stopped before).
        let mut owner = PgConnection::connect(&db.url).await.unwrap();
        sqlx::query(
            "UPDATE event_links l SET link = v.link \
             FROM unnest($1::bigint[], $2::bytea[]) AS v(position, link) \
             WHERE l.position = v.position",
        )
        .bind(&positions)
        .bind(&links)
        .execute(&mut owner)
        .await
        .unwrap();
    }
}

/// On a sealed log: the check passes under the seals' key and fails under another; after the
/// owner ran `edit` (statements changing a seal), it fails at seal 3's first position.
async fn an_edited_seal_fails_the_check(db: TestDatabase, edit: &[&str]) {
    let (log, trust) = sealed_log(&db).await;
    let stranger = chain::Trust {
        keys: vec![SigningKey::from_bytes(&[9; 32]).verifying_key()],
        published: Vec::new(),
    };
    let broken = chain::check(&log, &stranger).await.unwrap().unwrap_err();
    assert_eq!(broken.position, 1, "{broken:?}");
    assert!(
        broken
            .reason
            .contains("seal 1 (positions 1..=1000) is signed by a key that is not trusted"),
        "{broken:?}"
    );
    owner_runs(&db, edit).await;
    let broken = chain::check(&log, &trust).await.unwrap().unwrap_err();
    assert_eq!(broken.position, 2_001, "{broken:?}");
    assert!(broken.reason.starts_with("seal 3 "), "{broken:?}");
    assert!(
        broken
            .reason
            .contains("has a signature that does not hold for its fields"),
        "{broken:?}"
    );
}

/// On a sealed log, the owner changes event 1 717 and recomputes every link after it: the chain
/// holds, and the seal over it (seal 2, positions 1 001 to 2 000) does not. Then the owner
/// removes every seal: the database alone no longer tells, the published seals still do.
async fn a_recomputed_chain_fails_at_the_seal_over_the_change(db: TestDatabase, change: &str) {
    let (log, trust) = sealed_log(&db).await;
    owner_runs(&db, &[change]).await;
    recompute_the_chain(&db, &log).await;
    let broken = chain::check(&log, &trust).await.unwrap().unwrap_err();
    assert_eq!(broken.position, 1_001, "{broken:?}");
    assert!(
        broken
            .reason
            .starts_with("seal 2 (positions 1001..=2000) does not match the chain: its head "),
        "{broken:?}"
    );
    assert!(broken.reason.contains("its Merkle root"), "{broken:?}");

    owner_runs(&db, &["DELETE FROM audit_seals"]).await;
    let database_alone = chain::Trust {
        keys: trust.keys.clone(),
        published: Vec::new(),
    };
    let checked = chain::check(&log, &database_alone).await.unwrap().unwrap();
    assert_eq!((checked.events >= EVENTS as u64, checked.seals), (true, 0));
    let broken = chain::check(&log, &trust).await.unwrap().unwrap_err();
    assert_eq!(broken.position, 1, "{broken:?}");
    assert!(
        broken
            .reason
            .contains("seal 1 (positions 1..=1000) is published (the seals file) but not stored"),
        "{broken:?}"
    );
}

mod sealed_sqlite {
    use super::*;

    #[tokio::test]
    async fn a_seal_with_its_root_or_its_range_edited_fails_the_check() {
        an_edited_seal_fails_the_check(
            TestDatabase::sqlite(),
            &["UPDATE audit_seals SET root = zeroblob(32) WHERE number = 3"],
        )
        .await;
        an_edited_seal_fails_the_check(
            TestDatabase::sqlite(),
            &[
                "UPDATE audit_seals SET last_position = 2999 WHERE number = 3",
                "UPDATE audit_seals SET first_position = 3000 WHERE number = 4",
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn a_chain_recomputed_after_a_change_fails_at_the_seal_over_it() {
        a_recomputed_chain_fails_at_the_seal_over_the_change(
            TestDatabase::sqlite(),
            "UPDATE events SET payload = json_set(payload, '$.n', 9) WHERE position = 1717",
        )
        .await;
    }
}

mod sealed_postgres {
    use super::*;

    #[tokio::test]
    async fn a_seal_with_its_root_or_its_range_edited_fails_the_check() {
        an_edited_seal_fails_the_check(
            TestDatabase::postgres().await,
            &["UPDATE audit_seals SET root = decode(repeat('00', 32), 'hex') WHERE number = 3"],
        )
        .await;
        an_edited_seal_fails_the_check(
            TestDatabase::postgres().await,
            &[
                "UPDATE audit_seals SET last_position = 2999 WHERE number = 3",
                "UPDATE audit_seals SET first_position = 3000 WHERE number = 4",
            ],
        )
        .await;
    }

    #[tokio::test]
    async fn a_chain_recomputed_after_a_change_fails_at_the_seal_over_it() {
        a_recomputed_chain_fails_at_the_seal_over_the_change(
            TestDatabase::postgres().await,
            "UPDATE events SET payload = jsonb_set(payload, '{n}', '9') WHERE position = 1717",
        )
        .await;
    }
}
