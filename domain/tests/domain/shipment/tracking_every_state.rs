//! A tracking update's effect depends on the carrier status it reports: each carrier status
//! decided in every state of `fixtures::states()` (`Delivered` is in `every_state`), then a late
//! update. The update is the newest seen unless said otherwise.

use chrono::{DateTime, Utc};
use domain::shipment::{CarrierStatus, ShipmentError, ShipmentEvent};

use super::fixtures::*;
use crate::support::{in_every_state, minutes};

/// The recorded update alone, or followed by the status moves it causes.
fn recorded(status: CarrierStatus, at: DateTime<Utc>, moves: Vec<ShipmentEvent>) -> O {
    O::Emits([vec![tracked("ev_9", status, at)], moves].concat())
}

fn failed_by_carrier(at: DateTime<Utc>) -> ShipmentEvent {
    failed("carrier reported a failed delivery attempt", at)
}

fn returned_by_carrier(at: DateTime<Utc>) -> ShipmentEvent {
    returned("carrier returned it to sender", at)
}

/// A scan that only ever records (pre-transit, unknown): the same answer in every state.
fn only_recorded_in_every_state(status: CarrierStatus) {
    let at = minutes(30);
    in_every_state(
        track("ev_9", status, at),
        table([
            O::Refused(ShipmentError::NotCreated),
            recorded(status, at, vec![]),
            recorded(status, at, vec![]),
            recorded(status, at, vec![]),
            recorded(status, at, vec![]),
            recorded(status, at, vec![]),
            recorded(status, at, vec![]),
            recorded(status, at, vec![]),
            recorded(status, at, vec![]),
        ]),
    );
}

#[test]
fn a_pre_transit_scan_is_decided_in_every_state() {
    only_recorded_in_every_state(CarrierStatus::PreTransit);
}

#[test]
fn an_unknown_scan_is_decided_in_every_state() {
    only_recorded_in_every_state(CarrierStatus::Unknown);
}

#[test]
fn an_in_transit_scan_is_decided_in_every_state() {
    let (s, at) = (CarrierStatus::InTransit, minutes(30));
    in_every_state(
        track("ev_9", s, at),
        table([
            O::Refused(ShipmentError::NotCreated),
            recorded(s, at, vec![dispatched(at)]),
            recorded(s, at, vec![dispatched(at)]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
        ]),
    );
}

#[test]
fn an_out_for_delivery_scan_is_decided_in_every_state() {
    let (s, at) = (CarrierStatus::OutForDelivery, minutes(30));
    in_every_state(
        track("ev_9", s, at),
        table([
            O::Refused(ShipmentError::NotCreated),
            recorded(s, at, vec![dispatched(at), out_for_delivery(at)]),
            recorded(s, at, vec![dispatched(at), out_for_delivery(at)]),
            recorded(s, at, vec![out_for_delivery(at)]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![out_for_delivery(at)]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
        ]),
    );
}

#[test]
fn a_delivery_failed_scan_is_decided_in_every_state() {
    let (s, at) = (CarrierStatus::DeliveryFailed, minutes(30));
    in_every_state(
        track("ev_9", s, at),
        table([
            O::Refused(ShipmentError::NotCreated),
            recorded(s, at, vec![dispatched(at), failed_by_carrier(at)]),
            recorded(s, at, vec![dispatched(at), failed_by_carrier(at)]),
            recorded(s, at, vec![failed_by_carrier(at)]),
            recorded(s, at, vec![failed_by_carrier(at)]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
        ]),
    );
}

#[test]
fn a_returned_to_sender_scan_is_decided_in_every_state() {
    let (s, at) = (CarrierStatus::ReturnedToSender, minutes(30));
    in_every_state(
        track("ev_9", s, at),
        table([
            O::Refused(ShipmentError::NotCreated),
            recorded(s, at, vec![dispatched(at), returned_by_carrier(at)]),
            recorded(s, at, vec![dispatched(at), returned_by_carrier(at)]),
            recorded(s, at, vec![returned_by_carrier(at)]),
            recorded(s, at, vec![returned_by_carrier(at)]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![returned_by_carrier(at)]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
        ]),
    );
}

#[test]
fn a_late_delivered_scan_is_decided_in_every_state() {
    // Older than the out-for-delivery scan (minute 10) of the later states: recorded only there.
    let (s, at) = (CarrierStatus::Delivered, minutes(5));
    in_every_state(
        track("ev_9", s, at),
        table([
            O::Refused(ShipmentError::NotCreated),
            recorded(s, at, vec![dispatched(at), delivered(at)]),
            recorded(s, at, vec![dispatched(at), delivered(at)]),
            recorded(s, at, vec![delivered(at)]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
            recorded(s, at, vec![]),
        ]),
    );
}
