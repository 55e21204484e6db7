//! The sealer and the inclusion proof on both backends: a seal is made once `every_events`
//! linked events wait, or once `every` has passed (at once for the first), never over its own
//! `AuditSealed` events alone; each covers the positions after the previous one; the seals file
//! is written again from the table when it lost lines; an event's proof leads from its link to
//! its seal's root.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ed25519_dalek::SigningKey;
use eventlog::{
    chain, integrity, on_both_backends,
    proof::{self, Proven},
    seal,
    sealer::{self, Sealer},
    testing::TestDatabase,
    Append, EventLog, ExpectedVersion, NewEvent, StreamId,
};
use serde_json::json;
use sha2::{Digest, Sha256};

async fn append(log: &EventLog, stream: &str, events: usize) -> Vec<uuid::Uuid> {
    let events: Vec<NewEvent> = (0..events)
        .map(|n| NewEvent::new("Happened", 1, json!({"n": n, "text": "é \"q\" \u{1}"})))
        .collect();
    let ids = events.iter().map(|e| e.event_id).collect();
    log.append(Append::new(
        StreamId::new("order", stream),
        ExpectedVersion::NoStream,
        events,
    ))
    .await
    .unwrap();
    ids
}

/// Links what is appended: on PostgreSQL the chainer, caught up; on SQLite the append did.
async fn linked(log: &EventLog) {
    if let EventLog::Postgres(_) = log {
        eventlog::testing::everything_visible(log).await;
        log.catch_up_projection(&chain::Chainer, &Default::default())
            .await
            .unwrap();
    }
}

async fn the_sealer_seals_every_n_events_or_after_a_while_and_never_its_own_events_alone(
    _db: &TestDatabase,
    log: EventLog,
) {
    let key = SigningKey::from_bytes(&[3; 32]);
    let file = std::env::temp_dir().join(format!("bo_seals_{}.jsonl", uuid::Uuid::now_v7()));
    let mut sealer = Sealer::new(key.clone());
    sealer.every_events = 5;
    sealer.every = Duration::from_secs(3_600);
    sealer.file = Some(file.clone());

    assert_eq!(sealer.seal_due(&log).await.unwrap(), None, "nothing linked");
    append(&log, "a", 3).await;
    linked(&log).await;
    let first = sealer.seal_due(&log).await.unwrap().unwrap();
    assert_eq!((first.number, first.first, first.last), (1, 1, 3));
    // Its AuditSealed event is position 4; two more events wait: 3 < 5, and not an hour yet.
    let ids = append(&log, "b", 2).await;
    linked(&log).await;
    assert_eq!(sealer.seal_due(&log).await.unwrap(), None);
    append(&log, "c", 2).await;
    linked(&log).await;
    let second = sealer.seal_due(&log).await.unwrap().unwrap();
    assert_eq!((second.number, second.first, second.last), (2, 4, 8));
    assert_eq!(second.previous_signature, Some(first.signature));
    // Only seal 2's own event waits: however long ago, nothing to seal.
    linked(&log).await;
    sealer.every = Duration::ZERO;
    assert_eq!(sealer.seal_due(&log).await.unwrap(), None);
    append(&log, "d", 1).await;
    linked(&log).await;
    let third = sealer.seal_due(&log).await.unwrap().unwrap();
    assert_eq!((third.number, third.first, third.last), (3, 9, 10));
    let published = log
        .read_stream(&StreamId::new(sealer::STREAM, "3"), 1)
        .await
        .unwrap();
    assert_eq!(published[0].event_type, sealer::SEALED);
    assert_eq!(published[0].payload, third.to_json());

    let stored = seal::stored(&log).await.unwrap();
    assert_eq!(stored, [first.clone(), second.clone(), third.clone()]);
    let trust = chain::Trust {
        keys: vec![key.verifying_key()],
        published: Vec::new(),
    };
    let checked = chain::check(&log, &trust).await.unwrap().unwrap();
    assert_eq!((checked.seals, checked.sealed_up_to), (3, Some(10)));

    // seal_due wrote no file; the table is written to it, and again after the file lost lines
    // and one was cut short.
    assert_eq!(sealer.publish_missing(&log).await.unwrap(), 3);
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, format!("{}\n{{\"form", text.lines().next().unwrap())).unwrap();
    assert_eq!(sealer.publish_missing(&log).await.unwrap(), 2);
    let (seals, unreadable) = sealer::read_published(&std::fs::read_to_string(&file).unwrap());
    std::fs::remove_file(&file).unwrap();
    assert_eq!(seals, stored);
    assert_eq!(unreadable, [2]);

    // The proof of the 2nd event of stream b (position 6): leaf 2 of seal 2's 5.
    let Proven::Proof(proof) = proof::prove(&log, ids[1]).await.unwrap() else {
        panic!("not proven")
    };
    assert_eq!(
        (proof.position, proof.leaf_index, proof.tree_size),
        (6, 2, 5)
    );
    assert_eq!(proof.seal, second);
    assert_eq!(proof.event["event_id"], ids[1].to_string());
    assert_eq!(
        proof.event["payload"],
        json!({"n": 1, "text": "é \"q\" \u{1}"})
    );
    let content: integrity::Hash = Sha256::digest(integrity::canonical_json(&proof.event)).into();
    let link = integrity::link(
        &proof.previous_link,
        proof.position,
        proof.sequence,
        proof.recorded_at,
        &content,
    );
    assert_eq!(link, proof.link);
    assert!(integrity::verify_inclusion(
        &link,
        2,
        5,
        &proof.audit_path,
        &second.root
    ));
    let unknown = proof::prove(&log, uuid::Uuid::now_v7()).await.unwrap();
    assert_eq!(unknown, Proven::NoSuchEvent);
    let [last] = append(&log, "e", 1).await[..] else {
        unreachable!()
    };
    linked(&log).await;
    let Proven::NotSealedYet {
        position,
        sealed_up_to,
    } = proof::prove(&log, last).await.unwrap()
    else {
        panic!("sealed already")
    };
    assert_eq!((position, sealed_up_to), (12, Some(10)));
}

on_both_backends!(the_sealer_seals_every_n_events_or_after_a_while_and_never_its_own_events_alone);
