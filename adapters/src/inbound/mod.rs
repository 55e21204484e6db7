//! Inbound webhooks: first [`signature`] decides whether a delivery is authentic, then
//! [`payload`] names it for the [`inbox`], where [`http`] stores it before acknowledging it;
//! the [`Worker`] then maps it to commands, asynchronously.

pub mod catalog_pull;
pub mod config;
pub mod http;
pub mod inbox;
pub mod payload;
pub mod pull;
mod reconcile;
pub mod signature;
mod sources;
pub mod tracker_pull;
mod worker;

pub use config::{Verifiers, WebhookSecrets};
pub use http::{admin_routes, routes, WebhookState};
pub use worker::{Worker, WorkerError, WorkerOptions};
