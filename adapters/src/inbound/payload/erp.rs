//! ERP events (Standard Webhooks; contract in `docs/integrations/erp.md`): `invoice.issued`,
//! `product.updated` and `stock.updated`.
//!
//! Product and stock events carry the full current state, not a change, so a repeat is harmless
//! and the one with the latest envelope `timestamp` wins. Unknown fields are ignored so that the
//! ERP can add some without breaking us.

use chrono::{DateTime, Utc};
use domain::{Currency, ExternalRef, Money, NonEmptyText, OrderId, Sku};
use serde::{Deserialize, Serialize};

use super::{non_negative, standard, InboxKey, PayloadError, Source};

/// This source, by its name (declared once, in `inbound::sources::SOURCES`).
pub const SOURCE: Source = Source::new("erp");

/// An ERP event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErpEvent {
    /// Such as `invoice.issued`.
    pub event_type: String,
    /// When the change happened in the ERP.
    pub timestamp: DateTime<Utc>,
    /// What happened, with its data.
    pub kind: ErpEventKind,
}

/// The ERP event types the back office acts on; the rest are `Unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum ErpEventKind {
    /// `invoice.issued`: the ERP invoiced one of our orders.
    InvoiceIssued(Invoice),
    /// `product.updated`: a product was created or changed (the ERP owns the catalog).
    ProductUpdated(Product),
    /// `stock.updated`: the sellable quantity of a product changed.
    StockUpdated(StockLevel),
    /// Any other type: stored, acknowledged and ignored.
    Unknown {
        /// The type as the ERP sent it.
        event_type: String,
    },
}

/// An invoice the ERP issued for an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoice {
    /// Our order id, as the ERP received it from us.
    pub order_id: OrderId,
    /// The ERP's invoice number.
    pub invoice_number: ExternalRef,
    /// When the invoice was issued.
    pub issued_at: DateTime<Utc>,
    /// The invoiced total in minor units (cents), never negative.
    #[serde(deserialize_with = "non_negative")]
    pub total_minor: i64,
    /// ISO 4217, uppercase.
    pub currency: Currency,
}

impl Invoice {
    /// The invoiced total, as money.
    pub fn total(&self) -> Money {
        Money::new(self.total_minor, self.currency)
    }
}

/// A product of the ERP catalog, as it now stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// The stock keeping unit.
    pub sku: Sku,
    /// The display name.
    pub name: NonEmptyText,
    /// The unit price in minor units, never negative.
    #[serde(deserialize_with = "non_negative")]
    pub price_minor: i64,
    /// ISO 4217, uppercase.
    pub currency: Currency,
    /// False when the product may no longer be sold.
    pub active: bool,
}

impl Product {
    /// The unit price, as money.
    pub fn price(&self) -> Money {
        Money::new(self.price_minor, self.currency)
    }
}

/// How many units of a product can be sold, overall or in one warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevel {
    /// The stock keeping unit.
    pub sku: Sku,
    /// Units available to sell now (the ERP clamps oversold stock at zero).
    pub available: u32,
    /// The warehouse, when stock is kept per warehouse.
    #[serde(default)]
    pub warehouse: Option<ExternalRef>,
}

/// The inbox key of an ERP delivery: the `webhook-id` header and the body's `type`.
pub fn inbox_key(webhook_id: &str, body: &[u8]) -> Result<InboxKey, PayloadError> {
    standard::inbox_key(SOURCE, webhook_id, body)
}

/// Reads a whole ERP event.
pub fn parse(body: &[u8]) -> Result<ErpEvent, PayloadError> {
    let envelope = standard::envelope(SOURCE, body)?;
    let event_type = envelope.event_type;
    let data = envelope.data;
    let kind = match event_type.as_str() {
        "invoice.issued" => ErpEventKind::InvoiceIssued(read(&event_type, data)?),
        "product.updated" => ErpEventKind::ProductUpdated(read(&event_type, data)?),
        "stock.updated" => ErpEventKind::StockUpdated(read(&event_type, data)?),
        other => ErpEventKind::Unknown {
            event_type: other.to_owned(),
        },
    };
    Ok(ErpEvent {
        event_type,
        timestamp: envelope.timestamp,
        kind,
    })
}

fn read<T: serde::de::DeserializeOwned>(
    event_type: &str,
    data: serde_json::Value,
) -> Result<T, PayloadError> {
    standard::read(SOURCE, event_type, data)
}
