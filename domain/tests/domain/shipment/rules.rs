//! The shipment rules, each as its own named test.

use domain::shipment::{CarrierStatus, Shipment, ShipmentCommand, ShipmentError, ShipmentStatus};

use crate::support::{code, given, minutes, order_id, shipment_id, text};

use super::fixtures::*;

// ---- the rules, by name -------------------------------------------------------------------------

#[test]
fn a_late_tracking_update_does_not_move_the_status_back() {
    let history = [
        h_in_transit(),
        vec![
            tracked("ev_3", CarrierStatus::Delivered, minutes(30)),
            delivered(minutes(30)),
        ],
    ]
    .concat();
    let state = given::<Shipment>(history)
        .when(track("ev_2", CarrierStatus::OutForDelivery, minutes(20)))
        .then_expect(vec![tracked(
            "ev_2",
            CarrierStatus::OutForDelivery,
            minutes(20),
        )])
        .unwrap();
    assert_eq!(state.status, ShipmentStatus::Delivered);
    assert_eq!(state.latest_tracking_at, Some(minutes(30)));
    assert_eq!(state.tracking.len(), 2);

    // Before a final status too: an older in-transit scan leaves "out for delivery" alone.
    let state = given::<Shipment>(h_out_for_delivery())
        .when(track("ev_0", CarrierStatus::InTransit, minutes(5)))
        .then_expect(vec![tracked("ev_0", CarrierStatus::InTransit, minutes(5))])
        .unwrap();
    assert_eq!(state.status, ShipmentStatus::OutForDelivery);
}

#[test]
fn a_newer_in_transit_scan_does_not_undo_out_for_delivery() {
    given::<Shipment>(h_out_for_delivery())
        .when(track("ev_2", CarrierStatus::InTransit, minutes(15)))
        .then_expect(vec![tracked("ev_2", CarrierStatus::InTransit, minutes(15))]);
}

#[test]
fn the_same_carrier_event_twice_is_recorded_once() {
    given::<Shipment>(h_out_for_delivery())
        .when(track("ev_1", CarrierStatus::OutForDelivery, minutes(10)))
        .then_nothing();
}

#[test]
fn a_carrier_scan_before_the_dispatch_implies_it() {
    let state = given::<Shipment>(h_label())
        .when(track("ev_1", CarrierStatus::InTransit, minutes(3)))
        .then_expect(vec![
            tracked("ev_1", CarrierStatus::InTransit, minutes(3)),
            dispatched(minutes(3)),
        ])
        .unwrap();
    assert_eq!(state.status, ShipmentStatus::InTransit);
    assert_eq!(state.dispatched_at, Some(minutes(3)));
}

#[test]
fn pre_transit_and_unknown_scans_are_only_recorded() {
    given::<Shipment>(h_label())
        .when(track("ev_1", CarrierStatus::PreTransit, minutes(1)))
        .then_expect(vec![tracked("ev_1", CarrierStatus::PreTransit, minutes(1))]);
    given::<Shipment>(h_in_transit())
        .when(track("ev_1", CarrierStatus::Unknown, minutes(1)))
        .then_expect(vec![tracked("ev_1", CarrierStatus::Unknown, minutes(1))]);
}

#[test]
fn a_failed_delivery_can_be_followed_by_a_new_attempt() {
    let at = minutes(40);
    let history = [h_delivery_failed(), vec![]].concat();
    let state = given::<Shipment>(history.clone())
        .when(track("ev_4", CarrierStatus::OutForDelivery, at))
        .then_expect(vec![
            tracked("ev_4", CarrierStatus::OutForDelivery, at),
            out_for_delivery(at),
        ])
        .unwrap();
    assert_eq!(state.status, ShipmentStatus::OutForDelivery);
    assert_eq!(state.failed_attempts, 1);
}

#[test]
fn a_carrier_failure_and_return_carry_a_reason() {
    given::<Shipment>(h_out_for_delivery())
        .when(track("ev_2", CarrierStatus::DeliveryFailed, minutes(20)))
        .then_expect(vec![
            tracked("ev_2", CarrierStatus::DeliveryFailed, minutes(20)),
            failed("carrier reported a failed delivery attempt", minutes(20)),
        ]);
    given::<Shipment>(h_delivery_failed())
        .when(track("ev_3", CarrierStatus::ReturnedToSender, minutes(50)))
        .then_expect(vec![
            tracked("ev_3", CarrierStatus::ReturnedToSender, minutes(50)),
            returned("carrier returned it to sender", minutes(50)),
        ]);
}

#[test]
fn cancel_after_dispatch_is_refused() {
    given::<Shipment>(h_in_transit())
        .when(ShipmentCommand::CancelShipment {
            reason: text("order cancelled"),
        })
        .then_error(ShipmentError::CancelAfterDispatch);
}

#[test]
fn a_shipment_needs_lines_with_unique_skus() {
    let with_lines = |lines| ShipmentCommand::CreateShipment {
        shipment_id: shipment_id(1),
        order_id: order_id(),
        carrier: code("dhl"),
        lines,
    };
    given::<Shipment>(vec![])
        .when(with_lines(vec![]))
        .then_error(ShipmentError::NoLines);
    given::<Shipment>(vec![])
        .when(with_lines([lines(), lines()].concat()))
        .then_error(ShipmentError::DuplicateSku);
}

#[test]
fn creating_another_shipment_under_the_same_id_is_refused() {
    given::<Shipment>(vec![created()])
        .when(ShipmentCommand::CreateShipment {
            shipment_id: shipment_id(1),
            order_id: order_id(),
            carrier: code("ups"),
            lines: lines(),
        })
        .then_error(ShipmentError::AlreadyCreated);
}
