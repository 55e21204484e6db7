//! The inbox end to end: HTTP -> inbox -> worker -> commands -> events -> read models, on a
//! real database per test.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod catalog_pull;
mod end_to_end;
mod matching;
mod reliability;
mod robustness;
mod support;
mod tracker_pull;
