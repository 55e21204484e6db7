//! What happened to a shipment. Each payload struct is the stored JSON of its event type.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Parcel, ShipmentLine, TrackingUpdate};
use crate::{Code, ExternalRef, Money, NonEmptyText, OrderId, ShipmentId};

/// An event of the shipment stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShipmentEvent {
    /// The shipment exists.
    ShipmentCreated(ShipmentCreated),
    /// A label was asked of the carrier integration.
    ShipmentLabelRequested(ShipmentLabelRequested),
    /// The provider made its shipment for the pending label request.
    ShipmentProviderShipmentRecorded(ShipmentProviderShipmentRecorded),
    /// The provider refused the pending label request.
    ShipmentLabelFailed(ShipmentLabelFailed),
    /// A label was printed (by hand) or bought.
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

/// Payload of `ShipmentLabelCreated` (v2: `purchase`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentLabelCreated {
    /// The carrier's tracking number.
    pub tracking_number: ExternalRef,
    /// What was bought, when the label was bought at the carrier integration (none: recorded
    /// by hand).
    #[serde(default)]
    pub purchase: Option<PurchasedLabel>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A label bought at the carrier integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchasedLabel {
    /// The integration (`easypost`).
    pub provider: Code,
    /// Its shipment id (`shp_…`).
    pub provider_shipment_id: ExternalRef,
    /// Where the label is printed from.
    pub label_url: NonEmptyText,
    /// The carrier, as the provider names it (`USPS`).
    pub carrier: NonEmptyText,
    /// The service (`Priority`).
    pub service: NonEmptyText,
    /// What it cost.
    pub cost: Money,
}

/// Payload of `ShipmentLabelRequested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentLabelRequested {
    /// The order, whose shipping address the label is for.
    pub order_id: OrderId,
    /// The parcel, when it is not the configured default.
    pub parcel: Option<Parcel>,
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// Payload of `ShipmentProviderShipmentRecorded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentProviderShipmentRecorded {
    /// The order.
    pub order_id: OrderId,
    /// The provider's shipment id (`shp_…`), whose label is bought next.
    pub provider_shipment_id: ExternalRef,
    /// When.
    pub recorded_at: DateTime<Utc>,
}

/// Payload of `ShipmentLabelFailed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentLabelFailed {
    /// The order.
    pub order_id: OrderId,
    /// The provider's code, or ours.
    pub code: Code,
    /// What it said.
    pub message: NonEmptyText,
    /// When.
    pub failed_at: DateTime<Utc>,
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
