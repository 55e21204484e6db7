//! The Payment decider: every command in every state it can meet, then the rules by name.

mod capture_requests;
mod disputes;
mod every_state;
pub mod fixtures;
mod reconciliation;
mod refund_approvals;
mod refund_requests;
mod rules;
mod void_requests;
