//! Command handling: load a stream, decide with the pure domain, append what it decided; and
//! the process managers that carry a workflow from one aggregate to the next.

pub mod attention;
mod error;
mod handler;
pub mod process;
pub mod states;

pub use error::CommandError;
pub use handler::{
    count_command, new_events, outcome_of, CommandHandler, CommandMeta, Executed, OrderAppend,
};
