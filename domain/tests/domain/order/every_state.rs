//! Every order command decided in every state of `fixtures::states()`: the lifecycle commands
//! here, the payment and shipment reports in `every_state_payments` and `every_state_shipments`.
//! Each table has one outcome per state (its length is checked by the compiler), so a new state
//! in `states()` must be answered by every command.

use domain::order::{OrderCommand, OrderError};

use super::fixtures::*;
use crate::support::in_every_state;

#[test]
fn placing_is_decided_in_every_state() {
    in_every_state(
        OrderCommand::PlaceOrder(place()),
        table([
            O::Emits(vec![placed()]),
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
            O::Nothing,
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
fn cancelling_is_decided_in_every_state() {
    use OrderError as E;
    let cancelled_with = |refunds, voids, ships| O::Emits(vec![cancelled(refunds, voids, ships)]);
    in_every_state(
        cancel(),
        table([
            O::Refused(E::NotPlaced),
            cancelled_with(vec![], vec![], vec![]),
            cancelled_with(vec![], vec![p1()], vec![]),
            cancelled_with(vec![], vec![], vec![]),
            cancelled_with(vec![(p1(), 2_000)], vec![], vec![]),
            cancelled_with(vec![(p1(), 5_000)], vec![], vec![]),
            cancelled_with(vec![(p1(), 4_000)], vec![], vec![]),
            cancelled_with(vec![], vec![], vec![]),
            cancelled_with(vec![], vec![], vec![s1()]),
            cancelled_with(vec![], vec![], vec![]),
            O::Refused(E::CancelAfterDispatch),
            O::Refused(E::CancelAfterDispatch),
            O::Refused(E::CancelAfterDispatch),
            O::Refused(E::CancelAfterDispatch),
            O::Refused(E::CancelAfterDispatch),
            O::Refused(E::CancelAfterDispatch),
            O::Refused(E::AlreadyCancelled),
            O::Refused(E::AlreadyCancelled),
            O::Refused(E::Completed),
        ]),
    );
}

#[test]
fn completing_is_decided_in_every_state() {
    use OrderError as E;
    in_every_state(
        OrderCommand::CompleteOrder,
        table([
            O::Refused(E::NotPlaced),
            O::Refused(E::NotFullyPaid),
            O::Refused(E::NotFullyPaid),
            O::Refused(E::NotFullyPaid),
            O::Refused(E::NotFullyPaid),
            O::Refused(E::NotFullyDelivered),
            O::Refused(E::NotFullyDelivered),
            O::Refused(E::NotFullyPaid),
            O::Refused(E::NotFullyPaid),
            O::Refused(E::NotFullyPaid),
            O::Refused(E::NotFullyPaid),
            O::Refused(E::NotFullyPaid),
            O::Refused(E::NotFullyPaid),
            O::Refused(E::NotFullyPaid),
            O::Refused(E::NotFullyPaid),
            O::Emits(vec![completed()]),
            O::Refused(E::Cancelled),
            O::Refused(E::Cancelled),
            O::Nothing,
        ]),
    );
}
