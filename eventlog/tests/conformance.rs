//! The log's conformance suite: every test runs against PostgreSQL and SQLite alike (ADR 0002).
#![allow(clippy::unwrap_used)]

use std::collections::HashSet;

use eventlog::{
    testing::TestDatabase, Append, AppendError, Backend, EventLog, ExpectedVersion, LogTransaction,
    Metadata, NewEvent, StreamId,
};
use serde_json::json;

eventlog::on_both_backends!(
    an_append_of_several_events_is_stored_whole_with_consecutive_versions,
    an_append_that_fails_midway_stores_none_of_its_events,
    a_stale_expected_version_fails_with_the_actual_version,
    of_many_racing_appends_at_one_expected_version_exactly_one_wins,
    an_append_racing_an_open_transaction_on_the_same_stream_loses_with_the_actual_version,
    update_delete_and_truncate_of_events_are_refused_by_the_database,
    metadata_round_trips_through_stream_and_log_reads,
    read_all_positions_are_strictly_increasing_across_batches,
    a_recorded_idempotency_key_returns_the_first_result_and_writes_nothing,
    an_idempotency_key_reused_for_another_stream_is_refused,
    racing_appends_with_one_idempotency_key_write_once,
    an_append_without_events_is_refused,
    appends_in_a_transaction_commit_or_roll_back_with_it,
    concurrent_appends_sharing_a_commit_are_each_answered_with_their_own_positions,
);

/// Waits until the whole-log readers see `position`: on PostgreSQL, open write transactions of
/// other tests (in other databases of the same cluster) delay visibility, by design (ADR 0001).
async fn visible(log: &EventLog, position: i64) {
    let seen = log
        .wait_until_visible(position, std::time::Duration::from_secs(30))
        .await
        .unwrap();
    assert!(seen, "position {position} never became visible");
}

fn event(kind: &str, n: u64) -> NewEvent {
    NewEvent::new(kind, 1, json!({ "n": n }))
}

fn events(n: u64) -> Vec<NewEvent> {
    (1..=n).map(|i| event("Happened", i)).collect()
}

fn order(id: &str) -> StreamId {
    StreamId::new("order", id)
}

async fn an_append_of_several_events_is_stored_whole_with_consecutive_versions(
    _db: &TestDatabase,
    log: EventLog,
) {
    let appended = log
        .append(Append::new(
            order("a"),
            ExpectedVersion::NoStream,
            events(3),
        ))
        .await
        .unwrap();
    assert_eq!(
        appended
            .events
            .iter()
            .map(|e| e.sequence)
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(appended.stream_version(), Some(3));
    assert!(!appended.replayed);

    let stored = log.read_stream(&order("a"), 1).await.unwrap();
    assert_eq!(stored, appended.events);
    visible(&log, appended.last_position().unwrap()).await;
    let positions: Vec<i64> = stored.iter().map(|e| e.position).collect();
    assert!(
        positions.windows(2).all(|w| w[1] == w[0] + 1),
        "positions {positions:?}"
    );
    assert_eq!(log.head().await.unwrap(), positions[2]);
    assert_eq!(log.read_stream(&order("a"), 3).await.unwrap().len(), 1);
}

async fn an_append_that_fails_midway_stores_none_of_its_events(_db: &TestDatabase, log: EventLog) {
    let first = log
        .append(Append::new(
            order("a"),
            ExpectedVersion::NoStream,
            events(1),
        ))
        .await
        .unwrap();
    let mut batch = events(3);
    // The third event reuses an id already in the log: the database refuses it.
    batch[2].event_id = first.events[0].event_id;
    let refused = log
        .append(Append::new(order("b"), ExpectedVersion::NoStream, batch))
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(log.read_stream(&order("b"), 1).await.unwrap().is_empty());
    visible(&log, first.last_position().unwrap()).await;
    assert_eq!(log.read_all(0, 100).await.unwrap().len(), 1);
}

async fn a_stale_expected_version_fails_with_the_actual_version(_db: &TestDatabase, log: EventLog) {
    log.append(Append::new(
        order("a"),
        ExpectedVersion::NoStream,
        events(2),
    ))
    .await
    .unwrap();
    for expected in [
        ExpectedVersion::Exact(1),
        ExpectedVersion::NoStream,
        ExpectedVersion::Exact(3),
    ] {
        match log
            .append(Append::new(order("a"), expected, events(1)))
            .await
        {
            Err(AppendError::WrongExpectedVersion {
                actual,
                expected: e,
                stream,
            }) => {
                assert_eq!((actual, e, stream), (2, expected, order("a")));
            }
            other => panic!("expected a version conflict for {expected:?}, got {other:?}"),
        }
    }
    match log
        .append(Append::new(
            order("missing"),
            ExpectedVersion::Exact(4),
            events(1),
        ))
        .await
    {
        Err(AppendError::WrongExpectedVersion { actual: 0, .. }) => {}
        other => panic!("expected a conflict on a missing stream, got {other:?}"),
    }
    let next = log
        .append(Append::new(
            order("a"),
            ExpectedVersion::Exact(2),
            events(1),
        ))
        .await
        .unwrap();
    assert_eq!(next.stream_version(), Some(3));
    let any = log
        .append(Append::new(order("a"), ExpectedVersion::Any, events(1)))
        .await
        .unwrap();
    assert_eq!(any.stream_version(), Some(4));
}

async fn of_many_racing_appends_at_one_expected_version_exactly_one_wins(
    _db: &TestDatabase,
    log: EventLog,
) {
    log.append(Append::new(
        order("a"),
        ExpectedVersion::NoStream,
        events(1),
    ))
    .await
    .unwrap();
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move {
                log.append(Append::new(
                    order("a"),
                    ExpectedVersion::Exact(1),
                    vec![event("Raced", i)],
                ))
                .await
            })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        match racer.await.unwrap() {
            Ok(appended) => {
                won += 1;
                assert_eq!(appended.stream_version(), Some(2));
            }
            Err(AppendError::WrongExpectedVersion { actual: 2, .. }) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(won, 1);
    assert_eq!(log.read_stream(&order("a"), 1).await.unwrap().len(), 2);
}

async fn an_append_racing_an_open_transaction_on_the_same_stream_loses_with_the_actual_version(
    _db: &TestDatabase,
    log: EventLog,
) {
    let mut open = log.begin().await.unwrap();
    log.append_in(
        &mut open,
        Append::new(order("a"), ExpectedVersion::NoStream, events(2)),
    )
    .await
    .unwrap();
    let racer = {
        let log = log.clone();
        tokio::spawn(async move {
            log.append(Append::new(
                order("a"),
                ExpectedVersion::NoStream,
                events(1),
            ))
            .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    open.commit().await.unwrap();
    match racer.await.unwrap() {
        Err(AppendError::WrongExpectedVersion { actual: 2, .. }) => {}
        other => panic!("expected the racer to lose with actual version 2, got {other:?}"),
    }
    assert_eq!(log.read_stream(&order("a"), 1).await.unwrap().len(), 2);
}

async fn update_delete_and_truncate_of_events_are_refused_by_the_database(
    _db: &TestDatabase,
    log: EventLog,
) {
    let before = log
        .append(Append::new(order("a"), ExpectedVersion::NoStream, events(2)).idempotent("k"))
        .await
        .unwrap();
    let statements: &[&str] = match log.backend() {
        Backend::Postgres => &[
            "UPDATE events SET event_type = 'Forged'",
            "UPDATE events SET payload = '{}' WHERE false",
            "DELETE FROM events",
            "DELETE FROM events WHERE position < 0",
            "TRUNCATE events",
            "UPDATE event_idempotency_keys SET aggregate_id = 'x'",
            "TRUNCATE event_idempotency_keys",
        ],
        // SQLite has no TRUNCATE (its equivalent is an unqualified DELETE) and no statement-level
        // triggers: a statement that matches no row changes nothing and is not refused.
        Backend::Sqlite => &[
            "UPDATE events SET event_type = 'Forged'",
            "DELETE FROM events",
            "DELETE FROM events WHERE position = 1",
            "UPDATE event_idempotency_keys SET aggregate_id = 'x'",
            "DELETE FROM event_idempotency_keys",
            // REPLACE deletes what it collides with without firing DELETE triggers.
            "REPLACE INTO events SELECT position, event_id, aggregate_type, aggregate_id, \
             sequence, 'Forged', event_version, payload, metadata, recorded_at, chain_hash \
             FROM events WHERE position = 1",
            "INSERT OR REPLACE INTO events SELECT position, 'forged-id', aggregate_type, \
             aggregate_id, sequence, 'Forged', event_version, payload, metadata, recorded_at, chain_hash \
             FROM events WHERE position = 1",
            "INSERT OR REPLACE INTO events SELECT NULL, event_id, aggregate_type, \
             aggregate_id, sequence + 100, 'Forged', event_version, payload, metadata, \
             recorded_at, chain_hash FROM events WHERE position = 1",
            "INSERT INTO events SELECT position, event_id, aggregate_type, aggregate_id, \
             sequence, 'Forged', event_version, payload, metadata, recorded_at, chain_hash \
             FROM events WHERE position = 1 ON CONFLICT DO UPDATE SET event_type = 'Forged'",
            "REPLACE INTO event_idempotency_keys SELECT idempotency_key, aggregate_type, \
             'elsewhere', first_sequence, last_sequence, recorded_at FROM event_idempotency_keys",
        ],
    };
    for statement in statements {
        let outcome = eventlog::on_writer!(&log, |pool, _time| sqlx::query(statement)
            .execute(pool)
            .await
            .map(|_| ()));
        let error = outcome.expect_err(statement).to_string();
        assert!(
            error.contains("append-only") && error.contains("refused"),
            "{statement}: {error}"
        );
    }
    assert_eq!(
        log.read_stream(&order("a"), 1).await.unwrap(),
        before.events
    );
}

async fn metadata_round_trips_through_stream_and_log_reads(_db: &TestDatabase, log: EventLog) {
    let metadata = Metadata {
        actor: Some("user:0190b5a6-e1c2-7000-8000-000000000001".into()),
        correlation_id: Some("corr-1".into()),
        causation_id: Some("cause-1".into()),
        source: Some("webhook:stripe".into()),
        idempotency_key: Some("stripe:evt_1".into()),
        request_id: Some("req-1".into()),
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
    };
    let appended = log
        .append(Append::new(
            order("a"),
            ExpectedVersion::NoStream,
            vec![
                event("Placed", 1).with_metadata(metadata.clone()),
                event("Noted", 2),
            ],
        ))
        .await
        .unwrap();
    visible(&log, appended.last_position().unwrap()).await;
    let from_stream = log.read_stream(&order("a"), 1).await.unwrap();
    let from_log = log.read_all(0, 10).await.unwrap();
    for read in [&from_stream, &from_log, &appended.events] {
        assert_eq!(read[0].metadata, metadata);
        assert_eq!(read[1].metadata, Metadata::default());
        assert_eq!(read[0].payload, json!({ "n": 1 }));
        assert_eq!(read[0].event_type, "Placed");
    }
    assert_eq!(from_stream, from_log);
}

async fn read_all_positions_are_strictly_increasing_across_batches(
    _db: &TestDatabase,
    log: EventLog,
) {
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let log = log.clone();
            tokio::spawn(async move {
                let mut last = 0;
                for i in 0..10 {
                    let stream = order(&format!("{w}-{}", i % 3));
                    let appended = log
                        .append(Append::new(stream, ExpectedVersion::Any, events(1 + i % 3)))
                        .await
                        .unwrap();
                    last = last.max(appended.last_position().unwrap());
                }
                last
            })
        })
        .collect();
    let mut last = 0;
    for writer in writers {
        last = last.max(writer.await.unwrap());
    }
    visible(&log, last).await;
    let mut seen = Vec::new();
    let mut after = 0;
    loop {
        let batch = log.read_all(after, 7).await.unwrap();
        let Some(last) = batch.last() else { break };
        after = last.position;
        seen.extend(batch.into_iter().map(|e| e.position));
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    let written: u64 = 4 * (0..10).map(|i| 1 + i % 3).sum::<u64>();
    assert_eq!(seen.len() as u64, written, "every event read once");
    assert_eq!(log.head().await.unwrap(), *seen.last().unwrap());
}

async fn a_recorded_idempotency_key_returns_the_first_result_and_writes_nothing(
    _db: &TestDatabase,
    log: EventLog,
) {
    let first = log
        .append(Append::new(order("a"), ExpectedVersion::NoStream, events(2)).idempotent("api:k1"))
        .await
        .unwrap();
    // What is stored, not what is visible: another test's open transaction moves the visible
    // head on PostgreSQL.
    let stored = log.last_position().await.unwrap();
    // The repeat would conflict on its version; the key answers first.
    let again = log
        .append(Append::new(order("a"), ExpectedVersion::NoStream, events(2)).idempotent("api:k1"))
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.events, first.events);
    assert_eq!(log.last_position().await.unwrap(), stored);
    assert_eq!(log.read_stream(&order("a"), 1).await.unwrap().len(), 2);
}

async fn an_idempotency_key_reused_for_another_stream_is_refused(
    _db: &TestDatabase,
    log: EventLog,
) {
    log.append(Append::new(order("a"), ExpectedVersion::Any, events(1)).idempotent("k"))
        .await
        .unwrap();
    match log
        .append(Append::new(order("b"), ExpectedVersion::Any, events(1)).idempotent("k"))
        .await
    {
        Err(AppendError::DuplicateKey { key, recorded_for }) => {
            assert_eq!((key.as_str(), recorded_for), ("k", order("a")));
        }
        other => panic!("expected a duplicate key, got {other:?}"),
    }
    assert!(log.read_stream(&order("b"), 1).await.unwrap().is_empty());
}

async fn racing_appends_with_one_idempotency_key_write_once(_db: &TestDatabase, log: EventLog) {
    let racers: Vec<_> = (0..16)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move {
                let append = Append::new(order("a"), ExpectedVersion::Any, vec![event("Paid", i)]);
                log.append(append.idempotent("stripe:evt_42")).await
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for racer in racers {
        outcomes.push(racer.await.unwrap().unwrap());
    }
    assert_eq!(outcomes.iter().filter(|o| !o.replayed).count(), 1);
    let written = log.read_stream(&order("a"), 1).await.unwrap();
    assert_eq!(written.len(), 1);
    assert!(outcomes.iter().all(|o| o.events == written));

    // The same through open transactions: the second waits for the first and then replays it.
    let mut first = log.begin().await.unwrap();
    let key = "crm:evt_7";
    let one = log
        .append_in(
            &mut first,
            Append::new(order("b"), ExpectedVersion::Any, events(1)).idempotent(key),
        )
        .await
        .unwrap();
    let second = {
        let log = log.clone();
        tokio::spawn(async move {
            log.append(Append::new(order("b"), ExpectedVersion::Any, events(1)).idempotent(key))
                .await
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    first.commit().await.unwrap();
    let second = second.await.unwrap().unwrap();
    assert!(second.replayed);
    assert_eq!(
        second.events.iter().map(|e| e.event_id).collect::<Vec<_>>(),
        [one.events[0].event_id]
    );
    assert_eq!(log.read_stream(&order("b"), 1).await.unwrap().len(), 1);
}

async fn an_append_without_events_is_refused(_db: &TestDatabase, log: EventLog) {
    let refused = log
        .append(Append::new(order("a"), ExpectedVersion::Any, vec![]))
        .await;
    assert!(
        matches!(refused, Err(AppendError::Invalid(_))),
        "{refused:?}"
    );
    assert_eq!(log.head().await.unwrap(), 0);
}

async fn appends_in_a_transaction_commit_or_roll_back_with_it(_db: &TestDatabase, log: EventLog) {
    let mut tx: LogTransaction = log.begin().await.unwrap();
    log.append_in(
        &mut tx,
        Append::new(order("gone"), ExpectedVersion::NoStream, events(2)),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert!(log.read_stream(&order("gone"), 1).await.unwrap().is_empty());

    let mut tx = log.begin().await.unwrap();
    let kept = log
        .append_in(
            &mut tx,
            Append::new(order("kept"), ExpectedVersion::NoStream, events(2)),
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        log.read_stream(&order("kept"), 1).await.unwrap(),
        kept.events
    );
    visible(&log, kept.last_position().unwrap()).await;
    let ids: HashSet<_> = log
        .read_all(0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event_id)
        .collect();
    assert_eq!(ids.len(), 2);
}

/// Concurrent appends share a commit (group commit); each caller must still be told exactly
/// the positions and versions its own events were stored at, also when an append between
/// them in the batch fails its expected version.
async fn concurrent_appends_sharing_a_commit_are_each_answered_with_their_own_positions(
    _db: &TestDatabase,
    log: EventLog,
) {
    for stale in 0..4 {
        log.append(Append::new(
            order(&format!("stale-{stale}")),
            ExpectedVersion::NoStream,
            events(1),
        ))
        .await
        .unwrap();
    }
    let appends: Vec<_> = (0..24_u64)
        .map(|i| {
            let log = log.clone();
            tokio::spawn(async move {
                // Every sixth append names a stream that exists as if it did not.
                let stream = if i % 6 == 5 {
                    order(&format!("stale-{}", i / 6))
                } else {
                    order(&format!("fresh-{i}"))
                };
                let outcome = log
                    .append(Append::new(
                        stream.clone(),
                        ExpectedVersion::NoStream,
                        events(i % 4 + 1),
                    ))
                    .await;
                (stream, outcome)
            })
        })
        .collect();
    let mut positions = HashSet::new();
    let mut written = 0;
    for append in appends {
        let (stream, outcome) = append.await.unwrap();
        match outcome {
            Ok(appended) => {
                let answered: Vec<_> = appended
                    .events
                    .iter()
                    .map(|e| (e.position, e.sequence, e.event_id))
                    .collect();
                let stored: Vec<_> = log
                    .read_stream(&stream, 1)
                    .await
                    .unwrap()
                    .iter()
                    .map(|e| (e.position, e.sequence, e.event_id))
                    .collect();
                assert_eq!(answered, stored, "{stream:?}");
                positions.extend(answered.iter().map(|(position, ..)| *position));
                written += answered.len();
            }
            Err(AppendError::WrongExpectedVersion { actual: 1, .. })
                if stream.aggregate_id.starts_with("stale-") => {}
            Err(other) => panic!("{stream:?}: unexpected {other:?}"),
        }
    }
    assert_eq!(positions.len(), written, "a position answered twice");
    assert_eq!(written, 48, "events of the 20 fresh appends");
}
