//! Inbound webhooks and outbound integrations.
