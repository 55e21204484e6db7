//! A shipment's state as folded from its events, and the fold itself.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Parcel, PurchasedLabel, ShipmentEvent, TrackingUpdate};
use crate::{Code, ExternalRef, OrderId, Quantity, ShipmentId, Sku};

/// A quantity of one sku in a parcel (or in an order's allocation of it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ShipmentLine {
    /// The product.
    pub sku: Sku,
    /// How many.
    pub quantity: Quantity,
}

/// Where a shipment stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ShipmentStatus {
    /// Created, no label yet.
    Pending,
    /// Label printed, not yet picked up.
    LabelCreated,
    /// Picked up and moving.
    InTransit,
    /// On the last mile.
    OutForDelivery,
    /// Handed over (final unless returned).
    Delivered,
    /// A delivery attempt failed; another may follow.
    DeliveryFailed,
    /// Came back (final).
    Returned,
    /// Cancelled before dispatch (final).
    Cancelled,
}

impl ShipmentStatus {
    /// The status as stored and shown (`label_created`).
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::LabelCreated => "label_created",
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::Delivered => "delivered",
            Self::DeliveryFailed => "delivery_failed",
            Self::Returned => "returned",
            Self::Cancelled => "cancelled",
        }
    }

    /// True before the parcel has left (cancel and relabel are still possible).
    pub const fn is_before_dispatch(&self) -> bool {
        matches!(self, Self::Pending | Self::LabelCreated)
    }

    /// True when no tracking update may move the status any more.
    pub const fn is_final(&self) -> bool {
        matches!(self, Self::Delivered | Self::Returned | Self::Cancelled)
    }
}

/// The state of an existing shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShipmentState {
    /// The shipment.
    pub shipment_id: ShipmentId,
    /// Its order.
    pub order_id: OrderId,
    /// Its carrier.
    pub carrier: Code,
    /// What is in the parcel.
    pub lines: Vec<ShipmentLine>,
    /// Where it stands.
    pub status: ShipmentStatus,
    /// The latest label's tracking number.
    pub tracking_number: Option<ExternalRef>,
    /// The label bought at the carrier integration, if it was bought there.
    pub purchased_label: Option<PurchasedLabel>,
    /// A label asked of the carrier integration and not answered yet.
    pub label_request: Option<LabelRequest>,
    /// Every tracking update recorded, in the order it arrived.
    pub tracking: Vec<TrackingUpdate>,
    /// The latest carrier time seen in a tracking update.
    pub latest_tracking_at: Option<DateTime<Utc>>,
    /// When it left.
    pub dispatched_at: Option<DateTime<Utc>>,
    /// When it was delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// How many delivery attempts failed.
    pub failed_attempts: u32,
}

/// A label asked of the carrier integration, not answered yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelRequest {
    /// The parcel asked for (none: the configured default).
    pub parcel: Option<Parcel>,
    /// The provider's shipment made for it, once recorded: the one whose label is bought.
    pub provider_shipment_id: Option<ExternalRef>,
}

impl ShipmentState {
    /// True when the carrier event id was already recorded.
    pub fn has_seen(&self, carrier_event_id: &ExternalRef) -> bool {
        self.tracking
            .iter()
            .any(|update| &update.carrier_event_id == carrier_event_id)
    }
}

/// Applies one event to the state.
pub(super) fn evolve(state: &mut Option<ShipmentState>, event: &ShipmentEvent) {
    if let ShipmentEvent::ShipmentCreated(created) = event {
        *state = Some(ShipmentState {
            shipment_id: created.shipment_id,
            order_id: created.order_id,
            carrier: created.carrier.clone(),
            lines: created.lines.clone(),
            status: ShipmentStatus::Pending,
            tracking_number: None,
            purchased_label: None,
            label_request: None,
            tracking: Vec::new(),
            latest_tracking_at: None,
            dispatched_at: None,
            delivered_at: None,
            failed_attempts: 0,
        });
        return;
    }
    // Events are only ever decided against an existing shipment.
    let Some(shipment) = state else { return };
    match event {
        ShipmentEvent::ShipmentCreated(_) => {}
        ShipmentEvent::ShipmentLabelRequested(requested) => {
            shipment.label_request = Some(LabelRequest {
                parcel: requested.parcel,
                provider_shipment_id: None,
            });
        }
        ShipmentEvent::ShipmentProviderShipmentRecorded(recorded) => {
            if let Some(request) = &mut shipment.label_request {
                request.provider_shipment_id = Some(recorded.provider_shipment_id.clone());
            }
        }
        ShipmentEvent::ShipmentLabelFailed(_) => shipment.label_request = None,
        ShipmentEvent::ShipmentLabelCreated(label) => {
            shipment.tracking_number = Some(label.tracking_number.clone());
            shipment.purchased_label.clone_from(&label.purchase);
            shipment.label_request = None;
            shipment.status = ShipmentStatus::LabelCreated;
        }
        ShipmentEvent::ShipmentDispatched(dispatched) => {
            shipment.status = ShipmentStatus::InTransit;
            shipment.dispatched_at = Some(dispatched.dispatched_at);
        }
        ShipmentEvent::ShipmentTrackingUpdated(update) => {
            shipment.latest_tracking_at = shipment.latest_tracking_at.max(Some(update.occurred_at));
            shipment.tracking.push(update.clone());
        }
        ShipmentEvent::ShipmentOutForDelivery(_) => {
            shipment.status = ShipmentStatus::OutForDelivery;
        }
        ShipmentEvent::ShipmentDelivered(delivered) => {
            shipment.status = ShipmentStatus::Delivered;
            shipment.delivered_at = Some(delivered.delivered_at);
        }
        ShipmentEvent::ShipmentDeliveryFailed(_) => {
            shipment.status = ShipmentStatus::DeliveryFailed;
            shipment.failed_attempts = shipment.failed_attempts.saturating_add(1);
        }
        ShipmentEvent::ShipmentReturned(_) => shipment.status = ShipmentStatus::Returned,
        ShipmentEvent::ShipmentCancelled(_) => shipment.status = ShipmentStatus::Cancelled,
    }
}
