//! EasyPost's trackers of quiet parcels pulled (docs/integrations/easypost.md, "Pulled")
//! against an HTTP mock serving `GET /v2/trackers?tracking_code=…` with EasyPost's own tracker
//! (the shared fixture's), into the inbox its webhooks fill, through the worker onto the
//! shipment: once, and not again while the tracker does not change; parcels that are not under
//! way, or not quiet, are not asked about.

use adapters::{inbound::tracker_pull::EasyPostTrackerPull, outbound::config::EasyPostConfig};
use eventlog::{testing::TestDatabase, EventLog};
use serde_json::{json, Value};
use wiremock::{matchers, Mock, MockServer, ResponseTemplate};

use crate::support::*;

eventlog::on_both_backends!(
    a_quiet_parcels_tracker_is_pulled_and_applied_once,
    a_failing_easypost_is_recorded_with_the_run,
);

fn config(server: &MockServer, quiet_secs: u64) -> EasyPostConfig {
    serde_json::from_value(json!({
        "base_url": server.uri(), "api_key": "EZTK_pull", "tracker_quiet_secs": quiet_secs,
        "parcel": {"length_in": 10, "width_in": 8, "height_in": 4, "weight_oz": 16},
        "from_address": {"name": "W", "street1": "1 Dock Rd", "city": "Austin", "zip": "78701",
                         "country": "US"},
    }))
    .unwrap()
}

/// The shared fixture's tracker (tracking code `1`), as `GET /v2/trackers` lists it.
fn trackers() -> Value {
    let event: Value =
        serde_json::from_slice(&fixture("easypost/tracker.updated.event-body.json")).unwrap();
    json!({"trackers": [event["result"]], "has_more": false})
}

/// The app with the fixture order's parcel under way (tracking number `1`), projected.
async fn parcel_under_way(log: &EventLog) -> App {
    let app = app(log.clone()).await;
    place_order(&app).await;
    labelled_shipment(&app, "0190e8a0-0000-7000-8000-0000000000c1", "1").await;
    project(log).await;
    app
}

/// The tracker pull of `app`'s inbox from the EasyPost at `server`, for parcels quiet for
/// `quiet_secs`.
fn tracker_pull(app: &App, server: &MockServer, quiet_secs: u64) -> EasyPostTrackerPull {
    let (inbox, wake) = (app.state.inbox().clone(), app.state.wake());
    EasyPostTrackerPull::new(&config(server, quiet_secs), inbox, wake).unwrap()
}

async fn a_quiet_parcels_tracker_is_pulled_and_applied_once(_db: &TestDatabase, log: EventLog) {
    let server = MockServer::start().await;
    Mock::given(matchers::method("GET"))
        .and(matchers::path("/v2/trackers"))
        .and(matchers::query_param("tracking_code", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(trackers()))
        .mount(&server)
        .await;
    let app = parcel_under_way(&log).await;

    // Not quiet for a day yet: nothing is asked.
    let patient = tracker_pull(&app, &server, 86_400);
    let run = patient.run_once().await.unwrap();
    assert_eq!((run.fetched, run.stored), (0, 0));
    assert!(server.received_requests().await.unwrap().is_empty());

    let pull = tracker_pull(&app, &server, 0);
    let run = pull.run_once().await.unwrap();
    assert_eq!(
        (run.fetched, run.stored, run.duplicates, run.error),
        (1, 1, 0, None)
    );
    assert_eq!(work(&app).await, 1);
    let scans = count(&log, "SELECT count(*) FROM shipment_tracking").await;
    assert!(
        scans >= 3,
        "the tracker's scans are on the shipment: {scans}"
    );
    let status = count(
        &log,
        "SELECT count(*) FROM shipments WHERE status = 'in_transit'",
    )
    .await;
    assert_eq!(status, 1, "the newest scan moved the shipment");

    // The same tracker again: found in the inbox, nothing new.
    let events = count(&log, "SELECT count(*) FROM events").await;
    let run = pull.run_once().await.unwrap();
    assert_eq!((run.fetched, run.stored, run.duplicates), (1, 0, 1));
    assert_eq!(work(&app).await, 0);
    assert_eq!(count(&log, "SELECT count(*) FROM events").await, events);
    let asked = server.received_requests().await.unwrap();
    assert_eq!(asked.len(), 2);
    assert_eq!(
        asked[0].headers["authorization"].to_str().unwrap(),
        "Basic RVpUS19wdWxsOg==",
        "the key as the basic-auth user"
    );
}

async fn a_failing_easypost_is_recorded_with_the_run(_db: &TestDatabase, log: EventLog) {
    let server = MockServer::start().await;
    Mock::given(matchers::any())
        .respond_with(ResponseTemplate::new(503))
        .mount(&server)
        .await;
    let app = parcel_under_way(&log).await;
    let pull = tracker_pull(&app, &server, 0);
    let run = pull.run_once().await.unwrap();
    assert_eq!(run.stored, 0);
    assert!(
        run.error.as_deref().is_some_and(|e| e.contains("503")),
        "{:?}",
        run.error
    );
    let inbox = app.state.inbox().clone();
    let last = adapters::inbound::pull::last_pull(&inbox, "easypost")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(last.error, run.error, "shown by integrations status");
}
