//! Reading orders: by id with lines, and a filtered list newest first with cursor pagination.

use chrono::{DateTime, Utc};
use eventlog::{EventLog, StorageError};
use serde::{Deserialize, Serialize};
use sqlx::Row;

use eventlog::sqlite_time;

use super::row::{LineRow, OrderRow};

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
}

/// A page of the order list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderPage {
    /// Newest first (by placement time, then id); lines are not included.
    pub orders: Vec<OrderRow>,
    /// Pass back to get the next page; none on the last page.
    pub next_cursor: Option<String>,
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The cursor is not one this list gave out.
    #[error("invalid cursor")]
    InvalidCursor,
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

const COLUMNS: &str = "order_id, customer_id, status, payment_status, fulfillment_status, currency, \
     total_minor, paid_minor, refunded_minor, external_reference, placed_at, updated_at, last_position";

fn list_sql(time: &str) -> String {
    format!(
        "SELECT {COLUMNS} FROM orders \
         WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) \
           AND (CAST($2 AS TEXT) IS NULL OR payment_status = $2) \
           AND (CAST($3 AS TEXT) IS NULL OR fulfillment_status = $3) \
           AND (CAST($4 AS TEXT) IS NULL OR customer_id = $4) \
           AND (CAST($5 AS {time}) IS NULL OR placed_at >= $5) \
           AND (CAST($6 AS {time}) IS NULL OR placed_at < $6) \
           AND (CAST($7 AS {time}) IS NULL OR (placed_at, order_id) < (CAST($7 AS {time}), CAST($8 AS TEXT))) \
         ORDER BY placed_at DESC, order_id DESC LIMIT $9"
    )
}

macro_rules! order_row {
    ($row:expr, $time:expr) => {
        OrderRow {
            order_id: $row.try_get("order_id")?,
            customer_id: $row.try_get("customer_id")?,
            status: $row.try_get("status")?,
            payment_status: $row.try_get("payment_status")?,
            fulfillment_status: $row.try_get("fulfillment_status")?,
            currency: $row.try_get("currency")?,
            total_minor: $row.try_get("total_minor")?,
            paid_minor: $row.try_get("paid_minor")?,
            refunded_minor: $row.try_get("refunded_minor")?,
            external_reference: $row.try_get("external_reference")?,
            placed_at: $time($row, "placed_at")?,
            updated_at: $time($row, "updated_at")?,
            last_position: $row.try_get("last_position")?,
            lines: Vec::new(),
        }
    };
}

fn pg_time(row: &sqlx::postgres::PgRow, column: &str) -> Result<DateTime<Utc>, sqlx::Error> {
    row.try_get(column)
}

fn sqlite_time_of(
    row: &sqlx::sqlite::SqliteRow,
    column: &str,
) -> Result<DateTime<Utc>, sqlx::Error> {
    let text: String = row.try_get(column)?;
    DateTime::parse_from_rfc3339(&text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| sqlx::Error::Decode(Box::new(e)))
}

fn line_row<R: Row>(row: &R) -> Result<LineRow, sqlx::Error>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    Ok(LineRow {
        sku: row.try_get("sku")?,
        name: row.try_get("name")?,
        unit_price_minor: row.try_get("unit_price_minor")?,
        ordered: row.try_get("ordered")?,
        allocated: row.try_get("allocated")?,
        shipped: row.try_get("shipped")?,
        delivered: row.try_get("delivered")?,
        returned: row.try_get("returned")?,
    })
}

fn storage(context: &'static str) -> impl Fn(sqlx::Error) -> StorageError {
    move |source| StorageError::Database { context, source }
}

/// The cursor after `row`: its placement time and id.
fn cursor_of(row: &OrderRow) -> String {
    format!("{}~{}", sqlite_time(row.placed_at), row.order_id)
}

fn parse_cursor(cursor: &str) -> Result<(DateTime<Utc>, String), QueryError> {
    let (at, id) = cursor.split_once('~').ok_or(QueryError::InvalidCursor)?;
    let at = DateTime::parse_from_rfc3339(at).map_err(|_| QueryError::InvalidCursor)?;
    Ok((at.with_timezone(&Utc), id.to_owned()))
}

/// The order `order_id` with its lines, if the projection has it.
pub async fn get_order(log: &EventLog, order_id: &str) -> Result<Option<OrderRow>, StorageError> {
    let order_sql = format!("SELECT {COLUMNS} FROM orders WHERE order_id = $1");
    let lines_sql =
        "SELECT sku, name, unit_price_minor, ordered, allocated, shipped, delivered, returned \
                     FROM order_lines WHERE order_id = $1 ORDER BY sku";
    let read = storage("reading an order");
    match log {
        EventLog::Postgres(pg) => {
            let Some(row) = sqlx::query(&order_sql)
                .bind(order_id)
                .fetch_optional(pg.pool())
                .await
                .map_err(&read)?
            else {
                return Ok(None);
            };
            let mut order =
                (|| Ok::<_, sqlx::Error>(order_row!(&row, pg_time)))().map_err(&read)?;
            let lines = sqlx::query(lines_sql)
                .bind(order_id)
                .fetch_all(pg.pool())
                .await
                .map_err(&read)?;
            order.lines = lines
                .iter()
                .map(line_row)
                .collect::<Result<_, _>>()
                .map_err(&read)?;
            Ok(Some(order))
        }
        EventLog::Sqlite(lite) => {
            let Some(row) = sqlx::query(&order_sql)
                .bind(order_id)
                .fetch_optional(lite.readers())
                .await
                .map_err(&read)?
            else {
                return Ok(None);
            };
            let mut order =
                (|| Ok::<_, sqlx::Error>(order_row!(&row, sqlite_time_of)))().map_err(&read)?;
            let lines = sqlx::query(lines_sql)
                .bind(order_id)
                .fetch_all(lite.readers())
                .await
                .map_err(&read)?;
            order.lines = lines
                .iter()
                .map(line_row)
                .collect::<Result<_, _>>()
                .map_err(&read)?;
            Ok(Some(order))
        }
    }
}

/// A page of at most `limit` (1 to 200) orders matching `filter`, after `cursor`.
pub async fn list_orders(
    log: &EventLog,
    filter: &OrderFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<OrderPage, QueryError> {
    let limit = i64::from(limit.clamp(1, 200));
    let after = cursor.map(parse_cursor).transpose()?;
    let (after_at, after_id) = after.map_or((None, None), |(at, id)| (Some(at), Some(id)));
    let read = storage("listing orders");
    let orders = match log {
        EventLog::Postgres(pg) => {
            let rows = sqlx::query(&list_sql("timestamptz"))
                .bind(&filter.status)
                .bind(&filter.payment_status)
                .bind(&filter.fulfillment_status)
                .bind(&filter.customer_id)
                .bind(filter.placed_from)
                .bind(filter.placed_to)
                .bind(after_at)
                .bind(&after_id)
                .bind(limit)
                .fetch_all(pg.pool())
                .await
                .map_err(&read)?;
            rows.iter()
                .map(|row| Ok(order_row!(row, pg_time)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
        }
        EventLog::Sqlite(lite) => {
            let rows = sqlx::query(&list_sql("TEXT"))
                .bind(&filter.status)
                .bind(&filter.payment_status)
                .bind(&filter.fulfillment_status)
                .bind(&filter.customer_id)
                .bind(filter.placed_from.map(sqlite_time))
                .bind(filter.placed_to.map(sqlite_time))
                .bind(after_at.map(sqlite_time))
                .bind(&after_id)
                .bind(limit)
                .fetch_all(lite.readers())
                .await
                .map_err(&read)?;
            rows.iter()
                .map(|row| Ok(order_row!(row, sqlite_time_of)))
                .collect::<Result<Vec<_>, sqlx::Error>>()
        }
    }
    .map_err(&read)?;
    let full = i64::try_from(orders.len()).unwrap_or(i64::MAX) == limit;
    let next_cursor = if full {
        orders.last().map(cursor_of)
    } else {
        None
    };
    Ok(OrderPage {
        orders,
        next_cursor,
    })
}
