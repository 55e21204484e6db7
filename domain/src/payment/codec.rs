//! Stored form of payment events, with the upcaster for `PaymentRequested` version 1.
//!
//! `PaymentRequested` v1 (before providers were pluggable) had no `provider` field: every
//! payment then went through manual collection, so v1 reads as `provider: "manual"`.

use serde_json::Value;

use super::{PaymentEvent, AGGREGATE_TYPE};
use crate::codec::{
    from_payload, to_payload, unknown, unsupported, DecodeError, EventCodec, StoredEvent,
};

/// Every payment event type with its current version.
pub const EVENT_TYPES: [(&str, i32); 8] = [
    ("PaymentRequested", 2),
    ("PaymentAuthorized", 1),
    ("PaymentCaptured", 1),
    ("PaymentFailed", 1),
    ("PaymentRefunded", 1),
    ("PaymentVoided", 1),
    ("PaymentDisputed", 1),
    ("PaymentDisputeClosed", 1),
];

/// The provider that v1 payments went through.
const V1_PROVIDER: &str = "manual";

/// The stored form of `event` at its current version.
pub fn encode(event: &PaymentEvent) -> StoredEvent {
    use PaymentEvent as E;
    let (event_type, event_version, payload) = match event {
        E::PaymentRequested(p) => ("PaymentRequested", 2, to_payload(p)),
        E::PaymentAuthorized(p) => ("PaymentAuthorized", 1, to_payload(p)),
        E::PaymentCaptured(p) => ("PaymentCaptured", 1, to_payload(p)),
        E::PaymentFailed(p) => ("PaymentFailed", 1, to_payload(p)),
        E::PaymentRefunded(p) => ("PaymentRefunded", 1, to_payload(p)),
        E::PaymentVoided(p) => ("PaymentVoided", 1, to_payload(p)),
        E::PaymentDisputed(p) => ("PaymentDisputed", 1, to_payload(p)),
        E::PaymentDisputeClosed(p) => ("PaymentDisputeClosed", 1, to_payload(p)),
    };
    StoredEvent {
        event_type,
        event_version,
        payload,
    }
}

/// Reads a stored payment event of any supported version.
pub fn decode(
    event_type: &str,
    event_version: i32,
    payload: &Value,
) -> Result<PaymentEvent, DecodeError> {
    use PaymentEvent as E;
    let v = event_version;
    Ok(match (event_type, event_version) {
        ("PaymentRequested", 1) => E::PaymentRequested(from_payload(
            event_type,
            v,
            &upcast_requested_v1(payload.clone()),
        )?),
        ("PaymentRequested", 2) => E::PaymentRequested(from_payload(event_type, v, payload)?),
        ("PaymentAuthorized", 1) => E::PaymentAuthorized(from_payload(event_type, v, payload)?),
        ("PaymentCaptured", 1) => E::PaymentCaptured(from_payload(event_type, v, payload)?),
        ("PaymentFailed", 1) => E::PaymentFailed(from_payload(event_type, v, payload)?),
        ("PaymentRefunded", 1) => E::PaymentRefunded(from_payload(event_type, v, payload)?),
        ("PaymentVoided", 1) => E::PaymentVoided(from_payload(event_type, v, payload)?),
        ("PaymentDisputed", 1) => E::PaymentDisputed(from_payload(event_type, v, payload)?),
        ("PaymentDisputeClosed", 1) => {
            E::PaymentDisputeClosed(from_payload(event_type, v, payload)?)
        }
        _ if EVENT_TYPES.iter().any(|(name, _)| *name == event_type) => {
            return Err(unsupported(event_type, event_version))
        }
        _ => return Err(unknown(event_type)),
    })
}

/// `PaymentRequested` v1 -> v2: add `provider: "manual"` unless (oddly) present.
fn upcast_requested_v1(mut payload: Value) -> Value {
    if let Value::Object(fields) = &mut payload {
        fields
            .entry("provider")
            .or_insert_with(|| Value::String(V1_PROVIDER.to_owned()));
    }
    payload
}

impl EventCodec for PaymentEvent {
    const AGGREGATE_TYPE: &'static str = AGGREGATE_TYPE;

    fn encode(&self) -> StoredEvent {
        encode(self)
    }

    fn decode(event_type: &str, event_version: i32, payload: &Value) -> Result<Self, DecodeError> {
        decode(event_type, event_version, payload)
    }
}
