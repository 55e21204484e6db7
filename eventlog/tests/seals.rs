//! The sealer and the inclusion proof on both backends: a seal is made once `every_events`
//! linked events wait, or once `every` has passed (at once for the first), never over its own
//! `AuditSealed` events alone; each covers the positions after the previous one; the seals file
//! is written again from the table when it lost lines; an event's proof leads from its link to
//! its seal's root. On PostgreSQL, positions left without an event (an append rolled back, the
//! sequence jumping ahead) are no leaves: sealing goes on over them and proofs after them hold,
//! in Rust and for the independent script (`scripts/verify_proof.py`).
#![allow(clippy::unwrap_used)]

use std::{process::Command, time::Duration};

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use ed25519_dalek::SigningKey;
use eventlog::{
    chain, integrity, on_both_backends,
    proof::{self, Proven},
    seal,
    sealer::{self, Sealer},
    testing::TestDatabase,
    Append, EventLog, ExpectedVersion, NewEvent, StreamId,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};

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

/// Whether `proof` holds: its link recomputed from its event, its audit path leading from that
/// link, at its leaf of a tree of its seal's `leaves`, to the seal's root, the seal signed by
/// `key`.
fn holds(proof: &proof::Proof, key: &SigningKey) -> bool {
    let content: integrity::Hash = Sha256::digest(integrity::canonical_json(&proof.event)).into();
    let link = integrity::link(
        &proof.previous_link,
        proof.position,
        proof.sequence,
        proof.recorded_at,
        &content,
    );
    link == proof.link
        && proof.tree_size == proof.seal.leaves as u64
        && integrity::verify_inclusion(
            &link,
            proof.leaf_index as usize,
            proof.tree_size as usize,
            &proof.audit_path,
            &proof.seal.root,
        )
        && proof.seal.signed_by(&key.verifying_key())
}

/// The proof of `event_id`, which must be sealed.
async fn proven(log: &EventLog, event_id: uuid::Uuid) -> proof::Proof {
    match proof::prove(log, event_id).await.unwrap() {
        Proven::Proof(proof) => *proof,
        other => panic!("not proven: {other:?}"),
    }
}

/// `proof` as `GET /api/v1/audit/proof/{event_id}` answers it (docs/audit.md).
fn as_answered(proof: &proof::Proof) -> Value {
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    json!({
        "event": proof.event,
        "position": proof.position,
        "sequence": proof.sequence,
        "recorded_at_micros": proof.recorded_at,
        "previous_link": hex(&proof.previous_link),
        "link": hex(&proof.link),
        "leaf_index": proof.leaf_index,
        "tree_size": proof.tree_size,
        "audit_path": proof.audit_path.iter().map(|h| hex(h)).collect::<Vec<_>>(),
        "seal": proof.seal.to_json(),
    })
}

/// Runs `scripts/verify_proof.py` on `proof` with `key`'s public key: whether it passed, and
/// what it said.
fn script_says(proof: &Value, key: &SigningKey) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/verify_proof.py");
    let file = std::env::temp_dir().join(format!("bo_proof_{}.json", uuid::Uuid::now_v7()));
    std::fs::write(&file, serde_json::to_vec(proof).unwrap()).unwrap();
    let output = Command::new("python3")
        .arg(script)
        .arg(&file)
        .arg(BASE64.encode(key.verifying_key().to_bytes()))
        .output()
        .expect("python3 runs (with `cryptography`: .ci/run installs it)");
    std::fs::remove_file(&file).unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !said.contains("ModuleNotFoundError"),
        "the script needs `cryptography` (python3 -m pip install cryptography): {said}"
    );
    assert!(!said.contains("Traceback"), "{said}");
    (output.status.success(), said)
}

/// On PostgreSQL, positions come from an identity sequence: an append that rolls back draws
/// positions no event will hold, and the sequence may jump ahead (by 32 after a crash). The
/// chainer links the events around such holes; the sealer goes on sealing over them, a seal's
/// leaves being the events of its range (here one seal starts on a hole and spans another);
/// the chain and the seals check; and the proofs of the events after a hole hold, their leaf
/// being their rank in the range, for the Rust check and the independent script alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_positions_left_without_an_event_are_no_leaves() {
    let db = TestDatabase::postgres().await;
    let log = db.log().await;
    let key = SigningKey::from_bytes(&[4; 32]);
    let mut sealer = Sealer::new(key.clone());
    sealer.every_events = 5;
    sealer.every = Duration::ZERO;

    append(&log, "a", 3).await;
    // An append rolled back: positions 4 and 5 are drawn and never held.
    let mut tx = log.begin().await.unwrap();
    let gone = (0..2)
        .map(|n| NewEvent::new("Happened", 1, json!({"n": n})))
        .collect();
    log.append_in(
        &mut tx,
        Append::new(
            StreamId::new("order", "gone"),
            ExpectedVersion::NoStream,
            gone,
        ),
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    linked(&log).await;
    let first = sealer.seal_due(&log).await.unwrap().unwrap();
    assert_eq!((first.first, first.last, first.leaves), (1, 3, 3));
    // Seal 1's event takes position 6; then the sequence jumps by 32, as after a crash.
    let mut owner = PgConnection::connect(&db.url).await.unwrap();
    sqlx::query(
        "SELECT nextval(pg_get_serial_sequence('events', 'position')) \
         FROM generate_series(1, 32)",
    )
    .execute(&mut owner)
    .await
    .unwrap();
    let ids = append(&log, "b", 4).await;
    linked(&log).await;
    // Seal 2 starts on the hole at 4 and holds five events: 6, 39, 40, 41, 42.
    let second = sealer.seal_due(&log).await.unwrap().unwrap();
    assert_eq!(
        (second.first, second.last, second.leaves),
        (4, 42, 5),
        "{second:?}"
    );
    append(&log, "c", 1).await;
    linked(&log).await;
    let third = sealer.seal_due(&log).await.unwrap().unwrap();
    assert_eq!((third.first, third.last, third.leaves), (43, 44, 2));
    linked(&log).await;
    let positions: Vec<i64> = log
        .read_all(0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.position)
        .collect();
    assert_eq!(positions, [1, 2, 3, 6, 39, 40, 41, 42, 43, 44, 45]);

    let trust = chain::Trust {
        keys: vec![key.verifying_key()],
        published: seal::stored(&log).await.unwrap(),
    };
    let checked = chain::check(&log, &trust).await.unwrap().unwrap();
    assert_eq!(
        (checked.events, checked.not_linked_yet, checked.seals),
        (11, 0, 3)
    );
    assert_eq!(checked.sealed_up_to, Some(44));

    // The 2nd event of stream b, at 40: leaf 2 (after 6 and 39) of seal 2's 5.
    let proof = proven(&log, ids[1]).await;
    assert_eq!(
        (proof.position, proof.leaf_index, proof.tree_size),
        (40, 2, 5)
    );
    assert_eq!(proof.seal, second);
    assert!(holds(&proof, &key));
    // Seal 1's event, at 6, the first leaf of seal 2: the link before it is position 3's.
    let sealed_1 = log
        .read_stream(&StreamId::new(sealer::STREAM, "1"), 1)
        .await
        .unwrap()[0]
        .event_id;
    let after_a_hole = proven(&log, sealed_1).await;
    assert_eq!((after_a_hole.position, after_a_hole.leaf_index), (6, 0));
    assert_eq!(after_a_hole.previous_link, first.head);
    assert!(holds(&after_a_hole, &key));
    // The 1st of stream b, at 39, right after the jump of the sequence.
    let after_the_jump = proven(&log, ids[0]).await;
    assert_eq!(
        (after_the_jump.position, after_the_jump.leaf_index),
        (39, 1)
    );
    assert_eq!(after_the_jump.previous_link, after_a_hole.link);
    assert!(holds(&after_the_jump, &key));

    // The independent script: the proof holds; a tree size or leaf index taken from the
    // positions (as if every position held an event) does not, nor a malformed proof.
    let answered = as_answered(&proof);
    let (passed, said) = script_says(&answered, &key);
    assert!(passed, "{said}");
    assert!(
        said.contains("at position 40 is leaf 2 of 5 under seal 2 (positions 4..42)"),
        "{said}"
    );
    let (passed, said) = script_says(&as_answered(&after_a_hole), &key);
    assert!(passed, "{said}");
    let mut by_positions = answered.clone();
    by_positions["tree_size"] = json!(39);
    let (passed, said) = script_says(&by_positions, &key);
    assert!(!passed);
    assert!(
        said.contains("the proof's tree_size 39 is not the seal's 5 leaves"),
        "{said}"
    );
    let mut by_positions = answered.clone();
    by_positions["leaf_index"] = json!(36);
    let (passed, said) = script_says(&by_positions, &key);
    assert!(!passed);
    assert!(
        said.contains("leaf index 36 is outside a tree of 5"),
        "{said}"
    );
    let mut other_leaf = answered.clone();
    other_leaf["leaf_index"] = json!(3);
    let (passed, said) = script_says(&other_leaf, &key);
    assert!(!passed);
    assert!(said.contains("not to the seal's root"), "{said}");
    for (field, value) in [("event", json!([1])), ("seal", json!("seal"))] {
        let mut malformed = answered.clone();
        malformed[field] = value;
        let (passed, said) = script_says(&malformed, &key);
        assert!(!passed);
        assert!(
            said.contains(&format!(
                "the proof does not hold: the proof's {field} is not an object"
            )),
            "{said}"
        );
    }
}

/// On SQLite, an event from before the chain (written before migration 0032: no link) is never
/// sealed: its proof is `BeforeTheChain` (409 `not_sealed`) even while no seal exists yet, not
/// a `NotSealedYet` that would never come true; the events after it are sealed and proven.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_an_event_from_before_the_chain_is_never_sealed() {
    let db = TestDatabase::sqlite();
    let log = db.log().await;
    let old = uuid::Uuid::now_v7();
    let mut owner = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    sqlx::query(
        "INSERT INTO events (position, event_id, aggregate_type, aggregate_id, sequence, \
         event_type, event_version, payload, metadata, recorded_at) \
         VALUES (1, ?, 'order', 'old', 1, 'Happened', 1, '{}', '{}', \
         '2025-01-01T00:00:00.000000Z')",
    )
    .bind(old.to_string())
    .execute(&mut owner)
    .await
    .unwrap();
    assert_eq!(
        proof::prove(&log, old).await.unwrap(),
        Proven::BeforeTheChain(1)
    );
    let ids = append(&log, "new", 2).await;
    let Proven::NotSealedYet { position, .. } = proof::prove(&log, ids[0]).await.unwrap() else {
        panic!("sealed already")
    };
    assert_eq!(position, 2);
    let key = SigningKey::from_bytes(&[5; 32]);
    let seals = Sealer::new(key.clone()).seal_all(&log).await.unwrap();
    assert_eq!(
        seals
            .iter()
            .map(|s| (s.first, s.last, s.leaves))
            .collect::<Vec<_>>(),
        [(2, 3, 2)]
    );
    assert_eq!(
        proof::prove(&log, old).await.unwrap(),
        Proven::BeforeTheChain(1)
    );
    let proof = proven(&log, ids[0]).await;
    assert_eq!((proof.leaf_index, proof.tree_size), (0, 2));
    assert!(holds(&proof, &key));
    let trust = chain::Trust {
        keys: vec![key.verifying_key()],
        published: seals,
    };
    let checked = chain::check(&log, &trust).await.unwrap().unwrap();
    assert_eq!((checked.before_chain, checked.seals), (1, 1));
}
