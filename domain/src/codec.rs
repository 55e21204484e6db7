//! The stored form of events, decoupled from the Rust enums: a stable type name, a schema
//! version and a JSON payload. Each aggregate's `codec` module maps its enum to and from this
//! form and upcasts payloads written by older versions.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// An event as the log stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    /// Stable name of the event, such as `OrderPlaced`; never derived from a Rust identifier.
    pub event_type: &'static str,
    /// Schema version of `payload`; bumped on any incompatible change, with an upcaster.
    pub event_version: i32,
    /// The event's fields as JSON.
    pub payload: Value,
    /// The personal data in `payload`, which the log stores sealed with its subject's key.
    pub personal: Option<PersonalData>,
}

/// Personal data an event holds (ADR 0028): whose it is, and where it is in the payload. The
/// log stores those fields sealed with a key of the subject's, so that forgetting the subject
/// (destroying the key) erases them everywhere while the event stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonalData {
    /// The data subject: the customer's id.
    pub subject: String,
    /// JSON pointers to the fields in the payload; an absent one is skipped.
    pub fields: &'static [&'static str],
}

/// Why a stored event could not be turned back into a domain event.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The type name is not one this aggregate knows.
    #[error("unknown event type {event_type}")]
    UnknownEventType {
        /// The stored type name.
        event_type: String,
    },
    /// The type is known but this schema version is not.
    #[error("unsupported version {event_version} of {event_type}")]
    UnsupportedVersion {
        /// The stored type name.
        event_type: String,
        /// The stored version.
        event_version: i32,
    },
    /// The payload does not match the schema of its type and version.
    #[error("invalid payload for {event_type} v{event_version}")]
    InvalidPayload {
        /// The stored type name.
        event_type: String,
        /// The stored version.
        event_version: i32,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
    },
    /// An old payload could not be brought up to the current version.
    #[error("cannot upcast {event_type} v{event_version}: {reason}")]
    Upcast {
        /// The stored type name.
        event_type: String,
        /// The stored version.
        event_version: i32,
        /// Which rule the old payload breaks.
        reason: &'static str,
    },
}

/// Maps an aggregate's event enum to and from its stored form.
pub trait EventCodec: Sized {
    /// The stream type under which the aggregate's events are stored (`order`, ...).
    const AGGREGATE_TYPE: &'static str;

    /// The stored form of this event, at the current version.
    fn encode(&self) -> StoredEvent;

    /// Reads a stored event of any supported version, upcasting old ones.
    fn decode(event_type: &str, event_version: i32, payload: &Value) -> Result<Self, DecodeError>;
}

/// Serializes a payload. Every payload type is plain data (strings, numbers, string-keyed
/// structs), for which serde_json cannot fail; the snapshot tests cover each one.
pub(crate) fn to_payload<T: Serialize>(payload: &T) -> Value {
    serde_json::to_value(payload).unwrap_or_else(|err| Value::String(format!("unencodable: {err}")))
}

/// Deserializes a payload of `event_type` at `event_version`.
pub(crate) fn from_payload<T: DeserializeOwned>(
    event_type: &str,
    event_version: i32,
    payload: &Value,
) -> Result<T, DecodeError> {
    T::deserialize(payload).map_err(|source| DecodeError::InvalidPayload {
        event_type: event_type.to_owned(),
        event_version,
        source,
    })
}

/// The error for a known type stored at a version this code cannot read.
pub(crate) fn unsupported(event_type: &str, event_version: i32) -> DecodeError {
    DecodeError::UnsupportedVersion {
        event_type: event_type.to_owned(),
        event_version,
    }
}

/// The error for a type name this aggregate does not know.
pub(crate) fn unknown(event_type: &str) -> DecodeError {
    DecodeError::UnknownEventType {
        event_type: event_type.to_owned(),
    }
}

/// Declares an aggregate's stored events once: each variant with its stable stored name and
/// current version (the snapshot tests pin both), and the readers of older versions (their
/// upcasters). Generates `EVENT_TYPES`, `encode`, `decode` and the `EventCodec` impl.
macro_rules! event_codec {
    (
        $event:ident, $aggregate:expr,
        current { $($variant:ident => $name:literal v $version:literal,)* }
        $(older { $(($old_name:literal, $old_version:literal) => $upcast:expr,)* })?
        $(personal { $($personal_variant:ident => $personal:expr,)* })?
    ) => {
        /// Every event type with its current version.
        pub const EVENT_TYPES: &[(&str, i32)] = &[$(($name, $version)),*];

        /// The stored form of `event` at its current version.
        pub fn encode(event: &$event) -> $crate::codec::StoredEvent {
            let (event_type, event_version, payload) = match event {
                $($event::$variant(p) => ($name, $version, $crate::codec::to_payload(p)),)*
            };
            $crate::codec::StoredEvent {
                event_type,
                event_version,
                payload,
                personal: personal(event),
            }
        }

        /// The personal data `event` holds, if any.
        #[allow(clippy::match_single_binding, unused_variables)]
        fn personal(event: &$event) -> Option<$crate::codec::PersonalData> {
            match event {
                $($($event::$personal_variant(p) => Some(($personal)(p)),)*)?
                _ => None,
            }
        }

        /// Reads a stored event of any supported version, upcasting older ones.
        pub fn decode(
            event_type: &str,
            event_version: i32,
            payload: &serde_json::Value,
        ) -> Result<$event, $crate::codec::DecodeError> {
            let (t, v) = (event_type, event_version);
            Ok(match (event_type, event_version) {
                $(($name, $version) => $event::$variant($crate::codec::from_payload(t, v, payload)?),)*
                $($(($old_name, $old_version) => ($upcast)(t, v, payload)?,)*)?
                _ if EVENT_TYPES.iter().any(|(name, _)| *name == event_type) => {
                    return Err($crate::codec::unsupported(event_type, event_version))
                }
                _ => return Err($crate::codec::unknown(event_type)),
            })
        }

        impl $crate::codec::EventCodec for $event {
            const AGGREGATE_TYPE: &'static str = $aggregate;

            fn encode(&self) -> $crate::codec::StoredEvent {
                encode(self)
            }

            fn decode(
                event_type: &str,
                event_version: i32,
                payload: &serde_json::Value,
            ) -> Result<Self, $crate::codec::DecodeError> {
                decode(event_type, event_version, payload)
            }
        }
    };
}

pub(crate) use event_codec;
