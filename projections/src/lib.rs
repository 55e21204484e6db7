//! Read models: projections of the log into plain SQL tables for the UI and reporting tools,
//! the queries the API serves from them (and from the ERP's catalog and the CRM's contacts,
//! which the webhook worker keeps), rebuild without downtime, and read-your-writes waiting.
//! `docs/read-models.md` documents every table and column.

pub mod attention;
pub mod catalog;
pub mod customers;
pub mod daily_sales;
pub mod figures;
mod fold;
mod model;
pub mod orders;
pub mod payments;
mod read;
mod rebuild;
pub mod shipments;
mod table;
mod wait;

pub use model::{ReadModel, ReadModelProjection};
pub use read::{Page, QueryError};
pub use rebuild::{create_tables, digest, missing_tables, rebuild, rebuild_options, RebuildError};
pub use wait::{wait_for, WaitError};
