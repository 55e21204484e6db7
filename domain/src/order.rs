//! The Order aggregate: the consistency boundary for quantities, and the place where payments
//! and shipments reported by their own aggregates add up to "paid" and "delivered".
//!
//! Payment facts arrive as running totals per payment (captured so far, refunded so far), so a
//! repeated or stale report changes nothing.

mod codec;
mod command;
mod decide;
mod event;
mod state;

pub use codec::{decode, encode, EVENT_TYPES};
pub use command::{OrderCommand, PlaceOrder};
pub use event::*;
pub use state::{
    Allocation, AllocationStatus, FulfillmentStatus, OrderLine, OrderPayment, OrderPaymentStatus,
    OrderState, OrderStatus,
};

use crate::{decider::Decider, Context};

/// The stream type of orders in the log.
pub const AGGREGATE_TYPE: &str = "order";

/// Why an order command is refused.
#[derive(
    Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr, strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum OrderError {
    /// Any command but place on an order that does not exist.
    #[error("order not placed")]
    NotPlaced,
    /// Place with other details for an existing order id.
    #[error("order already placed with other details")]
    AlreadyPlaced,
    /// An order without lines.
    #[error("an order needs at least one line")]
    NoLines,
    /// A sku listed twice in one order or allocation.
    #[error("sku appears twice")]
    DuplicateSku,
    /// A unit price below zero.
    #[error("unit price must not be negative")]
    NegativePrice,
    /// An amount in another currency than the order's.
    #[error("amount is not in the order currency")]
    CurrencyMismatch,
    /// A zero or negative amount where money must move.
    #[error("amount must be positive")]
    NonPositiveAmount,
    /// A total that does not fit in minor units.
    #[error("amount overflow")]
    AmountOverflow,
    /// An order whose total is above `Money::MAX_AMOUNT_MINOR`.
    #[error("an order's total is at most 10^15 minor units")]
    TotalTooLarge,
    /// Cancel of an order already cancelled.
    #[error("order is already cancelled")]
    AlreadyCancelled,
    /// Allocation, completion or a new payment of a cancelled order.
    #[error("order is cancelled")]
    Cancelled,
    /// Cancel, allocation or a new payment of a completed order.
    #[error("order is completed")]
    Completed,
    /// Cancel once any shipment has left.
    #[error("cannot cancel after dispatch")]
    CancelAfterDispatch,
    /// A shipment of a cancelled order leaving (or reported delivered or returned without having
    /// left): the cancel came first.
    #[error("cannot dispatch the goods of a cancelled order")]
    DispatchAfterCancel,
    /// Refunds of a payment above what it captured.
    #[error("refund exceeds recorded payment")]
    RefundExceedsPayment,
    /// An allocation of a sku the order does not have.
    #[error("sku not in order")]
    UnknownSku,
    /// An allocation above ordered minus already allocated.
    #[error("allocation exceeds remaining quantity")]
    AllocationExceedsRemaining,
    /// An allocation without lines.
    #[error("an allocation needs at least one line")]
    EmptyAllocation,
    /// A second, different allocation under one shipment id.
    #[error("shipment already allocated with other lines")]
    ShipmentAlreadyAllocated,
    /// A shipment id the order never allocated.
    #[error("unknown shipment")]
    UnknownShipment,
    /// A shipment whose allocation was released.
    #[error("shipment allocation was released")]
    ShipmentReleased,
    /// Release of a shipment that has left.
    #[error("shipment already dispatched")]
    ShipmentAlreadyDispatched,
    /// Delivery of a shipment already returned.
    #[error("shipment already returned")]
    ShipmentReturned,
    /// Complete before the order is fully paid.
    #[error("order is not fully paid")]
    NotFullyPaid,
    /// Complete before every line is delivered.
    #[error("order is not fully delivered")]
    NotFullyDelivered,
    /// A sales-order number other than the one the ERP already gave the order.
    #[error("the ERP already gave this order another sales-order number")]
    SalesOrderConflict,
}

/// The Order decider. Its state is `None` until `PlaceOrder`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Order;

impl Decider for Order {
    type State = Option<OrderState>;
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;

    fn decide(
        state: &Self::State,
        command: OrderCommand,
        ctx: &Context,
    ) -> Result<Vec<OrderEvent>, OrderError> {
        decide::decide(state.as_ref(), command, ctx)
    }

    fn evolve(state: &mut Self::State, event: &OrderEvent) {
        state::evolve(state, event);
    }
}

impl crate::Rule for OrderError {
    fn rule(&self) -> &'static str {
        self.into()
    }

    fn is_missing(&self) -> bool {
        matches!(self, Self::NotPlaced)
    }
}
