//! Tests of the pure domain: given/when/then per decider, property tests over random command
//! sequences, and snapshots of the stored JSON of every event type and version.
#![allow(clippy::unwrap_used)]

mod support;

mod attention;
mod bound;
mod order;
mod order_properties;
mod payment;
mod payment_properties;
mod purity;
mod rules;
mod shipment;
mod shipment_properties;
mod snapshots;
mod stored_versions;
mod user;
