//! Every order command decided in every state it can meet.

use domain::order::{Order, OrderCommand, OrderError};

use crate::support::{eur, in_every_state, Outcome};

type O = Outcome<Order>;

use super::fixtures::*;

// ---- every command in every state -------------------------------------------------------------

#[test]
fn placing_is_decided_in_every_state() {
    in_every_state(
        OrderCommand::PlaceOrder(place()),
        vec![
            ("not placed", vec![], O::Emits(vec![placed()])),
            ("placed", h_placed(), O::Nothing),
            ("paid", h_paid(), O::Nothing),
            ("dispatched", h_dispatched(), O::Nothing),
            ("cancelled", h_cancelled(), O::Nothing),
            ("completed", h_completed(), O::Nothing),
        ],
    );
}

#[test]
fn cancelling_is_decided_in_every_state() {
    in_every_state(
        cancel(),
        vec![
            ("not placed", vec![], O::Refused(OrderError::NotPlaced)),
            (
                "placed",
                h_placed(),
                O::Emits(vec![cancelled(vec![], vec![], vec![])]),
            ),
            (
                "paid",
                h_paid(),
                O::Emits(vec![cancelled(vec![(p1(), 5_000)], vec![], vec![])]),
            ),
            (
                "allocated",
                h_allocated(),
                O::Emits(vec![cancelled(vec![], vec![], vec![s1()])]),
            ),
            (
                "released",
                h_released(),
                O::Emits(vec![cancelled(vec![], vec![], vec![])]),
            ),
            (
                "dispatched",
                h_dispatched(),
                O::Refused(OrderError::CancelAfterDispatch),
            ),
            (
                "delivered",
                h_delivered(),
                O::Refused(OrderError::CancelAfterDispatch),
            ),
            (
                "returned",
                h_returned(),
                O::Refused(OrderError::CancelAfterDispatch),
            ),
            (
                "cancelled",
                h_cancelled(),
                O::Refused(OrderError::AlreadyCancelled),
            ),
            (
                "completed",
                h_completed(),
                O::Refused(OrderError::Completed),
            ),
        ],
    );
}

#[test]
fn recording_a_payment_request_is_decided_in_every_state() {
    let command = OrderCommand::RecordPaymentRequested {
        payment_id: p2(),
        amount: eur(5_000),
    };
    let emits = || O::Emits(vec![requested(p2(), 5_000)]);
    in_every_state(
        command,
        vec![
            ("not placed", vec![], O::Refused(OrderError::NotPlaced)),
            ("placed", h_placed(), emits()),
            (
                "already requested",
                vec![placed(), requested(p2(), 5_000)],
                O::Nothing,
            ),
            ("paid", h_paid(), emits()),
            ("dispatched", h_dispatched(), emits()),
            ("cancelled", h_cancelled(), emits()),
            ("completed", h_completed(), emits()),
        ],
    );
}

#[test]
fn recording_a_payment_is_decided_in_every_state() {
    in_every_state(
        record_payment(p1(), eur(2_000)),
        vec![
            ("not placed", vec![], O::Refused(OrderError::NotPlaced)),
            (
                "placed",
                h_placed(),
                O::Emits(vec![paid(p1(), 2_000, 2_000)]),
            ),
            ("paid in full", h_paid(), O::Nothing),
            (
                "allocated",
                h_allocated(),
                O::Emits(vec![paid(p1(), 2_000, 2_000)]),
            ),
            (
                "dispatched",
                h_dispatched(),
                O::Emits(vec![paid(p1(), 2_000, 2_000)]),
            ),
            (
                "cancelled",
                h_cancelled(),
                O::Emits(vec![paid(p1(), 2_000, 2_000), overpaid(2_000, 0)]),
            ),
            ("completed", h_completed(), O::Nothing),
        ],
    );
}

#[test]
fn recording_a_refund_is_decided_in_every_state() {
    in_every_state(
        record_refund(p1(), eur(1_000)),
        vec![
            ("not placed", vec![], O::Refused(OrderError::NotPlaced)),
            (
                "placed",
                h_placed(),
                O::Refused(OrderError::RefundExceedsPayment),
            ),
            (
                "paid",
                h_paid(),
                O::Emits(vec![refunded(p1(), 1_000, 1_000)]),
            ),
            (
                "already refunded",
                [h_paid(), vec![refunded(p1(), 1_000, 1_000)]].concat(),
                O::Nothing,
            ),
            (
                "dispatched",
                h_dispatched(),
                O::Refused(OrderError::RefundExceedsPayment),
            ),
            (
                "cancelled and paid",
                [
                    h_paid(),
                    vec![cancelled(vec![(p1(), 5_000)], vec![], vec![])],
                ]
                .concat(),
                O::Emits(vec![refunded(p1(), 1_000, 1_000)]),
            ),
            (
                "completed",
                h_completed(),
                O::Emits(vec![refunded(p1(), 1_000, 1_000)]),
            ),
        ],
    );
}

#[test]
fn recording_a_closed_payment_is_decided_in_every_state() {
    let emits = || O::Emits(vec![closed(p2())]);
    in_every_state(
        OrderCommand::RecordPaymentClosed { payment_id: p2() },
        vec![
            ("not placed", vec![], O::Refused(OrderError::NotPlaced)),
            ("placed", vec![placed(), requested(p2(), 5_000)], emits()),
            (
                "already closed",
                vec![placed(), requested(p2(), 5_000), closed(p2())],
                O::Nothing,
            ),
            ("paid", h_paid(), emits()),
            ("cancelled", h_cancelled(), emits()),
            ("completed", h_completed(), emits()),
        ],
    );
}

#[test]
fn allocating_is_decided_in_every_state() {
    let emits = || O::Emits(vec![allocated(s2(), vec![line("TEAPOT", 1)])]);
    in_every_state(
        allocate(s2(), vec![line("TEAPOT", 1)]),
        vec![
            ("not placed", vec![], O::Refused(OrderError::NotPlaced)),
            ("placed", h_placed(), emits()),
            ("paid", h_paid(), emits()),
            ("another shipment allocated", h_allocated(), emits()),
            ("another shipment dispatched", h_dispatched(), emits()),
            (
                "already allocated",
                vec![placed(), allocated(s2(), vec![line("TEAPOT", 1)])],
                O::Nothing,
            ),
            (
                "released",
                vec![
                    placed(),
                    allocated(s2(), vec![line("TEAPOT", 1)]),
                    released(s2()),
                ],
                O::Refused(OrderError::ShipmentReleased),
            ),
            (
                "cancelled",
                h_cancelled(),
                O::Refused(OrderError::Cancelled),
            ),
            (
                "completed",
                h_completed(),
                O::Refused(OrderError::Completed),
            ),
        ],
    );
}

#[test]
fn releasing_an_allocation_is_decided_in_every_state() {
    in_every_state(
        OrderCommand::ReleaseAllocation { shipment_id: s1() },
        vec![
            ("not placed", vec![], O::Refused(OrderError::NotPlaced)),
            (
                "unknown shipment",
                h_placed(),
                O::Refused(OrderError::UnknownShipment),
            ),
            ("allocated", h_allocated(), O::Emits(vec![released(s1())])),
            ("released", h_released(), O::Nothing),
            (
                "dispatched",
                h_dispatched(),
                O::Refused(OrderError::ShipmentAlreadyDispatched),
            ),
            (
                "delivered",
                h_delivered(),
                O::Refused(OrderError::ShipmentAlreadyDispatched),
            ),
            (
                "returned",
                h_returned(),
                O::Refused(OrderError::ShipmentAlreadyDispatched),
            ),
            (
                "cancelled",
                h_cancelled_allocated(),
                O::Emits(vec![released(s1())]),
            ),
        ],
    );
}

#[test]
fn recording_a_dispatch_is_decided_in_every_state() {
    in_every_state(
        OrderCommand::RecordShipmentDispatched { shipment_id: s1() },
        vec![
            ("not placed", vec![], O::Refused(OrderError::NotPlaced)),
            (
                "unknown shipment",
                h_placed(),
                O::Refused(OrderError::UnknownShipment),
            ),
            ("allocated", h_allocated(), O::Emits(vec![dispatched(s1())])),
            (
                "released",
                h_released(),
                O::Refused(OrderError::ShipmentReleased),
            ),
            ("dispatched", h_dispatched(), O::Nothing),
            ("delivered", h_delivered(), O::Nothing),
            ("returned", h_returned(), O::Nothing),
            (
                "cancelled",
                h_cancelled_allocated(),
                O::Emits(vec![dispatched(s1())]),
            ),
        ],
    );
}

#[test]
fn recording_a_delivery_is_decided_in_every_state() {
    in_every_state(
        OrderCommand::RecordShipmentDelivered { shipment_id: s1() },
        vec![
            ("not placed", vec![], O::Refused(OrderError::NotPlaced)),
            (
                "unknown shipment",
                h_placed(),
                O::Refused(OrderError::UnknownShipment),
            ),
            ("allocated", h_allocated(), O::Emits(vec![delivered(s1())])),
            (
                "released",
                h_released(),
                O::Refused(OrderError::ShipmentReleased),
            ),
            (
                "dispatched",
                h_dispatched(),
                O::Emits(vec![delivered(s1())]),
            ),
            ("delivered", h_delivered(), O::Nothing),
            (
                "returned",
                h_returned(),
                O::Refused(OrderError::ShipmentReturned),
            ),
            (
                "cancelled",
                h_cancelled_allocated(),
                O::Emits(vec![delivered(s1())]),
            ),
        ],
    );
}

#[test]
fn recording_a_return_is_decided_in_every_state() {
    in_every_state(
        OrderCommand::RecordShipmentReturned { shipment_id: s1() },
        vec![
            ("not placed", vec![], O::Refused(OrderError::NotPlaced)),
            (
                "unknown shipment",
                h_placed(),
                O::Refused(OrderError::UnknownShipment),
            ),
            ("allocated", h_allocated(), O::Emits(vec![returned(s1())])),
            (
                "released",
                h_released(),
                O::Refused(OrderError::ShipmentReleased),
            ),
            ("dispatched", h_dispatched(), O::Emits(vec![returned(s1())])),
            ("delivered", h_delivered(), O::Emits(vec![returned(s1())])),
            ("returned", h_returned(), O::Nothing),
            ("completed", h_completed(), O::Emits(vec![returned(s1())])),
        ],
    );
}

#[test]
fn completing_is_decided_in_every_state() {
    in_every_state(
        OrderCommand::CompleteOrder,
        vec![
            ("not placed", vec![], O::Refused(OrderError::NotPlaced)),
            ("placed", h_placed(), O::Refused(OrderError::NotFullyPaid)),
            (
                "paid, nothing delivered",
                h_paid(),
                O::Refused(OrderError::NotFullyDelivered),
            ),
            (
                "delivered in part, unpaid",
                h_delivered(),
                O::Refused(OrderError::NotFullyPaid),
            ),
            ("paid and delivered", h_ready(), O::Emits(vec![completed()])),
            (
                "cancelled",
                h_cancelled(),
                O::Refused(OrderError::Cancelled),
            ),
            ("completed", h_completed(), O::Nothing),
        ],
    );
}
