//! Stored form of attention events. All are at version 1.

use serde_json::Value;

use super::{AttentionEvent, AGGREGATE_TYPE};
use crate::codec::{
    from_payload, to_payload, unknown, unsupported, DecodeError, EventCodec, StoredEvent,
};

/// Every attention event type with its current version.
pub const EVENT_TYPES: [(&str, i32); 5] = [
    ("AttentionRaised", 1),
    ("AttentionRetryRequested", 1),
    ("AttentionRetryFailed", 1),
    ("AttentionResolved", 1),
    ("AttentionDismissed", 1),
];

/// The stored form of `event` at its current version.
pub fn encode(event: &AttentionEvent) -> StoredEvent {
    use AttentionEvent as E;
    let (event_type, payload) = match event {
        E::AttentionRaised(p) => ("AttentionRaised", to_payload(p)),
        E::AttentionRetryRequested(p) => ("AttentionRetryRequested", to_payload(p)),
        E::AttentionRetryFailed(p) => ("AttentionRetryFailed", to_payload(p)),
        E::AttentionResolved(p) => ("AttentionResolved", to_payload(p)),
        E::AttentionDismissed(p) => ("AttentionDismissed", to_payload(p)),
    };
    StoredEvent {
        event_type,
        event_version: 1,
        payload,
    }
}

/// Reads a stored attention event.
pub fn decode(
    event_type: &str,
    event_version: i32,
    payload: &Value,
) -> Result<AttentionEvent, DecodeError> {
    use AttentionEvent as E;
    if event_version != 1 {
        return Err(if EVENT_TYPES.iter().any(|(name, _)| *name == event_type) {
            unsupported(event_type, event_version)
        } else {
            unknown(event_type)
        });
    }
    let v = event_version;
    Ok(match event_type {
        "AttentionRaised" => E::AttentionRaised(from_payload(event_type, v, payload)?),
        "AttentionRetryRequested" => {
            E::AttentionRetryRequested(from_payload(event_type, v, payload)?)
        }
        "AttentionRetryFailed" => E::AttentionRetryFailed(from_payload(event_type, v, payload)?),
        "AttentionResolved" => E::AttentionResolved(from_payload(event_type, v, payload)?),
        "AttentionDismissed" => E::AttentionDismissed(from_payload(event_type, v, payload)?),
        _ => return Err(unknown(event_type)),
    })
}

impl EventCodec for AttentionEvent {
    const AGGREGATE_TYPE: &'static str = AGGREGATE_TYPE;

    fn encode(&self) -> StoredEvent {
        encode(self)
    }

    fn decode(event_type: &str, event_version: i32, payload: &Value) -> Result<Self, DecodeError> {
        decode(event_type, event_version, payload)
    }
}
