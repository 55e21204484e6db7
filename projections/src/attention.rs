//! The `attention_items` read model: one row per attention item (ADR 0010), for the list an
//! operator works through: what needs a person, why, for which order, and where it stands.

use chrono::{DateTime, Utc};
use domain::{
    attention::{Attention, AttentionEvent, AttentionState},
    Decider, DecodeError, EventCodec,
};
use eventlog::{EventLog, HandlerError, RecordedEvent, StorageError};
use serde::{Deserialize, Serialize};

use crate::{
    fold::Fold,
    model::Batch,
    read::{rows_where, List, Page, QueryError},
    table::{col, nullable, Kind::*, Table, Writes},
};

/// The aggregate type whose events this read model follows.
pub const ATTENTION: &str = <AttentionEvent as EventCodec>::AGGREGATE_TYPE;

pub(crate) const ATTENTION_ITEMS: Table = Table {
    name: "attention_items",
    columns: &[
        col("attention_id", Text),
        col("kind", Text),
        col("status", Text),
        col("process", Text),
        col("cause_event_id", Text),
        col("cause_position", Int),
        col("cause_stream", Text),
        col("cause_event_type", Text),
        nullable("target", Text),
        nullable("rule", Text),
        col("detail", Text),
        nullable("order_id", Text),
        nullable("correlation_id", Text),
        col("retries", Int),
        nullable("dismissal_reason", Text),
        nullable("updated_by", Text),
        col("raised_at", Time),
        col("updated_at", Time),
        col("version", Int),
        col("last_position", Int),
    ],
    key: &["attention_id"],
    indexes: &[
        ("raised_at", "raised_at DESC, attention_id DESC"),
        ("status", "status, raised_at DESC"),
        ("order", "order_id"),
    ],
};

pub(crate) const TABLES: &[&Table] = &[&ATTENTION_ITEMS];

/// A row of `attention_items`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttentionRow {
    /// The item.
    pub attention_id: String,
    /// `refused_step`, `parked_step` or `waiting_step`.
    pub kind: String,
    /// `open`, `retrying`, `resolved` or `dismissed`.
    pub status: String,
    /// The process whose step it is (`process:order-cancellation`).
    pub process: String,
    /// The event the step is for.
    pub cause_event_id: String,
    /// Its log position.
    pub cause_position: i64,
    /// Its stream (`order/0190…`).
    pub cause_stream: String,
    /// Its type (`OrderCancelled`).
    pub cause_event_type: String,
    /// The stream the step changes, where one is known.
    pub target: Option<String>,
    /// The business rule that refused the step (refused steps).
    pub rule: Option<String>,
    /// What went wrong, for a person.
    pub detail: String,
    /// The order concerned.
    pub order_id: Option<String>,
    /// The correlation id of the cause: `GET /api/v1/audit?correlation_id=` lists all it caused.
    pub correlation_id: Option<String>,
    /// Retries a person asked for.
    pub retries: i64,
    /// Why a person dismissed it.
    pub dismissal_reason: Option<String>,
    /// Who made its last change (`user:ana`, `process:order-cancellation`).
    pub updated_by: Option<String>,
    /// When it was (last) raised.
    #[serde(with = "crate::table::time")]
    pub raised_at: DateTime<Utc>,
    /// When its last event was recorded.
    #[serde(with = "crate::table::time")]
    pub updated_at: DateTime<Utc>,
    /// Its stream version (send it as `If-Match` to act on it only as seen).
    pub version: i64,
    /// The log position this row reflects.
    pub last_position: i64,
}

/// An item as the projection folds it: the domain's state and what only the log knows.
#[derive(Debug, Clone, Default)]
pub(crate) struct Folded {
    item: Option<AttentionState>,
    dismissal_reason: Option<String>,
    updated_by: Option<String>,
}

fn step(
    folded: &mut Folded,
    raised_at: &mut Option<DateTime<Utc>>,
    recorded: &RecordedEvent,
) -> Result<(), DecodeError> {
    let event = AttentionEvent::decode(
        &recorded.event_type,
        recorded.event_version,
        &recorded.payload,
    )?;
    match &event {
        AttentionEvent::AttentionRaised(raised) => {
            *raised_at = Some(raised.raised_at);
            folded.dismissal_reason = None;
        }
        AttentionEvent::AttentionDismissed(dismissed) => {
            folded.dismissal_reason = Some(dismissed.reason.as_str().to_owned());
        }
        _ => {}
    }
    folded.updated_by = recorded.metadata.actor.clone();
    Attention::evolve(&mut folded.item, &event);
    Ok(())
}

fn row_of(fold: &Fold<Folded>) -> Option<AttentionRow> {
    let (Some(item), Some(raised_at)) = (&fold.state.item, fold.started_at) else {
        return None;
    };
    let raised = &item.raised;
    Some(AttentionRow {
        attention_id: raised.attention_id.to_string(),
        kind: raised.kind.as_str().to_owned(),
        status: item.status.as_str().to_owned(),
        process: raised.process.clone(),
        cause_event_id: raised.cause.event_id.to_string(),
        cause_position: raised.cause.position,
        cause_stream: format!("{}/{}", raised.cause.stream_type, raised.cause.stream_id),
        cause_event_type: raised.cause.event_type.clone(),
        target: raised.target.clone(),
        rule: raised.rule.as_ref().map(|r| r.as_str().to_owned()),
        detail: raised.detail.as_str().to_owned(),
        order_id: raised.order_id.map(|o| o.to_string()),
        correlation_id: raised.correlation_id.clone(),
        retries: i64::from(item.retries),
        dismissal_reason: fold.state.dismissal_reason.clone(),
        updated_by: fold.state.updated_by.clone(),
        raised_at,
        updated_at: fold.updated_at,
        version: fold.version,
        last_position: fold.position,
    })
}

/// Each item the batch touched, folded and written in one statement.
pub(crate) async fn writes(batch: &Batch<'_>) -> Result<Writes, HandlerError> {
    let folds = batch.folds.of().of(batch, ATTENTION, step).await?;
    let items: Vec<AttentionRow> = folds.iter().filter_map(row_of).collect();
    let mut writes = Writes::default();
    writes.upsert(batch, &ATTENTION_ITEMS, &items)?;
    Ok(writes)
}

/// Filters of the attention list; all optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AttentionFilter {
    /// A kind.
    pub kind: Option<String>,
    /// A status.
    pub status: Option<String>,
    /// The order concerned.
    pub order_id: Option<String>,
    /// The process whose step it is.
    pub process: Option<String>,
}

/// The item `attention_id`, if the projection has it.
pub async fn get_item(
    log: &EventLog,
    attention_id: &str,
) -> Result<Option<AttentionRow>, StorageError> {
    let mut found = rows_where(
        log,
        &ATTENTION_ITEMS,
        "attention_id",
        attention_id,
        "attention_id",
    )
    .await?;
    Ok(found.pop())
}

/// A page of at most `limit` (1 to 200) items matching `filter`, newest first.
pub async fn list_items(
    log: &EventLog,
    filter: &AttentionFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<AttentionRow>, QueryError> {
    List::new(&ATTENTION_ITEMS, "raised_at", "attention_id")
        .equal("kind", filter.kind.as_ref())
        .equal("status", filter.status.as_ref())
        .equal("order_id", filter.order_id.as_ref())
        .equal("process", filter.process.as_ref())
        .page(log, cursor, limit)
        .await
}
