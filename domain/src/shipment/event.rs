//! What happened to a shipment. Each payload struct is the stored JSON of its event type.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{ShipmentLine, TrackingUpdate};
use crate::{Code, ExternalRef, NonEmptyText, OrderId, ShipmentId};

/// An event of the shipment stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShipmentEvent {
    /// The shipment exists.
    ShipmentCreated(ShipmentCreated),
    /// A label was printed.
    ShipmentLabelCreated(ShipmentLabelCreated),
    /// The parcel left.
    ShipmentDispatched(ShipmentDispatched),
    /// The carrier reported a tracking event.
    ShipmentTrackingUpdated(TrackingUpdate),
    /// The parcel is on the last mile.
    ShipmentOutForDelivery(ShipmentOutForDelivery),
    /// The parcel was delivered.
    ShipmentDelivered(ShipmentDelivered),
    /// A delivery attempt failed.
    ShipmentDeliveryFailed(ShipmentDeliveryFailed),
    /// The parcel came back.
    ShipmentReturned(ShipmentReturned),
    /// The shipment was cancelled before dispatch.
    ShipmentCancelled(ShipmentCancelled),
}

/// Payload of `ShipmentCreated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentCreated {
    /// The shipment.
    pub shipment_id: ShipmentId,
    /// Its order.
    pub order_id: OrderId,
    /// Its carrier.
    pub carrier: Code,
    /// What is in the parcel.
    pub lines: Vec<ShipmentLine>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Payload of `ShipmentLabelCreated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentLabelCreated {
    /// The carrier's tracking number.
    pub tracking_number: ExternalRef,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Payload of `ShipmentDispatched`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentDispatched {
    /// The order, for the process manager that tells it.
    pub order_id: OrderId,
    /// When (the carrier's time when a tracking update implied it).
    pub dispatched_at: DateTime<Utc>,
}

/// Payload of `ShipmentOutForDelivery`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentOutForDelivery {
    /// When, by the carrier's clock.
    pub at: DateTime<Utc>,
}

/// Payload of `ShipmentDelivered`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentDelivered {
    /// The order, for the process manager that tells it.
    pub order_id: OrderId,
    /// When.
    pub delivered_at: DateTime<Utc>,
}

/// Payload of `ShipmentDeliveryFailed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentDeliveryFailed {
    /// What went wrong.
    pub reason: NonEmptyText,
    /// When.
    pub failed_at: DateTime<Utc>,
}

/// Payload of `ShipmentReturned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentReturned {
    /// The order, for the process manager that tells it.
    pub order_id: OrderId,
    /// Why it came back.
    pub reason: NonEmptyText,
    /// When.
    pub returned_at: DateTime<Utc>,
}

/// Payload of `ShipmentCancelled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentCancelled {
    /// The order, for the process manager that releases its allocation.
    pub order_id: OrderId,
    /// Why.
    pub reason: NonEmptyText,
    /// When.
    pub cancelled_at: DateTime<Utc>,
}
