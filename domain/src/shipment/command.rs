//! What may be asked of a shipment, and the carrier's vocabulary for tracking updates.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PurchasedLabel;
use super::ShipmentLine;
use crate::{Code, ExternalRef, NonEmptyText, OrderId, ShipmentId};

/// A command to a shipment.
/// Its name (`snake_case` of the variant) labels the command in metrics.
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ShipmentCommand {
    /// Create the shipment for lines the order has allocated to it.
    CreateShipment {
        /// The shipment id the order's allocation named.
        shipment_id: ShipmentId,
        /// The order the goods belong to.
        order_id: OrderId,
        /// Who carries it (`dhl`, `fedex`).
        carrier: Code,
        /// What goes in the parcel.
        lines: Vec<ShipmentLine>,
    },
    /// Record the carrier label and its tracking number.
    RecordLabel {
        /// The carrier's tracking number.
        tracking_number: ExternalRef,
    },
    /// Buy a label at the carrier integration (EasyPost): asked here, recorded when the
    /// provider answers (ADR 0013).
    RequestLabel {
        /// The parcel, when it is not the configured default.
        parcel: Option<Parcel>,
    },
    /// Record the provider's shipment made for the pending label request, before buying its
    /// label: a retry buys this one instead of making another.
    RecordProviderShipment {
        /// The provider's shipment id (`shp_…`).
        provider_shipment_id: ExternalRef,
    },
    /// Record the label the provider sold for the pending request.
    RecordPurchasedLabel {
        /// The carrier's tracking number.
        tracking_number: ExternalRef,
        /// What was bought.
        label: PurchasedLabel,
    },
    /// Record that the provider refused the pending label request.
    RecordLabelFailed {
        /// The provider's code, or ours.
        code: Code,
        /// What it said.
        message: NonEmptyText,
    },
    /// Record that the parcel left the warehouse.
    DispatchShipment,
    /// Record one carrier tracking event.
    RecordTrackingUpdate(TrackingUpdate),
    /// Record that the parcel was delivered.
    DeliverShipment,
    /// Record a failed delivery attempt.
    RecordDeliveryFailure {
        /// What went wrong.
        reason: NonEmptyText,
    },
    /// Record that the parcel came back.
    ReturnShipment {
        /// Why it came back.
        reason: NonEmptyText,
    },
    /// Cancel the shipment before it leaves.
    CancelShipment {
        /// Why.
        reason: NonEmptyText,
    },
}

/// A parcel's size and weight as carriers rate it, in whole inches and ounces (EasyPost's
/// units); each at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parcel {
    /// Length, inches.
    pub length_in: u32,
    /// Width, inches.
    pub width_in: u32,
    /// Height, inches.
    pub height_in: u32,
    /// Weight, ounces.
    pub weight_oz: u32,
}

impl Parcel {
    /// True when a size or the weight is zero.
    pub const fn is_empty(&self) -> bool {
        self.length_in == 0 || self.width_in == 0 || self.height_in == 0 || self.weight_oz == 0
    }
}

/// One tracking event as the carrier reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingUpdate {
    /// The carrier's id for this event; the same id twice is recorded once.
    pub carrier_event_id: ExternalRef,
    /// The status the carrier reports.
    pub carrier_status: CarrierStatus,
    /// When it happened, by the carrier's clock.
    pub occurred_at: DateTime<Utc>,
    /// Where it happened, if the carrier says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<NonEmptyText>,
    /// The carrier's human description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<NonEmptyText>,
}

/// A carrier's tracking status, mapped by the carrier adapter from its own codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CarrierStatus {
    /// Label known to the carrier, parcel not yet picked up.
    PreTransit,
    /// Moving through the carrier's network.
    InTransit,
    /// On the vehicle for the last mile.
    OutForDelivery,
    /// Handed over.
    Delivered,
    /// A delivery attempt failed.
    DeliveryFailed,
    /// Back at the sender.
    ReturnedToSender,
    /// Anything else (exceptions, informational scans).
    Unknown,
}
