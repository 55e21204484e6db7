//! Personal data sealed per subject on both backends (ADR 0028): stored sealed, read opened,
//! erased for every reader once the subject is forgotten, and readable across a rotation of
//! the master key; a process holding another master key is told, never shown erasures.
#![allow(clippy::unwrap_used)]

use eventlog::{
    privacy::{Personal, Vault, ERASED},
    testing::TestDatabase,
    Append, EventLog, ExpectedVersion, NewEvent, StreamId,
};
use serde_json::{json, Value};

const OLD_MASTER: [u8; 32] = [1; 32];
const NEW_MASTER: [u8; 32] = [2; 32];

fn placed(subject: &str, city: &str) -> NewEvent {
    NewEvent::new(
        "OrderPlaced",
        2,
        json!({"customer_id": subject, "total": 2500, "address": {"city": city, "country": "DE"}}),
    )
    .with_personal(Some(Personal {
        subject: subject.to_owned(),
        fields: vec!["/address/city".to_owned(), "/address/line2".to_owned()],
    }))
}

async fn stored_payload(log: &EventLog, stream: &StreamId) -> String {
    let sql = "SELECT CAST(payload AS TEXT) FROM events WHERE aggregate_id = $1";
    eventlog::on_readers!(log, |pool, _time| sqlx::query_scalar(sql)
        .bind(&stream.aggregate_id)
        .fetch_one(pool)
        .await
        .unwrap())
}

async fn city(log: &EventLog, stream: &StreamId) -> Value {
    log.read_stream(stream, 1).await.unwrap()[0].payload["address"]["city"].clone()
}

async fn forgetting_erases_for_every_reader_and_keeps_the_rest(db: TestDatabase) {
    let log = db.log().await.with_vault(Vault::new(&OLD_MASTER, &[]));
    let (ana, bea) = (
        StreamId::new("order", "o-ana"),
        StreamId::new("order", "o-bea"),
    );
    let appended = log
        .append(Append::new(
            ana.clone(),
            ExpectedVersion::NoStream,
            vec![placed("ana", "Porto")],
        ))
        .await
        .unwrap();
    // The answer holds what was given; the row holds none of it.
    assert_eq!(appended.events[0].payload["address"]["city"], "Porto");
    log.append(Append::new(
        bea.clone(),
        ExpectedVersion::NoStream,
        vec![placed("bea", "Lyon")],
    ))
    .await
    .unwrap();
    let stored = stored_payload(&log, &ana).await;
    assert!(
        !stored.contains("Porto") && stored.contains("$personal"),
        "{stored}"
    );
    assert_eq!(city(&log, &ana).await, "Porto");
    let head = log.last_position().await.unwrap();
    assert!(log
        .wait_until_visible(head, std::time::Duration::from_secs(30))
        .await
        .unwrap());
    assert_eq!(
        log.read_all(0, 10).await.unwrap()[0].payload["address"]["city"],
        "Porto"
    );
    let sealed_text = {
        let mut tx = log.begin().await.unwrap();
        let sealed = log
            .seal_text(&mut tx, "ana", "crm.email:ana", "ana@example.org")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        sealed
    };
    assert!(
        sealed_text.starts_with("$sealed:") && !sealed_text.contains("ana@"),
        "{sealed_text}"
    );
    assert_eq!(
        log.open_text("crm.email:ana", sealed_text.clone())
            .await
            .unwrap(),
        "ana@example.org"
    );
    // Bound to where it is kept: moved elsewhere it does not open, and says so.
    assert!(log
        .open_text("crm.email:bea", sealed_text.clone())
        .await
        .is_err());

    let mut tx = log.begin().await.unwrap();
    assert_eq!(EventLog::forget_subject(&mut tx, "ana").await.unwrap(), 1);
    tx.commit().await.unwrap();
    let opened = log.read_stream(&ana, 1).await.unwrap().remove(0).payload;
    assert_eq!(
        opened,
        json!({"customer_id": "ana", "total": 2500, "address": {"city": ERASED, "country": "DE"}})
    );
    assert_eq!(
        log.open_text("crm.email:ana", sealed_text).await.unwrap(),
        ERASED
    );
    assert_eq!(
        city(&log, &bea).await,
        "Lyon",
        "another customer is untouched"
    );
    assert_eq!(
        stored_payload(&log, &ana).await,
        stored,
        "the event itself is unchanged"
    );
    let mut tx = log.begin().await.unwrap();
    assert_eq!(EventLog::forget_subject(&mut tx, "ana").await.unwrap(), 0);
    tx.commit().await.unwrap();
    // A destroyed key cannot be brought back, even by the database's owner through SQL.
    let revived = eventlog::on_writer!(&log, |pool, _time| sqlx::query(
        "UPDATE subject_keys SET wrapped = 'x', master_key_id = 'y', forgotten_at = NULL \
         WHERE subject = 'ana'"
    )
    .execute(pool)
    .await
    .map(|_| ()));
    assert!(revived.is_err(), "a destroyed key came back");
    if let EventLog::Sqlite(_) = &log {
        let replaced = eventlog::on_writer!(&log, |pool, _time| {
            sqlx::query(
            "INSERT OR REPLACE INTO subject_keys (key_id, subject, master_key_id, wrapped, created_at) \
             SELECT key_id, subject, 'y', 'x', created_at FROM subject_keys WHERE subject = 'ana'"
        )
        .execute(pool)
        .await
        .map(|_| ())
        });
        assert!(
            replaced.is_err(),
            "a destroyed key was replaced by a live-looking one"
        );
    }
    // Ana orders again: a new key, her new address readable, the old one still erased.
    let again = StreamId::new("order", "o-ana-2");
    log.append(Append::new(
        again.clone(),
        ExpectedVersion::NoStream,
        vec![placed("ana", "Faro")],
    ))
    .await
    .unwrap();
    assert_eq!(city(&log, &again).await, "Faro");
    assert_eq!(city(&log, &ana).await, ERASED);
}

async fn a_rotated_master_key_reads_everything_and_an_unknown_one_is_named(db: TestDatabase) {
    let old = db.log().await.with_vault(Vault::new(&OLD_MASTER, &[]));
    let stream = StreamId::new("order", "o-1");
    old.append(Append::new(
        stream.clone(),
        ExpectedVersion::NoStream,
        vec![placed("c1", "Gent")],
    ))
    .await
    .unwrap();
    // A process with another master key is told which one it lacks.
    let stranger = db.log().await.with_vault(Vault::new(&NEW_MASTER, &[]));
    let unknown = stranger.unknown_master_keys().await.unwrap();
    assert_eq!(unknown, [Vault::new(&OLD_MASTER, &[]).master_key_id()]);
    let refused = stranger.read_stream(&stream, 1).await.unwrap_err();
    assert!(refused.to_string().contains("not configured"), "{refused}");

    let rotating = db
        .log()
        .await
        .with_vault(Vault::new(&NEW_MASTER, &[OLD_MASTER]));
    assert!(rotating.unknown_master_keys().await.unwrap().is_empty());
    assert_eq!(city(&rotating, &stream).await, "Gent");
    assert_eq!(rotating.rewrap_subject_keys().await.unwrap(), 1);
    assert_eq!(rotating.rewrap_subject_keys().await.unwrap(), 0);
    let rotated = db.log().await.with_vault(Vault::new(&NEW_MASTER, &[]));
    assert!(rotated.unknown_master_keys().await.unwrap().is_empty());
    assert_eq!(city(&rotated, &stream).await, "Gent");
}

mod postgres {
    use super::*;

    #[tokio::test]
    async fn forgetting_erases_for_every_reader_and_keeps_the_rest() {
        super::forgetting_erases_for_every_reader_and_keeps_the_rest(
            TestDatabase::postgres().await,
        )
        .await;
    }

    #[tokio::test]
    async fn a_rotated_master_key_reads_everything_and_an_unknown_one_is_named() {
        super::a_rotated_master_key_reads_everything_and_an_unknown_one_is_named(
            TestDatabase::postgres().await,
        )
        .await;
    }
}

mod sqlite {
    use super::*;

    #[tokio::test]
    async fn forgetting_erases_for_every_reader_and_keeps_the_rest() {
        super::forgetting_erases_for_every_reader_and_keeps_the_rest(TestDatabase::sqlite()).await;
    }

    #[tokio::test]
    async fn a_rotated_master_key_reads_everything_and_an_unknown_one_is_named() {
        super::a_rotated_master_key_reads_everything_and_an_unknown_one_is_named(
            TestDatabase::sqlite(),
        )
        .await;
    }
}
