//! CRM events (Standard Webhooks; contract in `docs/integrations/crm.md`): `contact.updated`.
//!
//! The CRM owns customer contact data; the back office keeps a read-only copy and never writes
//! it back. Each event carries the whole contact, so the one with the latest envelope
//! `timestamp` wins and a repeat is harmless.

use std::fmt;

use chrono::{DateTime, Utc};
use domain::{CustomerId, Email, NonEmptyText};
use serde::{Deserialize, Serialize};

use super::{standard, InboxKey, PayloadError, Source};

/// This source, by its name (declared once, in `inbound::sources::SOURCES`).
pub const SOURCE: Source = Source::new("crm");

/// A CRM event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CrmEvent {
    /// Such as `contact.updated`.
    pub event_type: String,
    /// When the change happened in the CRM.
    pub timestamp: DateTime<Utc>,
    /// What happened, with its data.
    pub kind: CrmEventKind,
}

/// The CRM event types the back office acts on; the rest are `Unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum CrmEventKind {
    /// `contact.updated`: a customer's contact data was created or changed.
    ContactUpdated(Contact),
    /// Any other type: stored, acknowledged and ignored.
    Unknown {
        /// The type as the CRM sent it.
        event_type: String,
    },
}

/// A customer's contact data, as it now stands in the CRM. `Debug` hides the e-mail's local part
/// and most of the phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Our customer id, which the CRM keeps on the contact.
    pub customer_id: CustomerId,
    /// The customer's name.
    pub name: NonEmptyText,
    /// The customer's e-mail address.
    pub email: Email,
    /// The customer's phone number; absent or `null` when the CRM has none.
    #[serde(default)]
    pub phone: Option<Phone>,
}

/// A phone number in E.164 form: `+` then 7 to 15 digits, no spaces.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

/// A phone number not in E.164 form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("phone must be in e.164 form, such as +4930123456")]
pub struct InvalidPhone;

impl Phone {
    /// Parses an E.164 number.
    pub fn parse(raw: &str) -> Result<Self, InvalidPhone> {
        let digits = raw.strip_prefix('+').ok_or(InvalidPhone)?;
        let valid = (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
        if valid && !digits.starts_with('0') {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidPhone)
        }
    }

    /// The number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Phone {
    type Error = InvalidPhone;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Phone> for String {
    fn from(value: Phone) -> Self {
        value.0
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Logs must not carry contact data: keep the last two digits to tell numbers apart.
        let tail = self.0.get(self.0.len().saturating_sub(2)..).unwrap_or("");
        write!(f, "Phone(***{tail})")
    }
}

/// The inbox key of a CRM delivery: the `webhook-id` header and the body's `type`.
pub fn inbox_key(webhook_id: &str, body: &[u8]) -> Result<InboxKey, PayloadError> {
    standard::inbox_key(SOURCE, webhook_id, body)
}

/// Reads a whole CRM event.
pub fn parse(body: &[u8]) -> Result<CrmEvent, PayloadError> {
    let envelope = standard::envelope(SOURCE, body)?;
    let kind = match envelope.event_type.as_str() {
        "contact.updated" => CrmEventKind::ContactUpdated(standard::read(
            SOURCE,
            &envelope.event_type,
            envelope.data,
        )?),
        other => CrmEventKind::Unknown {
            event_type: other.to_owned(),
        },
    };
    Ok(CrmEvent {
        event_type: envelope.event_type,
        timestamp: envelope.timestamp,
        kind,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_e164_numbers_are_phones() {
        assert_eq!(Phone::parse("+4930123456").unwrap().as_str(), "+4930123456");
        for bad in [
            "4930123456",
            "+49 30 123456",
            "+0123456789",
            "+123456",
            "+1234567890123456",
        ] {
            assert_eq!(Phone::parse(bad), Err(InvalidPhone), "{bad}");
        }
    }

    #[test]
    fn a_phone_does_not_print_in_full() {
        assert_eq!(
            format!("{:?}", Phone::parse("+4930123456").unwrap()),
            "Phone(***56)"
        );
    }
}
