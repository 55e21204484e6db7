//! The `daily_sales` read model, for reporting: per UTC day and currency, the orders placed and
//! cancelled, their gross value, the refunds recorded that day, and net (gross minus refunds).
//! Unlike the other read models it adds each event's figures to the stored ones; each row
//! keeps the position of the last event it took, so that events delivered again (a
//! checkpoint moved back) are not counted twice.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use domain::{order::OrderEvent, EventCodec};
use eventlog::{EventLog, HandlerError};
use serde::{Deserialize, Serialize};

use crate::{
    model::Batch,
    orders::ORDER,
    read::{List, Page, QueryError},
    table::{col, Kind::*, Table, Writes},
};

pub(crate) const DAILY_SALES: Table = Table {
    name: "daily_sales",
    columns: &[
        col("day", Text),
        col("currency", Text),
        col("orders_placed", Int),
        col("orders_cancelled", Int),
        col("gross_minor", Int),
        col("refunded_minor", Int),
        col("net_minor", Int),
        col("through_position", Int),
    ],
    key: &["day", "currency"],
    indexes: &[],
};

pub(crate) const TABLES: &[&Table] = &[&DAILY_SALES];

/// How a `day` is written: `YYYY-MM-DD` (text order is day order).
const DAY: &str = "%Y-%m-%d";

/// A row of `daily_sales`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DailySalesRow {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    /// ISO 4217.
    pub currency: String,
    /// Orders placed that day.
    pub orders_placed: i64,
    /// Orders cancelled that day.
    pub orders_cancelled: i64,
    /// The value of the orders placed that day, in minor units.
    pub gross_minor: i64,
    /// Refunds recorded on orders that day, in minor units.
    pub refunded_minor: i64,
    /// Gross minus refunded.
    pub net_minor: i64,
    /// The log position of the last event counted in this row.
    pub through_position: i64,
}

/// Each event's figures, added to the stored ones of its day and currency in one statement
/// (those a row has already taken are skipped).
pub(crate) async fn writes(batch: &Batch<'_>) -> Result<Writes, HandlerError> {
    let mut contributions: Vec<DailySalesRow> = Vec::new();
    let mut currencies: BTreeMap<&str, String> = BTreeMap::new();
    for recorded in batch.events {
        if recorded.stream.aggregate_type != ORDER {
            continue;
        }
        let event = OrderEvent::decode(
            &recorded.event_type,
            recorded.event_version,
            &recorded.payload,
        )?;
        let order = recorded.stream.aggregate_id.as_str();
        match &event {
            OrderEvent::OrderPlaced(placed) => {
                let currency = placed.currency.as_str();
                currencies.insert(order, currency.to_owned());
                let row = entry(
                    &mut contributions,
                    recorded.position,
                    placed.placed_at,
                    currency,
                );
                row.orders_placed += 1;
                row.gross_minor += placed.total.amount_minor;
                row.net_minor += placed.total.amount_minor;
            }
            OrderEvent::OrderCancelled(cancelled) => {
                let currency = currency_of(batch.log, &mut currencies, order).await?;
                entry(
                    &mut contributions,
                    recorded.position,
                    cancelled.cancelled_at,
                    &currency,
                )
                .orders_cancelled += 1;
            }
            OrderEvent::OrderRefundRecorded(refund) => {
                // A refund counts on the day it was recorded.
                let at = recorded.recorded_at;
                let currency = refund.amount.currency.as_str();
                let row = entry(&mut contributions, recorded.position, at, currency);
                row.refunded_minor += refund.amount.amount_minor;
                row.net_minor -= refund.amount.amount_minor;
            }
            _ => {}
        }
    }
    let mut writes = Writes::default();
    writes.add_once(batch, &DAILY_SALES, "through_position", &contributions)?;
    Ok(writes)
}

/// A new contribution of the event at `position` to the row of `at`'s day and `currency`.
fn entry<'a>(
    contributions: &'a mut Vec<DailySalesRow>,
    position: i64,
    at: chrono::DateTime<chrono::Utc>,
    currency: &str,
) -> &'a mut DailySalesRow {
    contributions.push(DailySalesRow {
        day: at.date_naive().format(DAY).to_string(),
        currency: currency.to_owned(),
        through_position: position,
        ..DailySalesRow::default()
    });
    let last = contributions.len() - 1;
    &mut contributions[last]
}

/// The currency of `order`: placed in this batch, or read from its first event.
async fn currency_of<'a>(
    log: &EventLog,
    known: &mut BTreeMap<&'a str, String>,
    order: &'a str,
) -> Result<String, HandlerError> {
    if let Some(currency) = known.get(order) {
        return Ok(currency.clone());
    }
    let history = log.read_streams(ORDER, &[order], i64::MAX).await?;
    let placed = history
        .first()
        .map(|first| OrderEvent::decode(&first.event_type, first.event_version, &first.payload));
    let Some(Ok(OrderEvent::OrderPlaced(placed))) = placed else {
        return Err(format!("order {order} has no OrderPlaced event first").into());
    };
    let currency = placed.currency.as_str().to_owned();
    known.insert(order, currency.clone());
    Ok(currency)
}

/// Filters of the daily sales list; all optional.
#[derive(Debug, Clone, Default)]
pub struct DailySalesFilter {
    /// From this day on.
    pub from: Option<NaiveDate>,
    /// Up to this day, inclusive.
    pub to: Option<NaiveDate>,
    /// One currency (ISO 4217).
    pub currency: Option<String>,
}

/// A page of at most `limit` (1 to 200) rows matching `filter`, by day then currency, after
/// `cursor`.
pub async fn list_daily_sales(
    log: &EventLog,
    filter: &DailySalesFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<DailySalesRow>, QueryError> {
    let day = |d: NaiveDate| d.format(DAY).to_string();
    List::by_key(&DAILY_SALES)
        .from("day", filter.from.map(day))
        .through("day", filter.to.map(day))
        .equal("currency", filter.currency.as_ref())
        .page(log, cursor, limit)
        .await
}
