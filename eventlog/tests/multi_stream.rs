//! Appends to several streams at once (ADR 0009), on both backends: all or nothing, each stream
//! at its own expected version, so that a rule read across two aggregates holds under any
//! interleaving of the commands that change them.
#![allow(clippy::unwrap_used)]

use eventlog::{
    testing::TestDatabase, Append, AppendError, EventLog, ExpectedVersion, NewEvent, StreamId,
};
use serde_json::json;

eventlog::on_both_backends!(
    a_group_writes_every_stream_at_its_version_in_one_commit,
    a_stale_version_on_any_stream_writes_nothing_of_the_group,
    a_group_and_a_single_append_racing_for_one_stream_never_both_win,
    a_group_whose_key_is_recorded_writes_nothing_and_answers_the_first_result,
    a_refused_group_leaves_its_transaction_usable_and_empty,
    malformed_groups_are_refused,
);

fn events(n: u64) -> Vec<NewEvent> {
    (1..=n)
        .map(|i| NewEvent::new("Happened", 1, json!({ "n": i })))
        .collect()
}

fn stream(kind: &str, id: &str) -> StreamId {
    StreamId::new(kind, id)
}

async fn versions(log: &EventLog, streams: &[StreamId]) -> Vec<usize> {
    let mut versions = Vec::new();
    for stream in streams {
        versions.push(log.read_stream(stream, 1).await.unwrap().len());
    }
    versions
}

async fn a_group_writes_every_stream_at_its_version_in_one_commit(
    _db: &TestDatabase,
    log: EventLog,
) {
    let (order, shipment) = (stream("order", "o1"), stream("shipment", "s1"));
    log.append(Append::new(
        order.clone(),
        ExpectedVersion::NoStream,
        events(2),
    ))
    .await
    .unwrap();
    let written = log
        .append_all(&[
            Append::new(shipment.clone(), ExpectedVersion::NoStream, events(1)),
            Append::new(order.clone(), ExpectedVersion::Exact(2), events(1)),
        ])
        .await
        .unwrap();
    assert_eq!(written.len(), 2);
    assert_eq!(written[0].stream, shipment);
    assert_eq!(written[0].stream_version(), Some(1));
    assert_eq!(written[1].stream, order);
    assert_eq!(written[1].stream_version(), Some(3));
    assert!(written.iter().all(|a| !a.replayed));
    assert_eq!(log.read_stream(&order, 3).await.unwrap(), written[1].events);
    assert_eq!(
        log.read_stream(&shipment, 1).await.unwrap(),
        written[0].events
    );
}

async fn a_stale_version_on_any_stream_writes_nothing_of_the_group(
    _db: &TestDatabase,
    log: EventLog,
) {
    let (order, shipment) = (stream("order", "o1"), stream("shipment", "s1"));
    log.append(Append::new(
        order.clone(),
        ExpectedVersion::NoStream,
        events(2),
    ))
    .await
    .unwrap();
    let head = log.last_position().await.unwrap();
    let refused = log
        .append_all(&[
            Append::new(shipment.clone(), ExpectedVersion::NoStream, events(1)),
            Append::new(order.clone(), ExpectedVersion::Exact(1), events(1)),
        ])
        .await;
    match refused {
        Err(AppendError::WrongExpectedVersion {
            stream, actual: 2, ..
        }) => assert_eq!(stream, order),
        other => panic!("expected a conflict on the order, got {other:?}"),
    }
    assert_eq!(versions(&log, &[order, shipment]).await, [2, 0]);
    assert_eq!(log.last_position().await.unwrap(), head);
}

/// The interleaving a multi-stream append rules out: a cancel (one append to the order) and a
/// dispatch (an append to the shipment and the order) decided from the same order version.
async fn a_group_and_a_single_append_racing_for_one_stream_never_both_win(
    _db: &TestDatabase,
    log: EventLog,
) {
    for round in 0..20 {
        let order = stream("order", &format!("o{round}"));
        let shipment = stream("shipment", &format!("s{round}"));
        log.append(Append::new(
            order.clone(),
            ExpectedVersion::NoStream,
            events(1),
        ))
        .await
        .unwrap();
        let group = {
            let (log, order, shipment) = (log.clone(), order.clone(), shipment.clone());
            tokio::spawn(async move {
                log.append_all(&[
                    Append::new(shipment, ExpectedVersion::NoStream, events(1)),
                    Append::new(order, ExpectedVersion::Exact(1), events(1)),
                ])
                .await
            })
        };
        let single = {
            let (log, order) = (log.clone(), order.clone());
            tokio::spawn(async move {
                log.append(Append::new(order, ExpectedVersion::Exact(1), events(1)))
                    .await
            })
        };
        let (group, single) = (group.await.unwrap(), single.await.unwrap());
        assert!(
            group.is_ok() != single.is_ok(),
            "round {round}: exactly one wins, got {group:?} and {single:?}"
        );
        let group_won = group.is_ok();
        let stale = if group_won { single.err() } else { group.err() };
        assert!(
            matches!(
                stale,
                Some(AppendError::WrongExpectedVersion { actual: 2, .. })
            ),
            "round {round}: {stale:?}"
        );
        let expected = if group_won { [2, 1] } else { [2, 0] };
        assert_eq!(versions(&log, &[order, shipment]).await, expected);
    }
}

async fn a_group_whose_key_is_recorded_writes_nothing_and_answers_the_first_result(
    _db: &TestDatabase,
    log: EventLog,
) {
    let (order, shipment) = (stream("order", "o1"), stream("shipment", "s1"));
    let group = |order_version| {
        vec![
            Append::new(shipment.clone(), ExpectedVersion::Any, events(1)).idempotent("k-1"),
            Append::new(order.clone(), order_version, events(1)),
        ]
    };
    let first = log
        .append_all(&group(ExpectedVersion::NoStream))
        .await
        .unwrap();
    let head = log.last_position().await.unwrap();
    let again = log
        .append_all(&group(ExpectedVersion::Exact(1)))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert!(again[0].replayed);
    assert_eq!(again[0].events, first[0].events);
    assert_eq!(log.last_position().await.unwrap(), head, "nothing written");
    assert_eq!(versions(&log, &[order, shipment]).await, [1, 1]);
}

/// The webhook worker appends a group and marks its delivery in one transaction: a refused
/// group must leave that transaction as it was, so that what the caller writes next commits
/// alone.
async fn a_refused_group_leaves_its_transaction_usable_and_empty(
    _db: &TestDatabase,
    log: EventLog,
) {
    let (order, shipment) = (stream("order", "o1"), stream("shipment", "s1"));
    log.append(Append::new(
        order.clone(),
        ExpectedVersion::NoStream,
        events(1),
    ))
    .await
    .unwrap();
    let mut tx = log.begin().await.unwrap();
    let refused = log
        .append_all_in(
            &mut tx,
            &[
                Append::new(shipment.clone(), ExpectedVersion::NoStream, events(1)),
                Append::new(order.clone(), ExpectedVersion::NoStream, events(1)),
            ],
        )
        .await;
    assert!(
        matches!(refused, Err(AppendError::WrongExpectedVersion { .. })),
        "{refused:?}"
    );
    let write = eventlog::on_tx!(&mut tx, |conn, _time| sqlx::query(
        "CREATE TABLE marker (n int)"
    )
    .execute(&mut *conn)
    .await
    .map(|_| ()));
    write.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(versions(&log, &[order, shipment]).await, [1, 0]);
}

async fn malformed_groups_are_refused(_db: &TestDatabase, log: EventLog) {
    let order = stream("order", "o1");
    let twice = log
        .append_all(&[
            Append::new(order.clone(), ExpectedVersion::Any, events(1)),
            Append::new(order.clone(), ExpectedVersion::Any, events(1)),
        ])
        .await;
    assert!(matches!(twice, Err(AppendError::Invalid(_))), "{twice:?}");
    let keyed_second = log
        .append_all(&[
            Append::new(order.clone(), ExpectedVersion::Any, events(1)),
            Append::new(stream("shipment", "s1"), ExpectedVersion::Any, events(1)).idempotent("k"),
        ])
        .await;
    assert!(
        matches!(keyed_second, Err(AppendError::Invalid(_))),
        "{keyed_second:?}"
    );
    assert!(matches!(
        log.append_all(&[]).await,
        Err(AppendError::Invalid(_))
    ));
    assert_eq!(log.last_position().await.unwrap(), 0);
}
