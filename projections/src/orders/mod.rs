//! The `orders` read model: one row per order and one per order line, for the UI's order list
//! and detail and for reporting tools.

mod row;

use chrono::{DateTime, Utc};
use eventlog::{EventLog, HandlerError, StorageError};
use serde::{Deserialize, Serialize};

pub use row::{LineRow, OrderRow, ORDER};

use crate::{
    fold::children_changed,
    model::Batch,
    read::{rows_where, List, Page, QueryError},
    table::{col, nullable, Kind::*, Table, Writes},
};

pub(crate) const ORDERS: Table = Table {
    name: "orders",
    columns: &[
        col("order_id", Text),
        col("customer_id", Text),
        col("status", Text),
        col("payment_status", Text),
        col("fulfillment_status", Text),
        col("currency", Text),
        col("total_minor", Int),
        col("paid_minor", Int),
        col("refunded_minor", Int),
        nullable("external_reference", Text),
        nullable("invoice_number", Text),
        col("placed_at", Time),
        col("updated_at", Time),
        col("last_position", Int),
    ],
    key: &["order_id"],
    indexes: &[
        ("placed_at", "placed_at DESC, order_id DESC"),
        ("customer", "customer_id, placed_at DESC"),
        ("status", "status, placed_at DESC"),
        ("external_reference", "external_reference"),
    ],
};

pub(crate) const ORDER_LINES: Table = Table {
    name: "order_lines",
    columns: &[
        col("order_id", Text),
        col("sku", Text),
        col("name", Text),
        col("unit_price_minor", Int),
        col("ordered", Int),
        col("allocated", Int),
        col("shipped", Int),
        col("delivered", Int),
        col("returned", Int),
    ],
    key: &["order_id", "sku"],
    indexes: &[],
};

pub(crate) const TABLES: &[&Table] = &[&ORDERS, &ORDER_LINES];

/// The order events that change a line's quantities.
const LINE_EVENTS: &[&str] = &[
    "OrderPlaced",
    "OrderShipmentAllocated",
    "OrderAllocationReleased",
    "OrderShipmentDispatched",
    "OrderShipmentDelivered",
    "OrderShipmentReturned",
];

/// A line as `order_lines` stores it: with its order's id.
#[derive(Serialize)]
struct LineRecord<'a> {
    order_id: &'a str,
    #[serde(flatten)]
    line: &'a LineRow,
}

/// Each order the batch touched is folded up to the batch's last position and written with its
/// lines, in two statements for the whole batch. (An order's lines are fixed when it is placed,
/// so upserting them never leaves a stale one behind.)
pub(crate) async fn writes(batch: &Batch<'_>) -> Result<Writes, HandlerError> {
    let folds = batch.folds.of().of(batch, ORDER, row::step).await?;
    let mut orders: Vec<OrderRow> = folds.iter().filter_map(row::row_of).collect();
    let lines_changed = children_changed(batch, &folds, ORDER, LINE_EVENTS);
    let lines: Vec<LineRecord<'_>> = orders
        .iter()
        .filter(|o| lines_changed.contains(o.order_id.as_str()))
        .flat_map(|o| {
            o.lines.iter().map(|line| LineRecord {
                order_id: &o.order_id,
                line,
            })
        })
        .collect();
    let mut writes = Writes::default();
    writes.upsert(batch, &ORDER_LINES, &lines)?;
    // The orders' own rows go without their lines, which the statement would only skip.
    for order in &mut orders {
        order.lines.clear();
    }
    writes.upsert(batch, &ORDERS, &orders)?;
    Ok(writes)
}

/// Filters of the order list; all optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OrderFilter {
    /// `placed`, `completed` or `cancelled`.
    pub status: Option<String>,
    /// A payment status.
    pub payment_status: Option<String>,
    /// A fulfillment status.
    pub fulfillment_status: Option<String>,
    /// The customer.
    pub customer_id: Option<String>,
    /// Placed at or after.
    pub placed_from: Option<DateTime<Utc>>,
    /// Placed before.
    pub placed_to: Option<DateTime<Utc>>,
    /// The id in the system that sent it (exactly).
    pub external_reference: Option<String>,
}

/// The order `order_id` with its lines, if the projection has it.
pub async fn get_order(log: &EventLog, order_id: &str) -> Result<Option<OrderRow>, StorageError> {
    let mut found: Vec<OrderRow> =
        rows_where(log, &ORDERS, "order_id", order_id, "order_id").await?;
    let Some(mut order) = found.pop() else {
        return Ok(None);
    };
    order.lines = rows_where(log, &ORDER_LINES, "order_id", order_id, "sku").await?;
    Ok(Some(order))
}

/// A page of at most `limit` (1 to 200) orders matching `filter`, newest first (by placement
/// time, then id), after `cursor`; lines are not included.
pub async fn list_orders(
    log: &EventLog,
    filter: &OrderFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<OrderRow>, QueryError> {
    List::new(&ORDERS, "placed_at", "order_id")
        .equal("status", filter.status.as_ref())
        .equal("payment_status", filter.payment_status.as_ref())
        .equal("fulfillment_status", filter.fulfillment_status.as_ref())
        .equal("customer_id", filter.customer_id.as_ref())
        .equal("external_reference", filter.external_reference.as_ref())
        .since("placed_at", filter.placed_from)
        .before("placed_at", filter.placed_to)
        .page(log, cursor, limit)
        .await
}
