//! Writing order rows in the projection's transaction. One SQL text serves both backends; only
//! times differ: `timestamptz` on PostgreSQL, fixed-width RFC 3339 text on SQLite (so that text
//! order is time order).

use eventlog::{sqlite_time, LogTransaction};

use super::row::OrderRow;

const UPSERT_ORDER: &str = "INSERT INTO orders (order_id, customer_id, status, payment_status, \
     fulfillment_status, currency, total_minor, paid_minor, refunded_minor, external_reference, \
     placed_at, updated_at, last_position) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
     ON CONFLICT (order_id) DO UPDATE SET customer_id = excluded.customer_id, \
     status = excluded.status, payment_status = excluded.payment_status, \
     fulfillment_status = excluded.fulfillment_status, currency = excluded.currency, \
     total_minor = excluded.total_minor, paid_minor = excluded.paid_minor, \
     refunded_minor = excluded.refunded_minor, external_reference = excluded.external_reference, \
     placed_at = excluded.placed_at, updated_at = excluded.updated_at, \
     last_position = excluded.last_position";
const DELETE_LINES: &str = "DELETE FROM order_lines WHERE order_id = $1";
const INSERT_LINE: &str = "INSERT INTO order_lines (order_id, sku, name, unit_price_minor, \
     ordered, allocated, shipped, delivered, returned) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";

macro_rules! write_row {
    ($tx:expr, $row:expr, $placed:expr, $updated:expr) => {{
        sqlx::query(UPSERT_ORDER)
            .bind(&$row.order_id)
            .bind(&$row.customer_id)
            .bind(&$row.status)
            .bind(&$row.payment_status)
            .bind(&$row.fulfillment_status)
            .bind(&$row.currency)
            .bind($row.total_minor)
            .bind($row.paid_minor)
            .bind($row.refunded_minor)
            .bind(&$row.external_reference)
            .bind($placed)
            .bind($updated)
            .bind($row.last_position)
            .execute(&mut **$tx)
            .await?;
        sqlx::query(DELETE_LINES)
            .bind(&$row.order_id)
            .execute(&mut **$tx)
            .await?;
        for line in &$row.lines {
            sqlx::query(INSERT_LINE)
                .bind(&$row.order_id)
                .bind(&line.sku)
                .bind(&line.name)
                .bind(line.unit_price_minor)
                .bind(line.ordered)
                .bind(line.allocated)
                .bind(line.shipped)
                .bind(line.delivered)
                .bind(line.returned)
                .execute(&mut **$tx)
                .await?;
        }
    }};
}

/// Writes `row` and its lines, replacing what was there.
pub(crate) async fn write(tx: &mut LogTransaction, row: &OrderRow) -> Result<(), sqlx::Error> {
    match tx {
        LogTransaction::Postgres(tx) => write_row!(tx, row, row.placed_at, row.updated_at),
        LogTransaction::Sqlite(tx) => {
            write_row!(
                tx,
                row,
                sqlite_time(row.placed_at),
                sqlite_time(row.updated_at)
            )
        }
    }
    Ok(())
}
