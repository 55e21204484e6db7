//! The business figures the read models hold, as totals: what the metrics endpoint exports
//! beside the technical ones (`docs/operations.md`). Read from the tables, not counted in a
//! process, so every replica reports the same figures, a restart loses none, and they agree
//! with what the API shows.

use std::collections::BTreeMap;

use domain::{attention::AttentionStatus, order::OrderStatus, payment::PaymentStatus};
use eventlog::{json_object, EventLog, Param, StorageError};
use serde::Deserialize;

use crate::{
    attention::ATTENTION_ITEMS, orders::ORDERS, payments::PAYMENTS, shipments::SHIPMENTS,
    table::name_of,
};

/// Totals over the read models.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BusinessFigures {
    /// Orders placed (every order, whatever became of it).
    pub orders_placed: i64,
    /// Orders cancelled.
    pub orders_cancelled: i64,
    /// Captured, in minor units, by currency.
    pub captured_minor: BTreeMap<String, i64>,
    /// Refunded, in minor units, by currency.
    pub refunded_minor: BTreeMap<String, i64>,
    /// Failed payments by provider and the provider's code (`""`: none given).
    pub payment_failures: BTreeMap<(String, String), i64>,
    /// Shipments dispatched.
    pub shipments_dispatched: i64,
    /// Shipments delivered.
    pub shipments_delivered: i64,
    /// Delivery attempts that failed, over all shipments.
    pub delivery_failures: i64,
    /// Attention items not closed (open or being retried), by kind.
    pub attention_open: BTreeMap<String, i64>,
}

/// One figure as the query answers it.
#[derive(Debug, Deserialize)]
struct Figure {
    name: String,
    label: String,
    code: String,
    value: i64,
}

impl BusinessFigures {
    /// The figures as the read models hold them now.
    pub async fn read(log: &EventLog) -> Result<Self, StorageError> {
        let (object, text) = json_object(log);
        let (orders, payments) = (ORDERS.name, PAYMENTS.name);
        let (shipments, attention) = (SHIPMENTS.name, ATTENTION_ITEMS.name);
        // Sums are cast back to integers: PostgreSQL sums bigints as numeric.
        let sql = format!(
            "SELECT {object}('name', name, 'label', label, 'code', code, \
               'value', CAST(value AS BIGINT)){text} FROM ( \
             SELECT 'placed' AS name, '' AS label, '' AS code, count(*) AS value FROM {orders} \
             UNION ALL SELECT 'cancelled', '', '', count(*) FROM {orders} WHERE status = $1 \
             UNION ALL SELECT 'captured', currency, '', sum(captured_minor) FROM {payments} \
               GROUP BY currency \
             UNION ALL SELECT 'refunded', currency, '', sum(refunded_minor) FROM {payments} \
               GROUP BY currency \
             UNION ALL SELECT 'failed', provider, coalesce(failure_code, ''), count(*) \
               FROM {payments} WHERE status = $2 GROUP BY provider, failure_code \
             UNION ALL SELECT 'dispatched', '', '', count(*) FROM {shipments} \
               WHERE dispatched_at IS NOT NULL \
             UNION ALL SELECT 'delivered', '', '', count(*) FROM {shipments} \
               WHERE delivered_at IS NOT NULL \
             UNION ALL SELECT 'delivery_failed', '', '', coalesce(sum(failed_attempts), 0) \
               FROM {shipments} \
             UNION ALL SELECT 'attention', kind, '', count(*) FROM {attention} \
               WHERE status IN ($3, $4) GROUP BY kind) f"
        );
        let params = [
            Param::Text(name_of(&OrderStatus::Cancelled)),
            Param::Text(name_of(&PaymentStatus::Failed)),
            Param::Text(name_of(&AttentionStatus::Open)),
            Param::Text(name_of(&AttentionStatus::Retrying)),
        ];
        let rows: Vec<Figure> =
            eventlog::json_rows(log, &sql, &params, "reading the business figures").await?;
        let mut figures = Self::default();
        for Figure {
            name,
            label,
            code,
            value,
        } in rows
        {
            match name.as_str() {
                "placed" => figures.orders_placed = value,
                "cancelled" => figures.orders_cancelled = value,
                "captured" => {
                    figures.captured_minor.insert(label, value);
                }
                "refunded" => {
                    figures.refunded_minor.insert(label, value);
                }
                "failed" => {
                    figures.payment_failures.insert((label, code), value);
                }
                "dispatched" => figures.shipments_dispatched = value,
                "delivered" => figures.shipments_delivered = value,
                "delivery_failed" => figures.delivery_failures = value,
                _ => {
                    figures.attention_open.insert(label, value);
                }
            }
        }
        Ok(figures)
    }
}
