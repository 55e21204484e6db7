//! Simulated ERP: its sales-order API, which the service's `erp` destination calls signed as a
//! Standard Webhooks sender (checked here; a sales-order number given once per message id),
//! and its webhooks: the catalog and stock levels, the stock a dispatch took, the invoice of a
//! paid order (docs/integrations/erp.md).

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use adapters::inbound::signature::StandardWebhookHeaders;
use axum::{
    body::Bytes,
    extract::{Path, State},
    http::HeaderMap,
    response::Response,
};
use chrono::{Datelike as _, Utc};
use serde_json::{json, Value};

use super::{
    data::{PRODUCTS, WAREHOUSE},
    partners::{answer, lock, now_text, Partners, Source},
};

/// What the simulated ERP knows.
#[derive(Debug)]
pub struct Book {
    /// The sales-order number given per message id (a resend gets the same).
    sales_orders: HashMap<String, String>,
    /// Message ids already acted on (a resend changes nothing).
    seen: HashSet<String>,
    next_sales_order: u64,
    next_invoice: u64,
    stock: HashMap<&'static str, i64>,
}

impl Book {
    pub fn new() -> Self {
        Self {
            sales_orders: HashMap::new(),
            seen: HashSet::new(),
            next_sales_order: 100_001,
            next_invoice: 1,
            stock: PRODUCTS
                .iter()
                .map(|p| (p.sku, i64::from(p.stock)))
                .collect(),
        }
    }
}

fn webhook(kind: &str, data: Value) -> Value {
    json!({"type": kind, "timestamp": now_text(), "data": data})
}

fn stock_event(sku: &str, available: i64) -> Value {
    webhook(
        "stock.updated",
        json!({"sku": sku, "available": available.max(0), "warehouse": WAREHOUSE}),
    )
}

/// The message id of a verified call from the service, or why its signature is refused.
fn verified(partners: &Partners, headers: &HeaderMap, body: &[u8]) -> Result<String, String> {
    let lookup = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signed = StandardWebhookHeaders::from_lookup(lookup);
    partners
        .inner()
        .signers
        .erp_inbound
        .verify(&signed, body, Utc::now())
        .map_err(|e| format!("signature refused: {e}"))?;
    Ok(signed.id.unwrap_or_default().to_owned())
}

/// `POST /sales-orders`: an order placed; answers its sales-order number.
pub async fn sales_order(
    State(partners): State<Partners>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = match verified(&partners, &headers, &body) {
        Ok(id) => id,
        Err(refused) => return answer(401, json!({"error": refused})),
    };
    let mut book = lock(&partners.inner().erp);
    let number = match book.sales_orders.get(&id) {
        Some(number) => number.clone(),
        None => {
            let number = format!("SO-{}", book.next_sales_order);
            book.next_sales_order += 1;
            book.sales_orders.insert(id, number.clone());
            number
        }
    };
    answer(201, json!({"sales_order_number": number}))
}

/// `POST /sales-orders/{id}/cancellation | refunds | dispatches`: taken; a dispatch takes its
/// units off the stock, which the ERP then reports.
pub async fn sales_order_news(
    State(partners): State<Partners>,
    Path((_order, what)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = match verified(&partners, &headers, &body) {
        Ok(id) => id,
        Err(refused) => return answer(401, json!({"error": refused})),
    };
    if !matches!(what.as_str(), "cancellation" | "refunds" | "dispatches") {
        return answer(404, json!({"error": "no such resource"}));
    }
    let message: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut news = Vec::new();
    {
        let mut book = lock(&partners.inner().erp);
        if what == "dispatches" && book.seen.insert(id) {
            for line in message["data"]["lines"].as_array().into_iter().flatten() {
                let (Some(sku), Some(quantity)) = (line["sku"].as_str(), line["quantity"].as_i64())
                else {
                    continue;
                };
                if let Some((&sku, available)) = book.stock.get_key_value(sku) {
                    let left = available - quantity;
                    book.stock.insert(sku, left);
                    news.push(stock_event(sku, left));
                }
            }
        }
    }
    for event in news {
        partners.deliver_later(Source::Erp, event, Duration::from_millis(800));
    }
    answer(202, json!({"status": "accepted"}))
}

impl Partners {
    /// The ERP sends its catalog and stock levels (as it does when a shop is connected).
    pub async fn erp_catalog(&self) -> anyhow::Result<()> {
        for product in PRODUCTS {
            let body = webhook(
                "product.updated",
                json!({
                    "sku": product.sku,
                    "name": product.name,
                    "price_minor": product.price_minor,
                    "currency": "EUR",
                    "active": true,
                }),
            );
            self.deliver(Source::Erp, &body).await?;
            self.deliver(
                Source::Erp,
                &stock_event(product.sku, i64::from(product.stock)),
            )
            .await?;
        }
        Ok(())
    }

    /// The ERP issues the invoice of a paid order.
    pub async fn erp_invoice(
        &self,
        order_id: &str,
        total_minor: i64,
        currency: &str,
    ) -> anyhow::Result<()> {
        let number = {
            let mut book = lock(&self.inner().erp);
            let number = format!("INV-{}-{:06}", Utc::now().year(), book.next_invoice);
            book.next_invoice += 1;
            number
        };
        let body = webhook(
            "invoice.issued",
            json!({
                "order_id": order_id,
                "invoice_number": number,
                "issued_at": now_text(),
                "total_minor": total_minor,
                "currency": currency,
            }),
        );
        self.deliver(Source::Erp, &body).await
    }
}
