//! Every shipment command decided in every state it can meet.

use domain::shipment::{CarrierStatus, Shipment, ShipmentCommand, ShipmentError};

use crate::support::{ext, in_every_state, minutes, now, text, Outcome};

type O = Outcome<Shipment>;

use super::fixtures::*;

// ---- every command in every state -------------------------------------------------------------

#[test]
fn creating_is_decided_in_every_state() {
    in_every_state(
        create(),
        table([
            O::Emits(vec![created()]),
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
        ]),
    );
}

#[test]
fn recording_a_label_is_decided_in_every_state() {
    use ShipmentError as E;
    in_every_state(
        ShipmentCommand::RecordLabel {
            tracking_number: ext("TRK2"),
        },
        table([
            O::Refused(E::NotCreated),
            O::Emits(vec![label("TRK2")]),
            O::Emits(vec![label("TRK2")]),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::LabelAfterDispatch),
            O::Refused(E::Cancelled),
        ]),
    );
}

#[test]
fn dispatching_is_decided_in_every_state() {
    in_every_state(
        ShipmentCommand::DispatchShipment,
        table([
            O::Refused(ShipmentError::NotCreated),
            O::Emits(vec![dispatched(now())]),
            O::Emits(vec![dispatched(now())]),
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Refused(ShipmentError::Cancelled),
        ]),
    );
}

#[test]
fn a_tracking_update_is_decided_in_every_state() {
    let at = minutes(30);
    let record = || tracked("ev_9", CarrierStatus::Delivered, at);
    in_every_state(
        track("ev_9", CarrierStatus::Delivered, at),
        table([
            O::Refused(ShipmentError::NotCreated),
            O::Emits(vec![record(), dispatched(at), delivered(at)]),
            O::Emits(vec![record(), dispatched(at), delivered(at)]),
            O::Emits(vec![record(), delivered(at)]),
            O::Emits(vec![record(), delivered(at)]),
            O::Emits(vec![record()]),
            O::Emits(vec![record(), delivered(at)]),
            O::Emits(vec![record()]),
            O::Emits(vec![record()]),
        ]),
    );
}

#[test]
fn delivering_is_decided_in_every_state() {
    in_every_state(
        ShipmentCommand::DeliverShipment,
        table([
            O::Refused(ShipmentError::NotCreated),
            O::Emits(vec![dispatched(now()), delivered(now())]),
            O::Emits(vec![dispatched(now()), delivered(now())]),
            O::Emits(vec![delivered(now())]),
            O::Emits(vec![delivered(now())]),
            O::Nothing,
            O::Emits(vec![delivered(now())]),
            O::Refused(ShipmentError::AlreadyReturned),
            O::Refused(ShipmentError::Cancelled),
        ]),
    );
}

#[test]
fn recording_a_delivery_failure_is_decided_in_every_state() {
    use ShipmentError as E;
    in_every_state(
        ShipmentCommand::RecordDeliveryFailure {
            reason: text("nobody home"),
        },
        table([
            O::Refused(E::NotCreated),
            O::Refused(E::NotDispatched),
            O::Refused(E::NotDispatched),
            O::Emits(vec![failed("nobody home", now())]),
            O::Emits(vec![failed("nobody home", now())]),
            O::Refused(E::AlreadyDelivered),
            O::Nothing,
            O::Refused(E::AlreadyReturned),
            O::Refused(E::Cancelled),
        ]),
    );
}

#[test]
fn returning_is_decided_in_every_state() {
    use ShipmentError as E;
    let emits = || O::Emits(vec![returned("refused", now())]);
    in_every_state(
        ShipmentCommand::ReturnShipment {
            reason: text("refused"),
        },
        table([
            O::Refused(E::NotCreated),
            O::Refused(E::NotDispatched),
            O::Refused(E::NotDispatched),
            emits(),
            emits(),
            emits(),
            emits(),
            O::Nothing,
            O::Refused(E::Cancelled),
        ]),
    );
}

#[test]
fn cancelling_is_decided_in_every_state() {
    use ShipmentError as E;
    in_every_state(
        ShipmentCommand::CancelShipment {
            reason: text("order cancelled"),
        },
        table([
            O::Refused(E::NotCreated),
            O::Emits(vec![cancelled()]),
            O::Emits(vec![cancelled()]),
            O::Refused(E::CancelAfterDispatch),
            O::Refused(E::CancelAfterDispatch),
            O::Refused(E::CancelAfterDispatch),
            O::Refused(E::CancelAfterDispatch),
            O::Refused(E::CancelAfterDispatch),
            O::Nothing,
        ]),
    );
}
