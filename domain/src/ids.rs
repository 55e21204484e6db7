//! Typed identifiers: UUIDv7 newtypes so that an order id is never passed where a payment id goes.
//!
//! New ids come from [`crate::Context::new_id`] (UUIDv7, time-ordered). Parsing accepts any UUID
//! version so that ids minted elsewhere (imports, fixtures) still load.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wraps an existing UUID.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// Identifies an order stream.
    OrderId
);
uuid_id!(
    /// Identifies a payment stream.
    PaymentId
);
uuid_id!(
    /// Identifies a shipment stream.
    ShipmentId
);
uuid_id!(
    /// Identifies an attention item (something a person must look at).
    AttentionId
);
uuid_id!(
    /// Identifies a customer (its contact data lives in the CRM).
    CustomerId
);

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_id_round_trips_through_display_and_from_str() {
        let id = OrderId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001));
        let text = id.to_string();
        assert_eq!(text, "01900000-0000-7000-8000-000000000001");
        assert_eq!(text.parse::<OrderId>().unwrap(), id);
    }

    #[test]
    fn an_id_serializes_as_a_bare_string() {
        let id = PaymentId::from_uuid(Uuid::from_u128(7));
        let json = serde_json::to_value(id).unwrap();
        assert_eq!(
            json,
            serde_json::json!("00000000-0000-0000-0000-000000000007")
        );
        assert_eq!(serde_json::from_value::<PaymentId>(json).unwrap(), id);
    }

    #[test]
    fn garbage_does_not_parse_as_an_id() {
        assert!("not-a-uuid".parse::<ShipmentId>().is_err());
        assert!(serde_json::from_value::<CustomerId>(serde_json::json!("x")).is_err());
    }
}
