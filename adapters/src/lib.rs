//! Inbound webhooks and outbound integrations.
//!
//! For now only the pure half of inbound webhooks lives here: checking a delivery's signature
//! ([`inbound::signature`]) and reading its JSON into typed events ([`inbound::payload`]). No
//! clock, network or database: the caller passes `now`, the header values and the raw body.

#![warn(missing_docs)]

pub mod inbound;
