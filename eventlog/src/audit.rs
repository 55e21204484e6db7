//! The audit query: events of the whole log filtered by who caused them (actor), what (stream
//! type, event type), when (recorded time) and which request (correlation id), in position
//! order and paged by position.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::{
    error::Context as _, on_readers, sql::EventRow, Backend, EventLog, RecordedEvent, StorageError,
};

/// What an audit query selects; every part optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuditFilter {
    /// `metadata.actor`, e.g. `user:ana` or `process:order-payments` or `webhook:stripe`.
    pub actor: Option<String>,
    /// The aggregate type, e.g. `order`.
    pub stream_type: Option<String>,
    /// The event type, e.g. `OrderCancelled`.
    pub event_type: Option<String>,
    /// `metadata.correlation_id`: every event one request caused, process managers' included.
    pub correlation_id: Option<String>,
    /// Recorded at or after.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before.
    pub to: Option<DateTime<Utc>>,
}

impl EventLog {
    /// Up to `limit` events after position `after` matching `filter`, in position order.
    pub async fn audit(
        &self,
        filter: &AuditFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RecordedEvent>, StorageError> {
        let json = |key: &str| match self.backend() {
            Backend::Postgres => format!("e.metadata ->> '{key}'"),
            Backend::Sqlite => format!("json_extract(e.metadata, '$.{key}')"),
        };
        let mut conditions = vec!["e.position > $1".to_owned()];
        let mut texts: Vec<String> = Vec::new();
        let mut add = |column: String, value: &Option<String>| {
            if let Some(value) = value {
                texts.push(value.clone());
                conditions.push(format!("{column} = ${}", texts.len() + 2));
            }
        };
        add(json("actor"), &filter.actor);
        add("e.aggregate_type".to_owned(), &filter.stream_type);
        add("e.event_type".to_owned(), &filter.event_type);
        add(json("correlation_id"), &filter.correlation_id);
        let mut n = texts.len() + 2;
        let mut times = Vec::new();
        for (at, op) in [(filter.from, ">="), (filter.to, "<")] {
            if let Some(at) = at {
                n += 1;
                conditions.push(format!("e.recorded_at {op} ${n}"));
                times.push(at);
            }
        }
        let sql = format!(
            "SELECT e.position, e.event_id, e.aggregate_type, e.aggregate_id, e.sequence, \
             e.event_type, e.event_version, e.payload, e.metadata, e.recorded_at FROM events e \
             WHERE {} ORDER BY e.position LIMIT $2",
            conditions.join(" AND ")
        );
        let mut events: Vec<RecordedEvent> = on_readers!(self, |pool, time| {
            let mut query = sqlx::query(&sql).bind(after).bind(limit);
            for text in texts {
                query = query.bind(text);
            }
            for at in times {
                query = query.bind(time(at));
            }
            let rows = query
                .fetch_all(pool)
                .await
                .context("querying the audit trail")?;
            rows.iter()
                .map(EventRow::decode_event)
                .collect::<Result<_, StorageError>>()
        })?;
        self.open_personal(&mut events).await?;
        Ok(events)
    }
}
