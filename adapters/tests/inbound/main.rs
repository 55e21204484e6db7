//! Inbound webhooks against the providers' own fixtures and vectors, in one test binary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fixtures;
mod payload_easypost;
mod payload_partners;
mod payload_stripe;
mod signature_props;
mod signature_rejections;
mod signature_vectors;
