//! Inbound webhooks and outbound integrations.
//!
//! For now only the pure half of inbound webhooks lives here: checking a delivery's signature
//! ([`inbound::signature`]). No clock, network or database: the caller passes `now`, the header
//! values and the raw body.

#![warn(missing_docs)]

pub mod inbound;
