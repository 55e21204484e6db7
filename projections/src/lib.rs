//! Read models: projections of the log into plain SQL tables for the UI and reporting tools,
//! the queries the API serves from them, and read-your-writes waiting.

pub mod orders;
mod wait;

pub use wait::{wait_for, WaitError};
