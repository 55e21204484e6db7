//! What the inbox holds that still needs work, by source and status: the figures the metrics
//! endpoint exports (`docs/operations.md`). Deliveries done or ignored are left out: they are
//! most of the table and need nobody.

use chrono::{DateTime, Utc};
use eventlog::{json_object, Param, StorageError};
use serde::Deserialize;

use super::{DeliveryStatus, Inbox};

/// The statuses counted: those a delivery leaves by being processed or by a person.
pub const OPEN_STATUSES: [DeliveryStatus; 5] = [
    DeliveryStatus::Pending,
    DeliveryStatus::Failed,
    DeliveryStatus::Dead,
    DeliveryStatus::Unmatched,
    DeliveryStatus::UnmatchedExpired,
];

/// Deliveries of one source in one status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InboxFigure {
    /// The source (`stripe`, …).
    pub source: String,
    /// The status, as stored.
    pub status: String,
    /// How many.
    pub count: i64,
    /// When the oldest of them was received.
    pub oldest: DateTime<Utc>,
}

impl InboxFigure {
    /// Whether its deliveries wait for the worker (pending, or failed and retried): what the
    /// backlog's age is taken over. Unmatched ones are left out: they wait, by design, for
    /// days for what they name to appear.
    pub fn is_backlog(&self) -> bool {
        [DeliveryStatus::Pending, DeliveryStatus::Failed]
            .iter()
            .any(|status| status.as_str() == self.status)
    }
}

impl Inbox {
    /// The deliveries that still need work, counted by source and status, with the age of
    /// the oldest of each (through the status index).
    pub async fn figures(&self) -> Result<Vec<InboxFigure>, StorageError> {
        let (object, text) = json_object(self.log());
        let placeholders = (1..=OPEN_STATUSES.len())
            .map(|n| format!("${n}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {object}('source', source, 'status', status, 'count', count(*), \
               'oldest', min(received_at)){text} \
             FROM webhook_inbox WHERE status IN ({placeholders}) GROUP BY source, status"
        );
        let params = OPEN_STATUSES.map(|status| Param::Text(status.as_str().to_owned()));
        eventlog::json_rows(self.log(), &sql, &params, "counting the inbox").await
    }
}
