//! The Payment decider: every command in every state it can meet, then the rules by name.

mod disputes;
mod every_state;
pub mod fixtures;
mod refund_requests;
mod rules;
mod void_requests;
