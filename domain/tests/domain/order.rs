//! The Order decider: every command in every state it can meet, then the rules by name.

mod every_state;
mod every_state_invoices;
mod every_state_payments;
mod every_state_shipments;
pub mod fixtures;
mod rules;
