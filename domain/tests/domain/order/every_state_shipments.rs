//! The allocation and the shipment reports decided in every state of `fixtures::states()`.
//! Release, dispatch, delivery and return name shipment `s1`, which the fulfillment states know
//! (and the payment states do not); allocation names a new shipment `s2`, with extra rows for an
//! `s2` already allocated or released.

use domain::order::{OrderCommand, OrderError};

use super::fixtures::*;
use crate::support::in_every_state;

#[test]
fn allocating_is_decided_in_every_state() {
    use OrderError as E;
    let emits = || O::Emits(vec![allocated(s2(), vec![line("TEAPOT", 1)])]);
    let mut rows = table([
        O::Refused(E::NotPlaced),
        emits(),
        emits(),
        emits(),
        emits(),
        emits(),
        emits(),
        emits(),
        emits(),
        emits(),
        emits(),
        O::Refused(E::AllocationExceedsRemaining),
        emits(),
        O::Refused(E::AllocationExceedsRemaining),
        emits(),
        O::Refused(E::AllocationExceedsRemaining),
        O::Refused(E::Cancelled),
        O::Refused(E::Cancelled),
        O::Refused(E::Completed),
    ]);
    rows.push((
        "this shipment already allocated",
        vec![placed(), allocated(s2(), vec![line("TEAPOT", 1)])],
        O::Nothing,
    ));
    rows.push((
        "this shipment released",
        vec![
            placed(),
            allocated(s2(), vec![line("TEAPOT", 1)]),
            released(s2()),
        ],
        O::Refused(E::ShipmentReleased),
    ));
    in_every_state(allocate(s2(), vec![line("TEAPOT", 1)]), rows);
}

#[test]
fn releasing_an_allocation_is_decided_in_every_state() {
    use OrderError as E;
    in_every_state(
        OrderCommand::ReleaseAllocation { shipment_id: s1() },
        table([
            O::Refused(E::NotPlaced),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Emits(vec![released(s1())]),
            O::Nothing,
            O::Refused(E::ShipmentAlreadyDispatched),
            O::Refused(E::ShipmentAlreadyDispatched),
            O::Refused(E::ShipmentAlreadyDispatched),
            O::Refused(E::ShipmentAlreadyDispatched),
            O::Refused(E::ShipmentAlreadyDispatched),
            O::Refused(E::ShipmentAlreadyDispatched),
            O::Refused(E::UnknownShipment),
            O::Emits(vec![released(s1())]),
            O::Refused(E::ShipmentAlreadyDispatched),
        ]),
    );
}

#[test]
fn recording_a_dispatch_is_decided_in_every_state() {
    use OrderError as E;
    in_every_state(
        OrderCommand::RecordShipmentDispatched { shipment_id: s1() },
        table([
            O::Refused(E::NotPlaced),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Emits(vec![dispatched(s1())]),
            O::Refused(E::ShipmentReleased),
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Refused(E::UnknownShipment),
            O::Refused(E::DispatchAfterCancel),
            O::Nothing,
        ]),
    );
}

#[test]
fn recording_a_delivery_is_decided_in_every_state() {
    use OrderError as E;
    let emits = || O::Emits(vec![delivered(s1())]);
    in_every_state(
        OrderCommand::RecordShipmentDelivered { shipment_id: s1() },
        table([
            O::Refused(E::NotPlaced),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            emits(),
            O::Refused(E::ShipmentReleased),
            emits(),
            emits(),
            O::Nothing,
            O::Nothing,
            O::Refused(E::ShipmentReturned),
            O::Nothing,
            O::Refused(E::UnknownShipment),
            O::Refused(E::DispatchAfterCancel),
            O::Nothing,
        ]),
    );
}

#[test]
fn recording_a_return_is_decided_in_every_state() {
    use OrderError as E;
    let emits = || O::Emits(vec![returned(s1())]);
    in_every_state(
        OrderCommand::RecordShipmentReturned { shipment_id: s1() },
        table([
            O::Refused(E::NotPlaced),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            O::Refused(E::UnknownShipment),
            emits(),
            O::Refused(E::ShipmentReleased),
            emits(),
            emits(),
            emits(),
            emits(),
            O::Nothing,
            emits(),
            O::Refused(E::UnknownShipment),
            O::Refused(E::DispatchAfterCancel),
            emits(),
        ]),
    );
}
