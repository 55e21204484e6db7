//! Every event type at every version it was ever stored in is accounted for: an insta snapshot
//! of its JSON per version (and no snapshot of a version that does not exist), and for each
//! older version a stored payload in `stored/` that the upcaster reads and that is written back
//! at the current version.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use domain::{attention, order, payment, shipment, user, StoredEvent};

type EventTypes = &'static [(&'static str, i32)];

const AGGREGATES: [(&str, EventTypes); 5] = [
    (attention::AGGREGATE_TYPE, attention::EVENT_TYPES),
    (order::AGGREGATE_TYPE, order::EVENT_TYPES),
    (payment::AGGREGATE_TYPE, payment::EVENT_TYPES),
    (shipment::AGGREGATE_TYPE, shipment::EVENT_TYPES),
    (user::AGGREGATE_TYPE, user::EVENT_TYPES),
];

fn test_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/domain")
        .join(name)
}

fn files(name: &str, suffix: &str) -> BTreeSet<String> {
    std::fs::read_dir(test_dir(name))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|file| file.ends_with(suffix))
        .filter(|file| suffix != ".snap" || file.starts_with("domain__snapshots__"))
        .collect()
}

/// Decodes a stored payload with the aggregate's codec and encodes it again.
fn reencode(aggregate: &str, event_type: &str, version: i32, json: &str) -> StoredEvent {
    let payload: serde_json::Value = serde_json::from_str(json).unwrap();
    match aggregate {
        "attention" => {
            attention::encode(&attention::decode(event_type, version, &payload).unwrap())
        }
        "order" => order::encode(&order::decode(event_type, version, &payload).unwrap()),
        "payment" => payment::encode(&payment::decode(event_type, version, &payload).unwrap()),
        "shipment" => shipment::encode(&shipment::decode(event_type, version, &payload).unwrap()),
        "user" => user::encode(&user::decode(event_type, version, &payload).unwrap()),
        other => panic!("unknown aggregate {other}"),
    }
}

#[test]
fn every_event_type_has_a_snapshot_of_every_version_and_no_other() {
    let mut expected = BTreeSet::new();
    for (aggregate, event_types) in AGGREGATES {
        for &(event_type, current) in event_types {
            for version in 1..=current {
                expected.insert(format!(
                    "domain__snapshots__{aggregate}__{event_type}_v{version}.snap"
                ));
            }
        }
    }
    assert_eq!(files("snapshots", ".snap"), expected);
}

#[test]
fn every_older_version_is_upcast_from_a_stored_payload() {
    let mut expected = BTreeSet::new();
    for (aggregate, event_types) in AGGREGATES {
        for &(event_type, current) in event_types {
            for version in 1..current {
                let file = format!("{aggregate}__{event_type}_v{version}.json");
                let json = std::fs::read_to_string(test_dir("stored").join(&file))
                    .unwrap_or_else(|err| panic!("no stored payload {file}: {err}"));
                let stored = reencode(aggregate, event_type, version, &json);
                assert_eq!(
                    (stored.event_type, stored.event_version),
                    (event_type, current)
                );
                expected.insert(file);
            }
        }
    }
    assert!(!expected.is_empty(), "some event has an older version");
    assert_eq!(files("stored", ".json"), expected);
}
