//! EasyPost payloads: the shared tracker.updated event reads into a typed tracker.

use adapters::inbound::payload::{
    easypost::{self, EasyPostEventKind, Tracker, TrackerStatus},
    PayloadError,
};

use crate::fixtures::{bytes, json};

const TRACKER_UPDATED: &str = "easypost/tracker.updated.event-body.json";

fn tracker(body: &[u8]) -> Tracker {
    match easypost::parse(body).unwrap().kind {
        EasyPostEventKind::TrackerUpdated(tracker) => tracker,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_tracker_updated_fixture_parses_and_is_pinned() {
    let body = bytes(TRACKER_UPDATED);
    let event = easypost::parse(&body).unwrap();
    assert_eq!(event.id, "evt_1");
    assert_eq!(event.description, "tracker.updated");
    assert_eq!(event.created_at.to_rfc3339(), "2024-08-02T19:26:52+00:00");
    insta::assert_json_snapshot!("easypost_tracker_updated", event);

    let key = easypost::inbox_key(&body).unwrap();
    assert_eq!(
        (key.event_id.as_str(), key.event_type.as_str()),
        ("evt_1", "tracker.updated")
    );
    assert_eq!(key.idempotency_key(), "easypost:evt_1");
}

#[test]
fn a_tracker_carries_its_status_carrier_and_history() {
    let tracker = tracker(&bytes(TRACKER_UPDATED));
    assert_eq!(tracker.id, "trk_1");
    assert_eq!(tracker.tracking_code, "1");
    assert_eq!(tracker.status, TrackerStatus::InTransit);
    assert_eq!(
        tracker.status_detail.as_deref(),
        Some("arrived_at_facility")
    );
    assert_eq!(tracker.carrier, "FedEx");
    assert_eq!(tracker.shipment_id, None);
    assert_eq!(tracker.tracking_details.len(), 7);

    let first = &tracker.tracking_details[0];
    assert_eq!(first.status, TrackerStatus::PreTransit);
    assert_eq!(
        first.message.as_deref(),
        Some("Shipment information sent to FedEx")
    );
    let location = first.tracking_location.as_ref().unwrap();
    assert_eq!(
        (location.city.as_deref(), location.state.as_deref()),
        (None, None)
    );
    assert_eq!(location.country.as_deref(), Some("US"));

    let latest = tracker.latest_detail().unwrap();
    assert_eq!(latest.datetime.to_rfc3339(), "2024-08-02T18:50:00+00:00");
    assert_eq!(latest.message.as_deref(), Some("Arrived at FedEx location"));
    let place = latest.tracking_location.as_ref().unwrap();
    assert_eq!(place.city.as_deref(), Some("EDISON"));
    assert_eq!(place.state.as_deref(), Some("NJ"));
}

#[test]
fn the_latest_detail_goes_by_carrier_time_not_list_order() {
    let mut event = json(TRACKER_UPDATED);
    let details = event["result"]["tracking_details"].as_array_mut().unwrap();
    details.reverse();
    let tracker = tracker(&serde_json::to_vec(&event).unwrap());
    assert_eq!(
        tracker.latest_detail().unwrap().datetime.to_rfc3339(),
        "2024-08-02T18:50:00+00:00"
    );
}

#[test]
fn every_easypost_status_reads_and_an_unrecognised_one_is_unknown() {
    let statuses = [
        ("pre_transit", TrackerStatus::PreTransit),
        ("in_transit", TrackerStatus::InTransit),
        ("out_for_delivery", TrackerStatus::OutForDelivery),
        ("delivered", TrackerStatus::Delivered),
        ("available_for_pickup", TrackerStatus::AvailableForPickup),
        ("return_to_sender", TrackerStatus::ReturnToSender),
        ("failure", TrackerStatus::Failure),
        ("cancelled", TrackerStatus::Cancelled),
        ("error", TrackerStatus::Error),
        ("unknown", TrackerStatus::Unknown),
        ("delivered_by_drone", TrackerStatus::Unknown),
    ];
    for (text, status) in statuses {
        let mut event = json(TRACKER_UPDATED);
        event["result"]["status"] = text.into();
        event["result"]["tracking_details"][0]["status"] = text.into();
        let tracker = tracker(&serde_json::to_vec(&event).unwrap());
        assert_eq!(tracker.status, status, "{text}");
        assert_eq!(tracker.tracking_details[0].status, status, "{text}");
    }
}

#[test]
fn an_easypost_event_we_do_not_act_on_parses_as_unknown() {
    let mut event = json(TRACKER_UPDATED);
    event["description"] = "batch.created".into();
    event["result"] = serde_json::json!({"object": "Batch", "id": "batch_1"});
    let parsed = easypost::parse(&serde_json::to_vec(&event).unwrap()).unwrap();
    assert_eq!(
        parsed.kind,
        EasyPostEventKind::Unknown {
            description: "batch.created".into()
        }
    );
}

#[test]
fn a_tracker_event_without_a_tracker_is_a_data_error() {
    let mut event = json(TRACKER_UPDATED);
    event["result"] = serde_json::Value::Null;
    let err = easypost::parse(&serde_json::to_vec(&event).unwrap()).unwrap_err();
    assert!(matches!(err, PayloadError::Data { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "easypost tracker.updated event has invalid data"
    );
}
