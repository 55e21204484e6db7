//! The `shipments` read model: one row per shipment, its lines, and its carrier tracking
//! timeline, for the UI's shipment list and detail and for delivery reports.

use chrono::{DateTime, Utc};
use domain::{
    shipment::{Shipment, ShipmentEvent, ShipmentState},
    Decider, DecodeError, EventCodec,
};
use eventlog::{EventLog, HandlerError, RecordedEvent, StorageError};
use serde::{Deserialize, Serialize};

use crate::{
    fold::{children_changed, Fold},
    model::Batch,
    read::{rows_where, List, Page, QueryError},
    table::{col, name_of, nullable, Kind::*, Table, Writes},
};

/// The aggregate type whose events this read model follows.
pub const SHIPMENT: &str = <ShipmentEvent as EventCodec>::AGGREGATE_TYPE;

pub(crate) const SHIPMENTS: Table = Table {
    name: "shipments",
    columns: &[
        col("shipment_id", Text),
        col("order_id", Text),
        col("carrier", Text),
        col("status", Text),
        nullable("tracking_number", Text),
        col("label_pending", Bool),
        nullable("label_url", Text),
        nullable("label_carrier", Text),
        nullable("label_service", Text),
        nullable("label_cost_minor", Int),
        nullable("label_currency", Text),
        nullable("provider_shipment_id", Text),
        col("quantity", Int),
        col("failed_attempts", Int),
        nullable("dispatched_at", Time),
        nullable("delivered_at", Time),
        nullable("latest_tracking_at", Time),
        col("created_at", Time),
        col("updated_at", Time),
        col("last_position", Int),
    ],
    key: &["shipment_id"],
    indexes: &[
        ("created_at", "created_at DESC, shipment_id DESC"),
        ("order", "order_id"),
        ("tracking_number", "tracking_number"),
        ("status", "status, created_at DESC"),
    ],
};

pub(crate) const SHIPMENT_LINES: Table = Table {
    name: "shipment_lines",
    columns: &[
        col("shipment_id", Text),
        col("sku", Text),
        col("quantity", Int),
    ],
    key: &["shipment_id", "sku"],
    indexes: &[],
};

pub(crate) const SHIPMENT_TRACKING: Table = Table {
    name: "shipment_tracking",
    columns: &[
        col("shipment_id", Text),
        col("seq", Int),
        col("carrier_event_id", Text),
        col("carrier_status", Text),
        col("occurred_at", Time),
        nullable("location", Text),
        nullable("description", Text),
    ],
    key: &["shipment_id", "seq"],
    indexes: &[],
};

pub(crate) const TABLES: &[&Table] = &[&SHIPMENTS, &SHIPMENT_LINES, &SHIPMENT_TRACKING];

/// A row of `shipments`, with its lines and tracking timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShipmentRow {
    /// The shipment.
    pub shipment_id: String,
    /// The order whose goods it carries.
    pub order_id: String,
    /// Who carries it.
    pub carrier: String,
    /// `pending`, `label_created`, `in_transit`, `out_for_delivery`, `delivered`,
    /// `delivery_failed`, `returned` or `cancelled`.
    pub status: String,
    /// The carrier's tracking number, once labelled.
    pub tracking_number: Option<String>,
    /// True while a label asked of the carrier integration is not bought yet.
    pub label_pending: bool,
    /// Where a bought label is printed from.
    pub label_url: Option<String>,
    /// The carrier a bought label is for, as the integration names it (`USPS`).
    pub label_carrier: Option<String>,
    /// Its service (`Priority`).
    pub label_service: Option<String>,
    /// What the bought label cost, in minor units of `label_currency`.
    pub label_cost_minor: Option<i64>,
    /// The currency of `label_cost_minor`.
    pub label_currency: Option<String>,
    /// The carrier integration's shipment id (`shp_…`): of the bought label, or of the one
    /// being bought.
    pub provider_shipment_id: Option<String>,
    /// Units in the parcel.
    pub quantity: i64,
    /// Failed delivery attempts.
    pub failed_attempts: i64,
    /// When it left the warehouse.
    #[serde(with = "crate::table::optional_time")]
    pub dispatched_at: Option<DateTime<Utc>>,
    /// When it was delivered.
    #[serde(with = "crate::table::optional_time")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// The carrier time of the latest tracking update.
    #[serde(with = "crate::table::optional_time")]
    pub latest_tracking_at: Option<DateTime<Utc>>,
    /// When it was created.
    #[serde(with = "crate::table::time")]
    pub created_at: DateTime<Utc>,
    /// When its last event was recorded.
    #[serde(with = "crate::table::time")]
    pub updated_at: DateTime<Utc>,
    /// The log position this row reflects.
    pub last_position: i64,
    /// Its lines (empty in lists).
    #[serde(default)]
    pub lines: Vec<ShipmentLineRow>,
    /// Its tracking updates in the order they were recorded (empty in lists).
    #[serde(default)]
    pub tracking: Vec<TrackingRow>,
}

/// A row of `shipment_lines`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ShipmentLineRow {
    /// The shipment.
    pub shipment_id: String,
    /// The product.
    pub sku: String,
    /// Units.
    pub quantity: i64,
}

/// A row of `shipment_tracking`: one carrier tracking update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TrackingRow {
    /// The shipment.
    pub shipment_id: String,
    /// 1, 2, 3 … in the order the updates were recorded.
    pub seq: i64,
    /// The carrier's id of the update.
    pub carrier_event_id: String,
    /// `pre_transit`, `in_transit`, `out_for_delivery`, `delivered`, … as the carrier said.
    pub carrier_status: String,
    /// When it happened, by the carrier's clock.
    #[serde(with = "crate::table::time")]
    pub occurred_at: DateTime<Utc>,
    /// Where, if the carrier says.
    pub location: Option<String>,
    /// The carrier's description.
    pub description: Option<String>,
}

/// Folds one shipment event.
fn step(
    state: &mut Option<ShipmentState>,
    created_at: &mut Option<DateTime<Utc>>,
    recorded: &RecordedEvent,
) -> Result<(), DecodeError> {
    let event = ShipmentEvent::decode(
        &recorded.event_type,
        recorded.event_version,
        &recorded.payload,
    )?;
    if let ShipmentEvent::ShipmentCreated(created) = &event {
        *created_at = Some(created.created_at);
    }
    Shipment::evolve(state, &event);
    Ok(())
}

/// The row of the shipment folded in `fold`; `None` before it is created.
fn row_of(fold: &Fold<Option<ShipmentState>>) -> Option<ShipmentRow> {
    let (Some(shipment), Some(created_at)) = (&fold.state, fold.started_at) else {
        return None;
    };
    let shipment_id = shipment.shipment_id.to_string();
    let lines = shipment
        .lines
        .iter()
        .map(|line| ShipmentLineRow {
            shipment_id: shipment_id.clone(),
            sku: line.sku.as_str().to_owned(),
            quantity: i64::from(line.quantity.get()),
        })
        .collect::<Vec<_>>();
    let tracking = shipment
        .tracking
        .iter()
        .zip(1..)
        .map(|(update, seq)| TrackingRow {
            shipment_id: shipment_id.clone(),
            seq,
            carrier_event_id: update.carrier_event_id.as_str().to_owned(),
            carrier_status: name_of(&update.carrier_status),
            occurred_at: update.occurred_at,
            location: update.location.as_ref().map(|l| l.as_str().to_owned()),
            description: update.description.as_ref().map(|d| d.as_str().to_owned()),
        })
        .collect();
    let label = shipment.purchased_label.as_ref();
    Some(ShipmentRow {
        order_id: shipment.order_id.to_string(),
        carrier: shipment.carrier.as_str().to_owned(),
        status: shipment.status.as_str().to_owned(),
        tracking_number: shipment
            .tracking_number
            .as_ref()
            .map(|t| t.as_str().to_owned()),
        label_pending: shipment.label_request.is_some(),
        label_url: label.map(|l| l.label_url.as_str().to_owned()),
        label_carrier: label.map(|l| l.carrier.as_str().to_owned()),
        label_service: label.map(|l| l.service.as_str().to_owned()),
        label_cost_minor: label.map(|l| l.cost.amount_minor),
        label_currency: label.map(|l| l.cost.currency.as_str().to_owned()),
        provider_shipment_id: label
            .map(|l| &l.provider_shipment_id)
            .or(shipment
                .label_request
                .as_ref()
                .and_then(|r| r.provider_shipment_id.as_ref()))
            .map(|id| id.as_str().to_owned()),
        quantity: lines.iter().map(|l| l.quantity).sum(),
        failed_attempts: i64::from(shipment.failed_attempts),
        dispatched_at: shipment.dispatched_at,
        delivered_at: shipment.delivered_at,
        latest_tracking_at: shipment.latest_tracking_at,
        created_at,
        updated_at: fold.updated_at,
        last_position: fold.position,
        shipment_id,
        lines,
        tracking,
    })
}

/// Each shipment the batch touched, folded and written with its lines and timeline, one
/// statement per table. (Lines are fixed at creation and the timeline only grows, so upserts
/// never leave a stale row behind.)
pub(crate) async fn writes(batch: &Batch<'_>) -> Result<Writes, HandlerError> {
    let folds = batch.folds.of().of(batch, SHIPMENT, step).await?;
    let mut shipments: Vec<ShipmentRow> = folds.iter().filter_map(row_of).collect();
    let created = children_changed(batch, &folds, SHIPMENT, &["ShipmentCreated"]);
    let tracked = children_changed(batch, &folds, SHIPMENT, &["ShipmentTrackingUpdated"]);
    let lines: Vec<&ShipmentLineRow> = shipments
        .iter()
        .filter(|s| created.contains(s.shipment_id.as_str()))
        .flat_map(|s| &s.lines)
        .collect();
    let tracking: Vec<&TrackingRow> = shipments
        .iter()
        .filter(|s| tracked.contains(s.shipment_id.as_str()))
        .flat_map(|s| &s.tracking)
        .collect();
    let mut writes = Writes::default();
    writes.upsert(batch, &SHIPMENT_LINES, &lines)?;
    writes.upsert(batch, &SHIPMENT_TRACKING, &tracking)?;
    // The shipments' own rows go without their children, which the statement would only skip.
    for shipment in &mut shipments {
        shipment.lines.clear();
        shipment.tracking.clear();
    }
    writes.upsert(batch, &SHIPMENTS, &shipments)?;
    Ok(writes)
}

/// Filters of the shipment list; all optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ShipmentFilter {
    /// A shipment status.
    pub status: Option<String>,
    /// The order.
    pub order_id: Option<String>,
    /// The carrier.
    pub carrier: Option<String>,
    /// The carrier's tracking number.
    pub tracking_number: Option<String>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
}

/// The shipment `shipment_id` with its lines and timeline, if the projection has it.
pub async fn get_shipment(
    log: &EventLog,
    shipment_id: &str,
) -> Result<Option<ShipmentRow>, StorageError> {
    let mut found: Vec<ShipmentRow> =
        rows_where(log, &SHIPMENTS, "shipment_id", shipment_id, "shipment_id").await?;
    let Some(mut shipment) = found.pop() else {
        return Ok(None);
    };
    shipment.lines = rows_where(log, &SHIPMENT_LINES, "shipment_id", shipment_id, "sku").await?;
    shipment.tracking =
        rows_where(log, &SHIPMENT_TRACKING, "shipment_id", shipment_id, "seq").await?;
    Ok(Some(shipment))
}

/// A page of at most `limit` (1 to 200) shipments matching `filter`, newest first.
pub async fn list_shipments(
    log: &EventLog,
    filter: &ShipmentFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<ShipmentRow>, QueryError> {
    List::new(&SHIPMENTS, "created_at", "shipment_id")
        .equal("status", filter.status.as_ref())
        .equal("order_id", filter.order_id.as_ref())
        .equal("carrier", filter.carrier.as_ref())
        .equal("tracking_number", filter.tracking_number.as_ref())
        .since("created_at", filter.created_from)
        .before("created_at", filter.created_to)
        .page(log, cursor, limit)
        .await
}
