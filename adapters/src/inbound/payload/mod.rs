//! Provider payloads read into small typed events, to be mapped to commands later.
//!
//! Each source has an `inbox_key` that only needs the event's id and type, so a delivery can be
//! stored (and deduplicated) before its body is read in full, and a `parse` that reads the whole
//! event. Event types this system does not act on parse to an `Unknown` kind, not an error: the
//! inbox stores and acknowledges them and marks them ignored. An error means a known type whose
//! data is not what the contract says, which is a failure to retry and then dead-letter.

use std::fmt;

use domain::{ExternalRef, ValueError};
use serde::{Deserialize, Serialize};

pub mod crm;
pub mod easypost;
pub mod erp;
mod standard;
pub mod stripe;

/// A system that sends us webhooks, by the name it has in URLs (`/webhooks/stripe`), in the
/// configuration (`webhooks.stripe`) and in inbox rows. Each is declared once, in
/// [`crate::inbound::sources::SOURCES`]; a name not declared there is no source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Source(&'static str);

impl Source {
    /// The source called `name` (declared in its payload module).
    pub(crate) const fn new(name: &'static str) -> Self {
        Self(name)
    }

    /// The declared source called `name`, if there is one.
    pub fn named(name: &str) -> Option<Self> {
        crate::inbound::sources::named(name).map(|spec| spec.source)
    }

    /// Every declared source.
    pub fn all() -> impl Iterator<Item = Self> {
        crate::inbound::sources::SOURCES
            .iter()
            .map(|spec| spec.source)
    }

    /// The headers that carry its signature (documented on its route).
    pub fn signature_headers(self) -> &'static [&'static str] {
        crate::inbound::sources::spec(self).map_or(&[], |spec| spec.scheme.headers())
    }

    /// The lowercase name used in URLs, configuration, inbox rows and idempotency keys.
    pub fn as_str(&self) -> &'static str {
        self.0
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::named(&name).ok_or_else(|| {
            let known: Vec<&str> = Self::all().map(|s| s.as_str()).collect();
            serde::de::Error::custom(format!(
                "no webhook source {name:?}; there are {}",
                known.join(", ")
            ))
        })
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the inbox keys a delivery by: its source and the provider's own event id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct InboxKey {
    /// Who sent it.
    pub source: Source,
    /// The provider's event id (Stripe `evt_...`, EasyPost `evt_...`, the `webhook-id` header).
    pub event_id: ExternalRef,
    /// The provider's event type, such as `payment_intent.succeeded`.
    pub event_type: String,
}

impl InboxKey {
    /// `source:event_id`, the idempotency key carried by the commands this delivery causes.
    pub fn idempotency_key(&self) -> String {
        format!("{}:{}", self.source, self.event_id)
    }
}

/// Why a payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The body is not the event envelope the source sends (not JSON, or no id/type).
    #[error("{source_name} payload is not a valid event envelope")]
    Envelope {
        /// Who sent it.
        source_name: Source,
        /// What serde found.
        #[source]
        cause: serde_json::Error,
    },
    /// A known event type whose data does not have the agreed shape.
    #[error("{source_name} {event_type} event has invalid data")]
    Data {
        /// Who sent it.
        source_name: Source,
        /// The event type.
        event_type: String,
        /// What serde found.
        #[source]
        cause: serde_json::Error,
    },
    /// The event id is empty, too long or has control characters.
    #[error("{source_name} event id is not usable as an inbox key")]
    EventId {
        /// Who sent it.
        source_name: Source,
        /// Why the id was refused.
        #[source]
        cause: ValueError,
    },
}

/// The minimal envelope of Stripe and EasyPost events: an id and a type.
fn inbox_key(source: Source, id: &str, event_type: String) -> Result<InboxKey, PayloadError> {
    let event_id = ExternalRef::parse(id).map_err(|cause| PayloadError::EventId {
        source_name: source,
        cause,
    })?;
    Ok(InboxKey {
        source,
        event_id,
        event_type,
    })
}

/// Defines a provider status enum that reads unrecognised values as its `Unknown` variant, so a
/// status the provider adds later does not make the whole event unreadable.
macro_rules! lenient_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)* }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A value this code does not know (or the provider's own `unknown`).
            Unknown,
        }

        impl $name {
            /// Reads the provider's text; anything unrecognised is `Unknown`.
            pub fn parse(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)*
                    _ => Self::Unknown,
                }
            }

            /// The provider's text for this value.
            pub const fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                    Self::Unknown => "unknown",
                }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Ok(Self::parse(&text))
            }
        }
    };
}
pub(crate) use lenient_enum;

/// Serde helper: an `i64` that must not be negative (prices, totals).
pub(crate) fn non_negative<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let value = i64::deserialize(d)?;
    if value < 0 {
        return Err(serde::de::Error::custom("must not be negative"));
    }
    Ok(value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_idempotency_key_is_source_colon_event_id() {
        let key = inbox_key(easypost::SOURCE, "evt_1", "tracker.updated".into()).unwrap();
        assert_eq!(key.idempotency_key(), "easypost:evt_1");
    }

    #[test]
    fn an_empty_event_id_is_refused() {
        let err = inbox_key(stripe::SOURCE, " ", "x".into()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "stripe event id is not usable as an inbox key"
        );
    }

    #[test]
    fn the_sources_are_the_four_documented_names_each_round_tripping() {
        let names: Vec<&str> = Source::all().map(|source| source.as_str()).collect();
        assert_eq!(names, ["stripe", "easypost", "erp", "crm"]);
        for source in Source::all() {
            let json = serde_json::to_value(source).unwrap();
            assert_eq!(json, serde_json::json!(source.as_str()));
            assert_eq!(serde_json::from_value::<Source>(json).unwrap(), source);
            assert_eq!(Source::named(source.as_str()), Some(source));
        }
    }

    #[test]
    fn an_undeclared_source_name_is_refused_with_the_declared_ones() {
        let err = serde_json::from_value::<Source>(serde_json::json!("paypal")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no webhook source \"paypal\"; there are stripe, easypost, erp, crm"
        );
        assert_eq!(Source::named("Stripe"), None);
    }
}
