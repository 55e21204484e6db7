//! The CRM's customer contacts as we keep a read-only copy of them: `crm_customers` (migration
//! 0007), written only by the webhook worker from the CRM's deliveries (ADR 0007), never by a
//! projection. Personal data: its name, e-mail and phone are stored sealed with the customer's
//! key (ADR 0028) and read one customer at a time, by id.

use chrono::{DateTime, Utc};
use eventlog::{EventLog, StorageError};
use serde::{Deserialize, Serialize};

use crate::{
    read::rows_where,
    table::{col, nullable, Kind::*, Table},
};

/// `crm_customers`, as migration 0007 creates it.
pub(crate) const CRM_CUSTOMERS: Table = Table {
    name: "crm_customers",
    columns: &[
        col("customer_id", Text),
        col("name", Text),
        col("email", Text),
        nullable("phone", Text),
        col("updated_at", Time),
        col("event_id", Text),
        col("synced_at", Time),
    ],
    key: &["customer_id"],
    indexes: &[],
};

/// A customer's contact data, as the CRM has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CustomerRow {
    /// Our customer id (a UUID).
    pub customer_id: String,
    /// The customer's name.
    pub name: String,
    /// The customer's e-mail address.
    pub email: String,
    /// The customer's phone number (E.164), if the CRM has one.
    pub phone: Option<String>,
    /// The CRM's time of the event the row came from.
    #[serde(with = "crate::table::time")]
    pub updated_at: DateTime<Utc>,
    /// The `webhook-id` of the delivery that wrote the row.
    pub event_id: String,
    /// When the row was written here.
    #[serde(with = "crate::table::time")]
    pub synced_at: DateTime<Utc>,
}

/// The contact of `customer_id`, if the CRM sent one.
pub async fn get_customer(
    log: &EventLog,
    customer_id: &str,
) -> Result<Option<CustomerRow>, StorageError> {
    let mut found: Vec<CustomerRow> = rows_where(
        log,
        &CRM_CUSTOMERS,
        "customer_id",
        customer_id,
        "customer_id",
    )
    .await?;
    let Some(mut row) = found.pop() else {
        return Ok(None);
    };
    // Kept sealed with the customer's key (ADR 0028): opened here, `[erased]` once forgotten.
    let id = row.customer_id.clone();
    row.name = log
        .open_text(&sealed_context("name", &id), row.name)
        .await?;
    row.email = log
        .open_text(&sealed_context("email", &id), row.email)
        .await?;
    row.phone = match row.phone {
        Some(phone) => Some(log.open_text(&sealed_context("phone", &id), phone).await?),
        None => None,
    };
    Ok(Some(row))
}

/// What a sealed contact field is bound to: its column of the customer's row.
pub fn sealed_context(column: &str, customer_id: &str) -> String {
    format!("crm_customers.{column}:{customer_id}")
}
