//! Labels bought at the carrier integration (ADR 0013): asked here (`RequestLabel`), the
//! provider's shipment recorded before its label is bought (so a retry buys that one), and the
//! label recorded when the provider sells it, or the request ended by its refusal. Asking again
//! while one is pending asks nothing more; a label typed in by hand waits for the purchase.

use domain::shipment::{
    Parcel, PurchasedLabel, Shipment, ShipmentCommand, ShipmentError, ShipmentEvent,
    ShipmentLabelCreated, ShipmentLabelFailed, ShipmentLabelRequested,
    ShipmentProviderShipmentRecorded, ShipmentStatus,
};

use super::fixtures::*;
use crate::support::{code, ext, given, in_every_state, now, order_id, text, usd};

fn parcel() -> Parcel {
    Parcel {
        length_in: 10,
        width_in: 8,
        height_in: 4,
        weight_oz: 16,
    }
}

fn request() -> ShipmentCommand {
    ShipmentCommand::RequestLabel {
        parcel: Some(parcel()),
    }
}

fn requested() -> ShipmentEvent {
    ShipmentEvent::ShipmentLabelRequested(ShipmentLabelRequested {
        order_id: order_id(),
        parcel: Some(parcel()),
        requested_at: now(),
    })
}

fn record_shipment(id: &str) -> ShipmentCommand {
    ShipmentCommand::RecordProviderShipment {
        provider_shipment_id: ext(id),
    }
}

fn shipment_recorded(id: &str) -> ShipmentEvent {
    ShipmentEvent::ShipmentProviderShipmentRecorded(ShipmentProviderShipmentRecorded {
        order_id: order_id(),
        provider_shipment_id: ext(id),
        recorded_at: now(),
    })
}

fn bought() -> PurchasedLabel {
    PurchasedLabel {
        provider: code("easypost"),
        provider_shipment_id: ext("shp_1"),
        label_url: text("https://easypost-files.test/label.png"),
        carrier: text("USPS"),
        service: text("Priority"),
        cost: usd(649),
    }
}

fn record_purchase(tracking: &str) -> ShipmentCommand {
    ShipmentCommand::RecordPurchasedLabel {
        tracking_number: ext(tracking),
        label: bought(),
    }
}

fn purchased(tracking: &str) -> ShipmentEvent {
    ShipmentEvent::ShipmentLabelCreated(ShipmentLabelCreated {
        tracking_number: ext(tracking),
        purchase: Some(bought()),
        created_at: now(),
    })
}

fn record_failure() -> ShipmentCommand {
    ShipmentCommand::RecordLabelFailed {
        code: code("no_rate"),
        message: text("no rate of the allowed carriers"),
    }
}

fn label_failed() -> ShipmentEvent {
    ShipmentEvent::ShipmentLabelFailed(ShipmentLabelFailed {
        order_id: order_id(),
        code: code("no_rate"),
        message: text("no rate of the allowed carriers"),
        failed_at: now(),
    })
}

fn h_requested() -> Vec<ShipmentEvent> {
    vec![created(), requested()]
}

fn h_provider_shipment() -> Vec<ShipmentEvent> {
    [h_requested(), vec![shipment_recorded("shp_1")]].concat()
}

/// The states of `states()` and the two a purchase adds, with their outcomes in order.
fn with_requests(outcomes: [O; 11]) -> Vec<(&'static str, Vec<ShipmentEvent>, O)> {
    let mut states = states();
    states.push(("label requested", h_requested()));
    states.push(("provider shipment recorded", h_provider_shipment()));
    states
        .into_iter()
        .zip(outcomes)
        .map(|((name, history), outcome)| (name, history, outcome))
        .collect()
}

#[test]
fn requesting_a_label_is_decided_in_every_state() {
    use ShipmentError as E;
    in_every_state(
        request(),
        with_requests([
            O::Refused(E::NotCreated),
            O::Emits(vec![requested()]),
            O::Refused(E::AlreadyLabelled),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::Cancelled),
            O::Nothing,
            O::Nothing,
        ]),
    );
}

#[test]
fn recording_the_providers_shipment_is_decided_in_every_state() {
    in_every_state(
        record_shipment("shp_1"),
        with_requests([
            O::Refused(ShipmentError::NotCreated),
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Refused(ShipmentError::Cancelled),
            O::Emits(vec![shipment_recorded("shp_1")]),
            O::Nothing,
        ]),
    );
}

#[test]
fn recording_a_purchased_label_is_decided_in_every_state() {
    use ShipmentError as E;
    in_every_state(
        record_purchase("9400100000000000000001"),
        with_requests([
            O::Refused(E::NotCreated),
            O::Emits(vec![purchased("9400100000000000000001")]),
            O::Emits(vec![purchased("9400100000000000000001")]),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::Cancelled),
            O::Emits(vec![purchased("9400100000000000000001")]),
            O::Emits(vec![purchased("9400100000000000000001")]),
        ]),
    );
}

#[test]
fn recording_a_label_failure_is_decided_in_every_state() {
    in_every_state(
        record_failure(),
        with_requests([
            O::Refused(ShipmentError::NotCreated),
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Refused(ShipmentError::Cancelled),
            O::Emits(vec![label_failed()]),
            O::Emits(vec![label_failed()]),
        ]),
    );
}

#[test]
fn a_label_by_hand_waits_for_a_pending_purchase() {
    given::<Shipment>(h_requested())
        .when(ShipmentCommand::RecordLabel {
            tracking_number: ext("TRK9"),
        })
        .then_error(ShipmentError::LabelPending);
}

#[test]
fn an_empty_parcel_is_refused() {
    let mut flat = parcel();
    flat.height_in = 0;
    given::<Shipment>(vec![created()])
        .when(ShipmentCommand::RequestLabel { parcel: Some(flat) })
        .then_error(ShipmentError::EmptyParcel);
}

#[test]
fn the_first_provider_shipment_recorded_is_the_one_bought() {
    let state = given::<Shipment>(h_provider_shipment())
        .when(record_shipment("shp_2"))
        .then_expect(vec![])
        .unwrap();
    let request = state.label_request.unwrap();
    assert_eq!(request.provider_shipment_id, Some(ext("shp_1")));
    assert_eq!(request.parcel, Some(parcel()));
}

#[test]
fn a_purchase_ends_the_request_and_keeps_what_was_bought() {
    let state = given::<Shipment>(h_provider_shipment())
        .when(record_purchase("9400100000000000000001"))
        .then_expect(vec![purchased("9400100000000000000001")])
        .unwrap();
    assert_eq!(state.status, ShipmentStatus::LabelCreated);
    assert_eq!(state.label_request, None);
    assert_eq!(state.purchased_label, Some(bought()));
    // The same label again (the provider's answer read twice) is nothing new.
    given::<Shipment>(
        [
            h_provider_shipment(),
            vec![purchased("9400100000000000000001")],
        ]
        .concat(),
    )
    .when(record_purchase("9400100000000000000001"))
    .then_expect(vec![])
    .unwrap();
}

#[test]
fn a_refusal_ends_the_request_so_it_can_be_asked_again() {
    let state = given::<Shipment>([h_requested(), vec![label_failed()]].concat())
        .when(request())
        .then_expect(vec![requested()])
        .unwrap();
    assert!(state.label_request.is_some());
}
