//! The ERP's catalog as we keep a read-only copy of it: `erp_products` and `erp_stock`
//! (migration 0007), written only by the webhook worker from the ERP's deliveries (ADR 0007),
//! never by a projection. Described here for reading, as the read models are.

use chrono::{DateTime, Utc};
use eventlog::EventLog;
use serde::{Deserialize, Serialize};

use crate::{
    read::{List, Page, QueryError},
    table::{col, Kind::*, Table},
};

/// `erp_products`, as migration 0007 creates it.
pub(crate) const ERP_PRODUCTS: Table = Table {
    name: "erp_products",
    columns: &[
        col("sku", Text),
        col("name", Text),
        col("price_minor", Int),
        col("currency", Text),
        col("active", Bool),
        col("updated_at", Time),
        col("event_id", Text),
        col("synced_at", Time),
    ],
    key: &["sku"],
    indexes: &[],
};

/// `erp_stock`, as migration 0007 creates it.
pub(crate) const ERP_STOCK: Table = Table {
    name: "erp_stock",
    columns: &[
        col("sku", Text),
        col("warehouse", Text),
        col("available", Int),
        col("updated_at", Time),
        col("event_id", Text),
        col("synced_at", Time),
    ],
    key: &["sku", "warehouse"],
    indexes: &[],
};

/// A product of the ERP's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProductRow {
    /// The stock keeping unit.
    pub sku: String,
    /// Its display name.
    pub name: String,
    /// Its current unit price in minor units (an order keeps the price it was placed at).
    pub price_minor: i64,
    /// ISO 4217.
    pub currency: String,
    /// False when it may no longer be sold.
    pub active: bool,
    /// The ERP's time of the event the row came from.
    #[serde(with = "crate::table::time")]
    pub updated_at: DateTime<Utc>,
    /// The `webhook-id` of the delivery that wrote the row.
    pub event_id: String,
    /// When the row was written here.
    #[serde(with = "crate::table::time")]
    pub synced_at: DateTime<Utc>,
}

/// A stock level of the ERP's catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StockRow {
    /// The stock keeping unit.
    pub sku: String,
    /// The warehouse; empty when the ERP reports one level overall.
    pub warehouse: String,
    /// Units available to sell.
    pub available: i64,
    /// The ERP's time of the event the row came from.
    #[serde(with = "crate::table::time")]
    pub updated_at: DateTime<Utc>,
    /// The `webhook-id` of the delivery that wrote the row.
    pub event_id: String,
    /// When the row was written here.
    #[serde(with = "crate::table::time")]
    pub synced_at: DateTime<Utc>,
}

/// Filters of the product list; all optional.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter {
    /// The SKU.
    pub sku: Option<String>,
    /// Whether it may be sold.
    pub active: Option<bool>,
    /// Changed in the ERP at or after.
    pub updated_since: Option<DateTime<Utc>>,
}

/// Filters of the stock list; all optional.
#[derive(Debug, Clone, Default)]
pub struct StockFilter {
    /// The SKU.
    pub sku: Option<String>,
    /// The warehouse (empty: the overall levels).
    pub warehouse: Option<String>,
    /// Changed in the ERP at or after.
    pub updated_since: Option<DateTime<Utc>>,
}

/// A page of at most `limit` (1 to 200) products matching `filter`, by SKU, after `cursor`.
pub async fn list_products(
    log: &EventLog,
    filter: &ProductFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<ProductRow>, QueryError> {
    List::by_key(&ERP_PRODUCTS)
        .equal("sku", filter.sku.as_ref())
        .flag("active", filter.active)
        .since("updated_at", filter.updated_since)
        .page(log, cursor, limit)
        .await
}

/// A page of at most `limit` (1 to 200) stock levels matching `filter`, by SKU then
/// warehouse, after `cursor`.
pub async fn list_stock(
    log: &EventLog,
    filter: &StockFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<StockRow>, QueryError> {
    List::by_key(&ERP_STOCK)
        .equal("sku", filter.sku.as_ref())
        .equal("warehouse", filter.warehouse.as_ref())
        .since("updated_at", filter.updated_since)
        .page(log, cursor, limit)
        .await
}
