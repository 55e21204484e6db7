//! The Shipment aggregate: one parcel of an order's allocation, from label to delivery or return.
//!
//! The carrier is the source of truth for tracking: the latest carrier time wins and a late
//! update is recorded without moving the status backwards.

mod codec;
mod command;
mod decide;
mod event;
mod state;

pub use codec::{decode, encode, EVENT_TYPES};
pub use command::{CarrierStatus, Parcel, ShipmentCommand, TrackingUpdate};
pub use event::*;
pub use state::{LabelRequest, ShipmentLine, ShipmentState, ShipmentStatus};

use crate::{decider::Decider, Context};

/// The stream type of shipments in the log.
pub const AGGREGATE_TYPE: &str = "shipment";

/// Why a shipment command is refused.
#[derive(
    Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr, strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum ShipmentError {
    /// Any command but create on a shipment that does not exist.
    #[error("shipment does not exist")]
    NotCreated,
    /// Create with other details for an existing shipment id.
    #[error("shipment already created with other details")]
    AlreadyCreated,
    /// A shipment without lines.
    #[error("a shipment needs at least one line")]
    NoLines,
    /// A sku listed twice in one shipment.
    #[error("sku appears twice in the shipment")]
    DuplicateSku,
    /// Any change to a cancelled shipment.
    #[error("shipment is cancelled")]
    Cancelled,
    /// Cancel once the parcel has left.
    #[error("cannot cancel after dispatch")]
    CancelAfterDispatch,
    /// A different tracking number once the parcel has left.
    #[error("label cannot change after dispatch")]
    LabelAfterDispatch,
    /// Delivery failure or return before the parcel has left.
    #[error("shipment not dispatched")]
    NotDispatched,
    /// A delivery failure for a delivered parcel.
    #[error("shipment already delivered")]
    AlreadyDelivered,
    /// Delivery or failure for a returned parcel.
    #[error("shipment already returned")]
    AlreadyReturned,
    /// A label bought for a shipment that has one.
    #[error("shipment already has a label")]
    AlreadyLabelled,
    /// A label recorded by hand while one is being bought.
    #[error("a label is being bought for this shipment")]
    LabelPending,
    /// A parcel with a zero size or weight.
    #[error("a parcel needs a length, width, height and weight of at least 1")]
    EmptyParcel,
}

/// The Shipment decider. Its state is `None` until `CreateShipment`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Shipment;

impl Decider for Shipment {
    type State = Option<ShipmentState>;
    type Command = ShipmentCommand;
    type Event = ShipmentEvent;
    type Error = ShipmentError;

    fn decide(
        state: &Self::State,
        command: ShipmentCommand,
        ctx: &Context,
    ) -> Result<Vec<ShipmentEvent>, ShipmentError> {
        decide::decide(state.as_ref(), command, ctx)
    }

    fn evolve(state: &mut Self::State, event: &ShipmentEvent) {
        state::evolve(state, event);
    }
}

impl crate::Rule for ShipmentError {
    fn rule(&self) -> &'static str {
        self.into()
    }

    fn is_missing(&self) -> bool {
        matches!(self, Self::NotCreated)
    }
}
