//! Reading the files under `tests/fixtures/webhooks/` (see its SOURCES.md).

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// The path of a fixture, relative to `tests/fixtures/webhooks/`.
pub fn path(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/webhooks")
        .join(relative)
}

/// The exact bytes of a fixture.
pub fn bytes(relative: &str) -> Vec<u8> {
    std::fs::read(path(relative)).unwrap_or_else(|e| panic!("reading {relative}: {e}"))
}

/// A fixture parsed as JSON.
pub fn json(relative: &str) -> Value {
    serde_json::from_slice(&bytes(relative)).unwrap_or_else(|e| panic!("parsing {relative}: {e}"))
}

/// A string field of a JSON object, or a panic naming it.
pub fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is not a string in {value}"))
}

/// The instant `seconds` after the Unix epoch.
pub fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).expect("in range")
}
