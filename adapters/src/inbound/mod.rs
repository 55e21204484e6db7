//! Inbound webhooks: first [`signature`] decides whether a delivery is authentic, then
//! [`payload`] names it for the inbox and reads it into a typed event to map to commands.

pub mod payload;
pub mod signature;
