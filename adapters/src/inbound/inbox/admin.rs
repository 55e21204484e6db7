//! What operators do with the inbox: list deliveries by source and status (newest first, keyset
//! cursor), show one with its attempts, and make a dead or unmatched one due again.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use chrono::{DateTime, Utc};
use eventlog::{EventLog, Param, StorageError};
use serde::{Deserialize, Serialize};

use super::{sql, DeliveryStatus, Inbox};
use crate::inbound::payload::Source;

/// A delivery as listed (without its body and headers).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverySummary {
    /// Who sent it.
    pub source: Source,
    /// The provider's event id.
    pub event_id: String,
    /// The provider's event type.
    pub event_type: String,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Processing attempts started.
    pub attempts: i32,
    /// Failed attempts since the last admin retry.
    pub failures: i32,
    /// When a worker looks at it next (pending, failed and unmatched rows).
    pub next_attempt_at: DateTime<Utc>,
    /// Why the last attempt did not end done.
    pub last_error: Option<String>,
    /// When it was processed.
    pub processed_at: Option<DateTime<Utc>>,
    /// The body exactly as received (only when one delivery is shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The stored headers, signature values removed (only when one delivery is shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<serde_json::Value>,
}

/// One finished processing attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Its number, 1 for the first.
    pub attempt: i32,
    /// When it was claimed.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// The status it left the delivery in.
    pub outcome: DeliveryStatus,
    /// Why it did not end done.
    pub error: Option<String>,
}

/// A delivery with its body, headers and attempts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryDetail {
    /// The delivery.
    #[serde(flatten)]
    pub delivery: DeliverySummary,
    /// Its attempts, oldest first.
    pub attempts_history: Vec<Attempt>,
}

/// The list's filters; all optional.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
pub struct DeliveryFilter {
    /// Only this source.
    pub source: Option<Source>,
    /// Only this status.
    pub status: Option<DeliveryStatus>,
}

/// A page of deliveries, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeliveryPage {
    /// The deliveries.
    pub items: Vec<DeliverySummary>,
    /// Pass back as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
}

/// What an admin retry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryOutcome {
    /// The delivery is pending again, due now.
    Retried,
    /// No such delivery.
    NotFound,
    /// Its status cannot be retried (pending, done or ignored).
    NotRetryable(DeliveryStatus),
}

/// Why the list refused a cursor.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    /// The cursor is not one this list gave out.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

#[derive(Serialize, Deserialize)]
struct Cursor(DateTime<Utc>, Source, String);

impl Inbox {
    /// A page of at most `limit` (1 to 200) deliveries matching `filter`, newest first.
    pub async fn list(
        &self,
        filter: &DeliveryFilter,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<DeliveryPage, ListError> {
        let limit = limit.clamp(1, 200);
        let mut conditions = Vec::new();
        let mut params = Vec::new();
        if let Some(source) = filter.source {
            params.push(Param::Text(source.as_str().to_owned()));
            conditions.push(format!("source = ${}", params.len()));
        }
        if let Some(status) = filter.status {
            params.push(Param::Text(status.as_str().to_owned()));
            conditions.push(format!("status = ${}", params.len()));
        }
        if let Some(cursor) = cursor {
            let Cursor(at, source, event_id) = B64
                .decode(cursor)
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .ok_or(ListError::InvalidCursor)?;
            let n = params.len();
            params.extend([
                Param::Time(at),
                Param::Text(source.as_str().to_owned()),
                Param::Text(event_id),
            ]);
            conditions.push(format!(
                "(received_at, source, event_id) < (${}, ${}, ${})",
                n + 1,
                n + 2,
                n + 3
            ));
        }
        params.push(Param::Int(i64::from(limit) + 1));
        let filter = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let query = format!(
            "SELECT {} FROM webhook_inbox {filter} \
             ORDER BY received_at DESC, source DESC, event_id DESC LIMIT ${}",
            sql::delivery_json(&self.log, false),
            params.len()
        );
        let mut items: Vec<DeliverySummary> = rows(&self.log, &query, &params).await?;
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = match items.last() {
            Some(last) if more => {
                let cursor = Cursor(last.received_at, last.source, last.event_id.clone());
                serde_json::to_vec(&cursor)
                    .ok()
                    .map(|json| B64.encode(json))
            }
            _ => None,
        };
        Ok(DeliveryPage { items, next_cursor })
    }

    /// One delivery with its body, headers and attempts.
    pub async fn get(
        &self,
        source: Source,
        event_id: &str,
    ) -> Result<Option<DeliveryDetail>, StorageError> {
        let key = [
            Param::Text(source.as_str().to_owned()),
            Param::Text(event_id.to_owned()),
        ];
        let query = format!(
            "SELECT {} FROM webhook_inbox WHERE source = $1 AND event_id = $2",
            sql::delivery_json(&self.log, true)
        );
        let Some(delivery) = rows::<DeliverySummary>(&self.log, &query, &key)
            .await?
            .pop()
        else {
            return Ok(None);
        };
        let query = format!(
            "SELECT {} FROM webhook_inbox_attempts WHERE source = $1 AND event_id = $2 \
             ORDER BY attempt",
            sql::attempt_json(&self.log)
        );
        let attempts_history = rows(&self.log, &query, &key).await?;
        Ok(Some(DeliveryDetail {
            delivery,
            attempts_history,
        }))
    }

    /// Makes a dead, unmatched or failed delivery due now, with its failure count reset.
    pub async fn retry(
        &self,
        source: Source,
        event_id: &str,
        now: DateTime<Utc>,
    ) -> Result<RetryOutcome, StorageError> {
        let updated = eventlog::on_writer!(&self.log, |pool, time| sqlx::query(sql::RETRY)
            .bind(time(now))
            .bind(source.as_str())
            .bind(event_id)
            .execute(pool)
            .await
            .map(|done| done.rows_affected()))
        .map_err(sql::error("retrying a delivery"))?;
        if updated == 1 {
            return Ok(RetryOutcome::Retried);
        }
        Ok(match self.get(source, event_id).await? {
            Some(detail) => RetryOutcome::NotRetryable(detail.delivery.status),
            None => RetryOutcome::NotFound,
        })
    }
}

/// The rows `query` (selecting one JSON text column) answers with `params` bound in order.
async fn rows<T: serde::de::DeserializeOwned>(
    log: &EventLog,
    query: &str,
    params: &[Param],
) -> Result<Vec<T>, StorageError> {
    eventlog::json_rows(log, query, params, "reading the inbox").await
}
