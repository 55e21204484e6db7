//! Rules that read two aggregates, decided by both in one append (ADR 0009). The order is the
//! consistency boundary: a shipment leaving (or reported delivered or returned) and a payment
//! being asked for are facts the order must accept in the same append, at its current version,
//! so that a concurrent cancel conflicts with them instead of both passing.

use crate::{
    attention::Attention,
    decider::Decider,
    order::{Order, OrderCommand},
    payment::{Payment, PaymentEvent},
    shipment::{Shipment, ShipmentEvent},
    OrderId,
};

/// An aggregate whose decisions its order decides too, in the same append.
pub trait BoundToOrder: Decider {
    /// For `events` just decided (and folded into `state`): the order, and the commands that
    /// record them there. `None` when they concern no order.
    fn order_commands(
        state: &Self::State,
        events: &[Self::Event],
    ) -> Option<(OrderId, Vec<OrderCommand>)>;
}

impl BoundToOrder for Order {
    fn order_commands(_: &Self::State, _: &[Self::Event]) -> Option<(OrderId, Vec<OrderCommand>)> {
        None
    }
}

impl BoundToOrder for Attention {
    fn order_commands(_: &Self::State, _: &[Self::Event]) -> Option<(OrderId, Vec<OrderCommand>)> {
        None
    }
}

/// A shipment that leaves, arrives or comes back: the order's allocation moves with it (and a
/// cancelled order refuses the first of these).
impl BoundToOrder for Shipment {
    fn order_commands(
        state: &Self::State,
        events: &[ShipmentEvent],
    ) -> Option<(OrderId, Vec<OrderCommand>)> {
        let shipment = state.as_ref()?;
        let shipment_id = shipment.shipment_id;
        let commands: Vec<OrderCommand> = events
            .iter()
            .filter_map(|event| match event {
                ShipmentEvent::ShipmentDispatched(_) => {
                    Some(OrderCommand::RecordShipmentDispatched { shipment_id })
                }
                ShipmentEvent::ShipmentDelivered(_) => {
                    Some(OrderCommand::RecordShipmentDelivered { shipment_id })
                }
                ShipmentEvent::ShipmentReturned(_) => {
                    Some(OrderCommand::RecordShipmentReturned { shipment_id })
                }
                _ => None,
            })
            .collect();
        (!commands.is_empty()).then_some((shipment.order_id, commands))
    }
}

/// A payment asked for: the order must exist, be open and be in the payment's currency, and
/// knows the payment from then on (so that its cancel voids it).
impl BoundToOrder for Payment {
    fn order_commands(
        state: &Self::State,
        events: &[PaymentEvent],
    ) -> Option<(OrderId, Vec<OrderCommand>)> {
        let payment = state.as_ref()?;
        let commands: Vec<OrderCommand> = events
            .iter()
            .filter_map(|event| match event {
                PaymentEvent::PaymentRequested(requested) => {
                    Some(OrderCommand::RecordPaymentRequested {
                        payment_id: payment.payment_id,
                        amount: requested.amount,
                    })
                }
                _ => None,
            })
            .collect();
        (!commands.is_empty()).then_some((payment.order_id, commands))
    }
}
