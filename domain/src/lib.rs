//! Pure domain: ids, money, the Order, Payment, Shipment and Attention deciders and their
//! events. No IO.
//!
//! Each aggregate is a [`Decider`]: `decide(&state, command, &ctx)` returns the events a command
//! causes (or a typed refusal), `evolve(&mut state, &event)` folds them. Stored events are
//! versioned and mapped by each aggregate's `encode`/`decode`, apart from the Rust enums.

#![warn(missing_docs)]

pub mod attention;
pub mod bound;
pub mod codec;
pub mod decider;
pub mod ids;
pub mod money;
pub mod order;
pub mod payment;
pub mod shipment;
pub mod user;
pub mod values;

pub use bound::BoundToOrder;
pub use codec::{DecodeError, EventCodec, PersonalData, StoredEvent};
pub use decider::{CommandName, Context, Decider, Rule};
pub use ids::{AttentionId, CustomerId, OrderId, PaymentId, ShipmentId};
pub use money::{Currency, Money, MoneyError};
pub use values::{
    Address, Code, CountryCode, Email, ExternalRef, NonEmptyText, Quantity, RawAddress, Sku,
    ValueError,
};
