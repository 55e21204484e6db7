//! Validated value types (parse, don't validate): a `Sku`, an `Email`, a `Quantity` and the rest
//! can only exist in a valid form, and deserialization goes through the same checks.

use std::{fmt, num::NonZeroU32, str::FromStr};

use serde::{Deserialize, Serialize};

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// A required text is empty or only whitespace.
    #[error("{0} must not be empty")]
    Empty(&'static str),
    /// A text is longer than its limit (in characters).
    #[error("{what} must be at most {max} characters")]
    TooLong {
        /// Which value.
        what: &'static str,
        /// The limit.
        max: usize,
    },
    /// A text contains a character the value does not allow.
    #[error("{0} contains a character that is not allowed")]
    InvalidCharacter(&'static str),
    /// Not an e-mail address of the form `local@domain.tld`.
    #[error("email must look like name@example.com")]
    InvalidEmail,
    /// A quantity of zero.
    #[error("quantity must be greater than zero")]
    ZeroQuantity,
    /// Not an ISO 3166-1 alpha-2 country code.
    #[error("country must be two uppercase letters (iso 3166-1 alpha-2)")]
    InvalidCountry,
}

/// Trims `raw` and checks it is non-empty, within `max` characters and free of control characters.
fn clean(what: &'static str, raw: &str, max: usize) -> Result<String, ValueError> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(ValueError::Empty(what));
    }
    if text.chars().count() > max {
        return Err(ValueError::TooLong { what, max });
    }
    if text.chars().any(char::is_control) {
        return Err(ValueError::InvalidCharacter(what));
    }
    Ok(text.to_owned())
}

macro_rules! text_value {
    ($(#[$doc:meta])* $name:ident, $validate:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and normalizes `raw`, refusing what the type does not allow.
            pub fn parse(raw: &str) -> Result<Self, ValueError> {
                let validate: fn(&str) -> Result<String, ValueError> = $validate;
                validate(raw).map(Self)
            }

            /// Wraps a literal the code itself knows to be valid (default reasons and such).
            #[allow(dead_code)]
            pub(crate) fn from_trusted(text: &str) -> Self {
                Self(text.to_owned())
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = ValueError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValueError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValueError;

            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> Self {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

text_value!(
    /// A stock keeping unit: 1-64 of `A-Z a-z 0-9 - _ . /`, as the ERP catalog spells it.
    #[derive(Debug)]
    Sku,
    |raw| {
        let text = clean("sku", raw, 64)?;
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/');
        if text.chars().all(allowed) {
            Ok(text)
        } else {
            Err(ValueError::InvalidCharacter("sku"))
        }
    }
);

text_value!(
    /// An e-mail address (`local@domain.tld`, at most 254 characters). Its `Debug` is redacted.
    Email,
    |raw| {
        let text = clean("email", raw, 254)?;
        let (local, domain) = text.split_once('@').ok_or(ValueError::InvalidEmail)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains('@');
        if local.is_empty() || !domain_ok || text.chars().any(char::is_whitespace) {
            return Err(ValueError::InvalidEmail);
        }
        Ok(text)
    }
);

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Logs must not carry e-mail addresses: keep the domain, hide the person.
        let domain = self.0.split_once('@').map_or("", |(_, d)| d);
        write!(f, "Email(***@{domain})")
    }
}

text_value!(
    /// A human text that must say something: a product name, a cancellation reason (1-2000 chars).
    #[derive(Debug)]
    NonEmptyText,
    |raw| clean("text", raw, 2000)
);

impl NonEmptyText {
    /// A text made to fit from anything (an error chain with line breaks, a long message):
    /// control characters become spaces, the rest is cut to the limit, and an empty text says
    /// so.
    pub fn fitted(raw: &str) -> Self {
        let cleaned: String = raw
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(2000)
            .collect();
        match cleaned.trim() {
            "" => Self("(no detail)".to_owned()),
            text => Self(text.to_owned()),
        }
    }
}

text_value!(
    /// An identifier issued by another system (provider reference, refund id, tracking number,
    /// carrier event id, external order reference): 1-255 characters, no control characters.
    #[derive(Debug)]
    ExternalRef,
    |raw| clean("reference", raw, 255)
);

text_value!(
    /// A short machine code such as a provider (`stripe`), a carrier (`dhl`) or a failure code
    /// (`card_declined`): 1-64 of `a-z 0-9 _ - .`, lowercased on parse.
    #[derive(Debug)]
    Code,
    |raw| {
        let text = clean("code", raw, 64)?.to_ascii_lowercase();
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if text.chars().all(allowed) {
            Ok(text)
        } else {
            Err(ValueError::InvalidCharacter("code"))
        }
    }
);

text_value!(
    /// An ISO 3166-1 alpha-2 country code such as `DE`.
    #[derive(Debug)]
    CountryCode,
    |raw| {
        let text = raw.trim();
        if text.len() == 2 && text.chars().all(|c| c.is_ascii_uppercase()) {
            Ok(text.to_owned())
        } else {
            Err(ValueError::InvalidCountry)
        }
    }
);

/// A number of units, always greater than zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Quantity(NonZeroU32);

impl Quantity {
    /// Parses a count, refusing zero.
    pub fn parse(count: u32) -> Result<Self, ValueError> {
        NonZeroU32::new(count)
            .map(Self)
            .ok_or(ValueError::ZeroQuantity)
    }

    /// The count.
    pub const fn get(&self) -> u32 {
        self.0.get()
    }
}

impl TryFrom<u32> for Quantity {
    type Error = ValueError;

    fn try_from(value: u32) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl From<Quantity> for u32 {
    fn from(value: Quantity) -> Self {
        value.get()
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A postal address. Every field is a validated type, so any `Address` is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    /// Who receives the parcel.
    pub recipient: NonEmptyText,
    /// Street and number.
    pub line1: NonEmptyText,
    /// Apartment, floor, c/o.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<NonEmptyText>,
    /// Postal code; optional because some countries have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<NonEmptyText>,
    /// City or town.
    pub city: NonEmptyText,
    /// Country.
    pub country: CountryCode,
}

/// An address as raw text, for callers that hold unvalidated input (forms, webhooks).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawAddress {
    /// Who receives the parcel.
    pub recipient: String,
    /// Street and number.
    pub line1: String,
    /// Apartment, floor, c/o; empty means none.
    pub line2: String,
    /// Postal code; empty means none.
    pub postal_code: String,
    /// City or town.
    pub city: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
}

impl TryFrom<RawAddress> for Address {
    type Error = ValueError;

    fn try_from(raw: RawAddress) -> Result<Self, Self::Error> {
        let optional = |text: &str| match text.trim() {
            "" => Ok(None),
            text => NonEmptyText::parse(text).map(Some),
        };
        Ok(Address {
            recipient: NonEmptyText::parse(&raw.recipient)?,
            line1: NonEmptyText::parse(&raw.line1)?,
            line2: optional(&raw.line2)?,
            postal_code: optional(&raw.postal_code)?,
            city: NonEmptyText::parse(&raw.city)?,
            country: CountryCode::parse(&raw.country)?,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_sku_is_trimmed_and_limited_to_catalog_characters() {
        assert_eq!(
            Sku::parse("  TSHIRT-RED-M ").unwrap().as_str(),
            "TSHIRT-RED-M"
        );
        assert_eq!(Sku::parse(" "), Err(ValueError::Empty("sku")));
        assert_eq!(Sku::parse("A B"), Err(ValueError::InvalidCharacter("sku")));
        assert!(matches!(
            Sku::parse(&"X".repeat(65)),
            Err(ValueError::TooLong { .. })
        ));
    }

    #[test]
    fn an_email_needs_a_local_part_and_a_dotted_domain() {
        assert!(Email::parse("ana@example.com").is_ok());
        for bad in [
            "ana",
            "@example.com",
            "ana@example",
            "ana@.com",
            "a na@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_email_does_not_show_the_person_in_debug_output() {
        let email = Email::parse("ana@example.com").unwrap();
        assert_eq!(format!("{email:?}"), "Email(***@example.com)");
    }

    #[test]
    fn a_quantity_of_zero_cannot_exist() {
        assert_eq!(Quantity::parse(0), Err(ValueError::ZeroQuantity));
        assert_eq!(Quantity::parse(3).unwrap().get(), 3);
        assert!(serde_json::from_value::<Quantity>(json!(0)).is_err());
        assert!(serde_json::from_value::<Quantity>(json!(-1)).is_err());
    }

    #[test]
    fn a_code_is_lowercased() {
        assert_eq!(Code::parse("FedEx").unwrap().as_str(), "fedex");
        assert!(Code::parse("card declined").is_err());
    }

    #[test]
    fn deserialization_goes_through_validation() {
        assert!(serde_json::from_value::<Sku>(json!("")).is_err());
        assert!(serde_json::from_value::<NonEmptyText>(json!("   ")).is_err());
        assert!(serde_json::from_value::<Email>(json!("nope")).is_err());
        let address =
            json!({"recipient": "Ana", "line1": "Main St 1", "city": "Berlin", "country": "de"});
        assert!(serde_json::from_value::<Address>(address).is_err());
    }

    #[test]
    fn an_address_needs_recipient_street_city_and_country() {
        let raw = RawAddress {
            recipient: "Ana Lima".into(),
            line1: "Hauptstr. 1".into(),
            city: "Berlin".into(),
            country: "DE".into(),
            ..RawAddress::default()
        };
        let address = Address::try_from(raw.clone()).unwrap();
        assert_eq!(address.line2, None);
        let missing_city = RawAddress {
            city: " ".into(),
            ..raw
        };
        assert_eq!(
            Address::try_from(missing_city),
            Err(ValueError::Empty("text"))
        );
    }
}
