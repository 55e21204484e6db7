//! The outbound integrations: what each destination makes of the log's events, the exact
//! requests its partner receives, and how the engine behaves when partners fail, refuse,
//! throttle or come back.
#![allow(clippy::unwrap_used)]

mod easypost;
mod email;
mod engine;
mod mappings;
mod requests;
mod stream;
mod stripe;
mod support;
