//! The envelope our ERP and CRM partners send, per the Standard Webhooks payload convention:
//! `{"type": "...", "timestamp": "<RFC 3339>", "data": {...}}`. The message id is not in the body
//! but in the `webhook-id` header, which is signed with it.

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize};
use serde_json::Value;

use super::{InboxKey, PayloadError, Source};

/// The whole envelope, with `data` left for the event type to read.
#[derive(Deserialize)]
pub(super) struct Envelope {
    #[serde(rename = "type")]
    pub(super) event_type: String,
    pub(super) timestamp: DateTime<Utc>,
    #[serde(default)]
    pub(super) data: Value,
}

#[derive(Deserialize)]
struct Head {
    #[serde(rename = "type")]
    event_type: String,
}

/// Reads the envelope of a delivery from `source`.
pub(super) fn envelope(source: Source, body: &[u8]) -> Result<Envelope, PayloadError> {
    serde_json::from_slice(body).map_err(|cause| PayloadError::Envelope {
        source_name: source,
        cause,
    })
}

/// The inbox key: the `webhook-id` header and the body's `type`.
pub(super) fn inbox_key(
    source: Source,
    webhook_id: &str,
    body: &[u8],
) -> Result<InboxKey, PayloadError> {
    let head: Head = serde_json::from_slice(body).map_err(|cause| PayloadError::Envelope {
        source_name: source,
        cause,
    })?;
    super::inbox_key(source, webhook_id, head.event_type)
}

/// Reads `data` as the type `event_type` implies.
pub(super) fn read<T: DeserializeOwned>(
    source: Source,
    event_type: &str,
    data: Value,
) -> Result<T, PayloadError> {
    serde_json::from_value(data).map_err(|cause| PayloadError::Data {
        source_name: source,
        event_type: event_type.to_owned(),
        cause,
    })
}
