//! The back office's integrations, both ways.
//!
//! Inbound webhooks, from the request to the commands it causes: the signature check
//! ([`inbound::signature`]) and the reading of a delivery's JSON into typed events
//! ([`inbound::payload`]), both pure; the routes that store a verified delivery in the inbox
//! and the admin routes over it ([`inbound::http`]); the inbox table ([`inbound::inbox`]); and
//! the worker that maps stored deliveries to commands or partner rows ([`inbound::Worker`]).
//!
//! Outbound integrations, from the log to the partners: each destination a subscriber of the
//! log that maps events to messages with pure functions and sends them through one engine
//! (rate limit, timeout, circuit, retries, parking, the record of every attempt):
//! [`outbound`].

#![warn(missing_docs)]

pub mod inbound;
pub mod outbound;
