//! EasyPost events: `{"id": "evt_...", "description": "tracker.updated", "result": {tracker}}`.
//!
//! The description is the event type. A tracker carries its whole history (`tracking_details`),
//! so a late or repeated delivery still says everything; the carrier's own time on each detail,
//! not the delivery order, says which is the latest.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{lenient_enum, InboxKey, PayloadError, Source};

/// This source, by its name (declared once, in `inbound::sources::SOURCES`).
pub const SOURCE: Source = Source::new("easypost");

/// An EasyPost event, with its result read when the back office acts on its type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EasyPostEvent {
    /// `evt_...`: the inbox key.
    pub id: String,
    /// The event type, such as `tracker.updated`.
    pub description: String,
    /// When EasyPost created the event.
    pub created_at: DateTime<Utc>,
    /// What happened, with its result.
    pub kind: EasyPostEventKind,
}

/// The event types the back office acts on; the rest are `Unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "result", rename_all = "snake_case")]
pub enum EasyPostEventKind {
    /// `tracker.created`: a tracker started (often `pre_transit`).
    TrackerCreated(Tracker),
    /// `tracker.updated`: the carrier reported something new.
    TrackerUpdated(Tracker),
    /// Any other type: stored, acknowledged and ignored.
    Unknown {
        /// The description as EasyPost sent it.
        description: String,
    },
}

/// A tracker: one parcel followed at one carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracker {
    /// `trk_...`.
    pub id: String,
    /// The carrier's tracking number.
    pub tracking_code: String,
    /// The current status.
    pub status: TrackerStatus,
    /// A finer reason, such as `arrived_at_facility`.
    #[serde(default)]
    pub status_detail: Option<String>,
    /// The carrier's name, such as `FedEx`.
    pub carrier: String,
    /// The EasyPost shipment, when the label was bought through EasyPost.
    #[serde(default)]
    pub shipment_id: Option<String>,
    /// The carrier's estimate.
    #[serde(default)]
    pub est_delivery_date: Option<DateTime<Utc>>,
    /// Every scan so far, oldest first as EasyPost sends them.
    #[serde(default)]
    pub tracking_details: Vec<TrackingDetail>,
}

impl Tracker {
    /// The detail with the latest carrier time (ties: the later in the list).
    pub fn latest_detail(&self) -> Option<&TrackingDetail> {
        self.tracking_details.iter().max_by_key(|d| d.datetime)
    }
}

/// One carrier scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingDetail {
    /// The status this scan put the parcel in.
    pub status: TrackerStatus,
    /// A finer reason.
    #[serde(default)]
    pub status_detail: Option<String>,
    /// The carrier's words.
    #[serde(default)]
    pub message: Option<String>,
    /// The carrier's time of the scan.
    pub datetime: DateTime<Utc>,
    /// Where it happened, as far as the carrier says.
    #[serde(default)]
    pub tracking_location: Option<TrackingLocation>,
}

/// Where a scan happened; any part may be missing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingLocation {
    /// City.
    #[serde(default)]
    pub city: Option<String>,
    /// State or region.
    #[serde(default)]
    pub state: Option<String>,
    /// Country (ISO 3166-1 alpha-2 as the carrier gives it).
    #[serde(default)]
    pub country: Option<String>,
    /// Postal code.
    #[serde(default)]
    pub zip: Option<String>,
}

lenient_enum! {
    /// EasyPost's tracker statuses; a status it adds later reads as `Unknown`.
    pub enum TrackerStatus {
        /// Label created, not yet with the carrier.
        PreTransit = "pre_transit",
        /// With the carrier.
        InTransit = "in_transit",
        /// On the vehicle for delivery today.
        OutForDelivery = "out_for_delivery",
        /// Delivered.
        Delivered = "delivered",
        /// Waiting at a pickup point.
        AvailableForPickup = "available_for_pickup",
        /// On its way back to us.
        ReturnToSender = "return_to_sender",
        /// Delivery failed.
        Failure = "failure",
        /// The shipment was cancelled.
        Cancelled = "cancelled",
        /// The carrier reported an error.
        Error = "error",
    }
}

#[derive(Deserialize)]
struct Envelope {
    id: String,
    description: String,
    created_at: DateTime<Utc>,
    #[serde(default)]
    result: Value,
}

#[derive(Deserialize)]
struct Head {
    id: String,
    description: String,
}

/// The inbox key of an EasyPost delivery: `evt_...` and the description.
pub fn inbox_key(body: &[u8]) -> Result<InboxKey, PayloadError> {
    let head: Head = serde_json::from_slice(body).map_err(envelope_error)?;
    super::inbox_key(SOURCE, &head.id, head.description)
}

/// Reads a whole EasyPost event.
pub fn parse(body: &[u8]) -> Result<EasyPostEvent, PayloadError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(envelope_error)?;
    let tracker = |result| {
        serde_json::from_value::<Tracker>(result).map_err(|cause| PayloadError::Data {
            source_name: SOURCE,
            event_type: envelope.description.clone(),
            cause,
        })
    };
    let kind = match envelope.description.as_str() {
        "tracker.created" => EasyPostEventKind::TrackerCreated(tracker(envelope.result)?),
        "tracker.updated" => EasyPostEventKind::TrackerUpdated(tracker(envelope.result)?),
        other => EasyPostEventKind::Unknown {
            description: other.to_owned(),
        },
    };
    Ok(EasyPostEvent {
        id: envelope.id,
        description: envelope.description,
        created_at: envelope.created_at,
        kind,
    })
}

fn envelope_error(cause: serde_json::Error) -> PayloadError {
    PayloadError::Envelope {
        source_name: SOURCE,
        cause,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_unrecognised_status_reads_as_unknown() {
        let status: TrackerStatus = serde_json::from_str("\"teleported\"").unwrap();
        assert_eq!(status, TrackerStatus::Unknown);
        let status: TrackerStatus = serde_json::from_str("\"unknown\"").unwrap();
        assert_eq!(status, TrackerStatus::Unknown);
        assert_eq!(
            TrackerStatus::parse("return_to_sender"),
            TrackerStatus::ReturnToSender
        );
        assert_eq!(TrackerStatus::OutForDelivery.as_str(), "out_for_delivery");
    }
}
