//! An order's read-model row, derived from its events by the domain's own fold: statuses are
//! the domain's, never re-implemented here.

use chrono::{DateTime, Utc};
use domain::{
    order::{AllocationStatus, Order, OrderEvent, OrderState},
    Decider, DecodeError, EventCodec,
};
use eventlog::RecordedEvent;
use serde::{Deserialize, Serialize};

use crate::{fold::Fold, table::name_of};

/// A row of `orders`, with its `order_lines`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderRow {
    /// The order.
    pub order_id: String,
    /// Who ordered.
    pub customer_id: String,
    /// `placed`, `completed` or `cancelled`.
    pub status: String,
    /// `unpaid`, `partially_paid`, `paid`, `partially_refunded` or `refunded`.
    pub payment_status: String,
    /// `unfulfilled`, `partially_shipped`, `shipped`, `partially_delivered`, `delivered`, `returned`.
    pub fulfillment_status: String,
    /// ISO 4217.
    pub currency: String,
    /// The sum of the lines, in minor units.
    pub total_minor: i64,
    /// Captured, in minor units.
    pub paid_minor: i64,
    /// Refunded, in minor units.
    pub refunded_minor: i64,
    /// The id in the system that sent it.
    pub external_reference: Option<String>,
    /// The latest invoice the ERP issued for it.
    pub invoice_number: Option<String>,
    /// When it was placed.
    #[serde(with = "crate::table::time")]
    pub placed_at: DateTime<Utc>,
    /// When its last event was recorded.
    #[serde(with = "crate::table::time")]
    pub updated_at: DateTime<Utc>,
    /// The log position this row reflects.
    pub last_position: i64,
    /// Its lines (empty in lists).
    #[serde(default)]
    pub lines: Vec<LineRow>,
}

/// A row of `order_lines`: quantities by where they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineRow {
    /// The product.
    pub sku: String,
    /// Its name at the time of the order.
    pub name: String,
    /// The price it was ordered at, in minor units.
    pub unit_price_minor: i64,
    /// Ordered.
    pub ordered: i64,
    /// Held by shipments not released.
    pub allocated: i64,
    /// Dispatched, delivered or returned.
    pub shipped: i64,
    /// Delivered.
    pub delivered: i64,
    /// Returned.
    pub returned: i64,
}

/// Folds one order event (`Step` of the fold).
pub(crate) fn step(
    state: &mut Option<OrderState>,
    placed_at: &mut Option<DateTime<Utc>>,
    recorded: &RecordedEvent,
) -> Result<(), DecodeError> {
    let event = OrderEvent::decode(
        &recorded.event_type,
        recorded.event_version,
        &recorded.payload,
    )?;
    if let OrderEvent::OrderPlaced(placed) = &event {
        *placed_at = Some(placed.placed_at);
    }
    Order::evolve(state, &event);
    Ok(())
}

/// The row of the order folded in `fold`; `None` before it is placed.
pub(crate) fn row_of(fold: &Fold<Option<OrderState>>) -> Option<OrderRow> {
    let (Some(order), Some(placed_at)) = (&fold.state, fold.started_at) else {
        return None;
    };
    let lines = order
        .lines
        .iter()
        .map(|line| {
            let held = |statuses: &[AllocationStatus]| -> i64 {
                order
                    .allocations
                    .values()
                    .filter(|a| statuses.contains(&a.status))
                    .flat_map(|a| a.lines.iter().filter(|l| l.sku == line.sku))
                    .map(|l| i64::from(l.quantity.get()))
                    .sum()
            };
            use AllocationStatus::{Allocated, Delivered, Dispatched, Returned};
            LineRow {
                sku: line.sku.as_str().to_owned(),
                name: line.name.as_str().to_owned(),
                unit_price_minor: line.unit_price.amount_minor,
                ordered: i64::from(line.quantity.get()),
                allocated: held(&[Allocated, Dispatched, Delivered, Returned]),
                shipped: held(&[Dispatched, Delivered, Returned]),
                delivered: held(&[Delivered]),
                returned: held(&[Returned]),
            }
        })
        .collect();
    Some(OrderRow {
        order_id: order.order_id.to_string(),
        customer_id: order.customer_id.to_string(),
        status: name_of(&order.status),
        payment_status: name_of(&order.payment_status()),
        fulfillment_status: name_of(&order.fulfillment_status()),
        currency: order.currency.as_str().to_owned(),
        total_minor: order.total.amount_minor,
        paid_minor: order.paid.amount_minor,
        refunded_minor: order.refunded.amount_minor,
        external_reference: order
            .external_reference
            .as_ref()
            .map(|r| r.as_str().to_owned()),
        invoice_number: order.invoices.last().map(|i| i.as_str().to_owned()),
        placed_at,
        updated_at: fold.updated_at,
        last_position: fold.position,
        lines,
    })
}

/// The aggregate type whose events this read model follows.
pub const ORDER: &str = <OrderEvent as EventCodec>::AGGREGATE_TYPE;
