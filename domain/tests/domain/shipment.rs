//! The Shipment decider: every command in every state it can meet, then the rules by name.

mod every_state;
pub mod fixtures;
mod label_purchases;
mod rules;
mod tracking_every_state;
