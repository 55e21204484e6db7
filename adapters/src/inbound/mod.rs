//! Inbound webhooks: [`signature`] decides whether a delivery is authentic.

pub mod signature;
