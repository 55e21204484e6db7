//! Inbound webhooks, from the request to the commands it causes: the signature check
//! ([`inbound::signature`]) and the reading of a delivery's JSON into typed events
//! ([`inbound::payload`]), both pure; the routes that store a verified delivery in the inbox
//! and the admin routes over it ([`inbound::http`]); the inbox table ([`inbound::inbox`]); and
//! the worker that maps stored deliveries to commands or partner rows ([`inbound::Worker`]).
//! Outbound integrations (pushing events to ERP, CRM, e-mail and SMS) are not built yet.

#![warn(missing_docs)]

pub mod inbound;
