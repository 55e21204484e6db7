//! Stored form of shipment events. All are at version 1.

use serde_json::Value;

use super::{ShipmentEvent, AGGREGATE_TYPE};
use crate::codec::{
    from_payload, to_payload, unknown, unsupported, DecodeError, EventCodec, StoredEvent,
};

/// Every shipment event type with its current version.
pub const EVENT_TYPES: [(&str, i32); 9] = [
    ("ShipmentCreated", 1),
    ("ShipmentLabelCreated", 1),
    ("ShipmentDispatched", 1),
    ("ShipmentTrackingUpdated", 1),
    ("ShipmentOutForDelivery", 1),
    ("ShipmentDelivered", 1),
    ("ShipmentDeliveryFailed", 1),
    ("ShipmentReturned", 1),
    ("ShipmentCancelled", 1),
];

/// The stored form of `event` at its current version.
pub fn encode(event: &ShipmentEvent) -> StoredEvent {
    use ShipmentEvent as E;
    let (event_type, payload) = match event {
        E::ShipmentCreated(p) => ("ShipmentCreated", to_payload(p)),
        E::ShipmentLabelCreated(p) => ("ShipmentLabelCreated", to_payload(p)),
        E::ShipmentDispatched(p) => ("ShipmentDispatched", to_payload(p)),
        E::ShipmentTrackingUpdated(p) => ("ShipmentTrackingUpdated", to_payload(p)),
        E::ShipmentOutForDelivery(p) => ("ShipmentOutForDelivery", to_payload(p)),
        E::ShipmentDelivered(p) => ("ShipmentDelivered", to_payload(p)),
        E::ShipmentDeliveryFailed(p) => ("ShipmentDeliveryFailed", to_payload(p)),
        E::ShipmentReturned(p) => ("ShipmentReturned", to_payload(p)),
        E::ShipmentCancelled(p) => ("ShipmentCancelled", to_payload(p)),
    };
    StoredEvent {
        event_type,
        event_version: 1,
        payload,
    }
}

/// Reads a stored shipment event.
pub fn decode(
    event_type: &str,
    event_version: i32,
    payload: &Value,
) -> Result<ShipmentEvent, DecodeError> {
    use ShipmentEvent as E;
    if event_version != 1 {
        return Err(if EVENT_TYPES.iter().any(|(name, _)| *name == event_type) {
            unsupported(event_type, event_version)
        } else {
            unknown(event_type)
        });
    }
    let v = event_version;
    Ok(match event_type {
        "ShipmentCreated" => E::ShipmentCreated(from_payload(event_type, v, payload)?),
        "ShipmentLabelCreated" => E::ShipmentLabelCreated(from_payload(event_type, v, payload)?),
        "ShipmentDispatched" => E::ShipmentDispatched(from_payload(event_type, v, payload)?),
        "ShipmentTrackingUpdated" => {
            E::ShipmentTrackingUpdated(from_payload(event_type, v, payload)?)
        }
        "ShipmentOutForDelivery" => {
            E::ShipmentOutForDelivery(from_payload(event_type, v, payload)?)
        }
        "ShipmentDelivered" => E::ShipmentDelivered(from_payload(event_type, v, payload)?),
        "ShipmentDeliveryFailed" => {
            E::ShipmentDeliveryFailed(from_payload(event_type, v, payload)?)
        }
        "ShipmentReturned" => E::ShipmentReturned(from_payload(event_type, v, payload)?),
        "ShipmentCancelled" => E::ShipmentCancelled(from_payload(event_type, v, payload)?),
        _ => return Err(unknown(event_type)),
    })
}

impl EventCodec for ShipmentEvent {
    const AGGREGATE_TYPE: &'static str = AGGREGATE_TYPE;

    fn encode(&self) -> StoredEvent {
        encode(self)
    }

    fn decode(event_type: &str, event_version: i32, payload: &Value) -> Result<Self, DecodeError> {
        decode(event_type, event_version, payload)
    }
}
