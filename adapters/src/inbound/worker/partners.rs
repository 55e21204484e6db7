//! ERP and CRM deliveries: the catalog (`erp_products`, `erp_stock`) and the customer copy
//! (`crm_customers`) are plain rows the partner owns, upserted in the same transaction as the
//! delivery is marked done. An event older than the row's (`updated_at`, the partner's time)
//! changes nothing: the latest partner time wins whatever the delivery order.

use chrono::Utc;

use super::{plan::Plan, Outcome, Worker, WorkerError};
use crate::inbound::inbox::{sql, Claimed, DeliveryStatus, Finish};

const PRODUCT: &str = "INSERT INTO erp_products \
     (sku, name, price_minor, currency, active, updated_at, event_id, synced_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (sku) DO UPDATE SET \
     name = excluded.name, price_minor = excluded.price_minor, currency = excluded.currency, \
     active = excluded.active, updated_at = excluded.updated_at, event_id = excluded.event_id, \
     synced_at = excluded.synced_at WHERE erp_products.updated_at <= excluded.updated_at";

const STOCK: &str = "INSERT INTO erp_stock \
     (sku, warehouse, available, updated_at, event_id, synced_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (sku, warehouse) DO UPDATE SET \
     available = excluded.available, updated_at = excluded.updated_at, \
     event_id = excluded.event_id, synced_at = excluded.synced_at \
     WHERE erp_stock.updated_at <= excluded.updated_at";

const CUSTOMER: &str = "INSERT INTO crm_customers \
     (customer_id, name, email, phone, updated_at, event_id, synced_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (customer_id) DO UPDATE SET \
     name = excluded.name, email = excluded.email, phone = excluded.phone, \
     updated_at = excluded.updated_at, event_id = excluded.event_id, \
     synced_at = excluded.synced_at WHERE crm_customers.updated_at <= excluded.updated_at";

impl Worker {
    /// Upserts the partner's row and marks the delivery done, in one transaction.
    pub(crate) async fn sync_partner_row(
        &self,
        claimed: &Claimed,
        plan: &Plan,
    ) -> Result<Outcome, WorkerError> {
        let now = Utc::now();
        let event_id = claimed.event_id.as_str();
        let log = self.inbox.log();
        let mut tx = log.begin().await?;
        // The contact is personal data: kept sealed with the customer's key (ADR 0028).
        let sealed = match plan {
            Plan::Contact(contact, _) => {
                let subject = contact.customer_id.to_string();
                let mut sealed = Vec::with_capacity(3);
                let fields = [
                    ("name", Some(contact.name.as_str())),
                    ("email", Some(contact.email.as_str())),
                    ("phone", contact.phone.as_ref().map(|phone| phone.as_str())),
                ];
                for (column, text) in fields {
                    sealed.push(match text {
                        Some(text) => {
                            let context = projections::customers::sealed_context(column, &subject);
                            Some(log.seal_text(&mut tx, &subject, &context, text).await?)
                        }
                        None => None,
                    });
                }
                let mut sealed = sealed.into_iter();
                let mut next = || sealed.next().flatten();
                Some((
                    next().unwrap_or_default(),
                    next().unwrap_or_default(),
                    next(),
                ))
            }
            _ => None,
        };
        let written = eventlog::on_tx!(&mut tx, |conn, time| {
            match plan {
                Plan::Product(product, at) => sqlx::query(PRODUCT)
                    .bind(product.sku.as_str())
                    .bind(product.name.as_str())
                    .bind(product.price_minor)
                    .bind(product.currency.as_str())
                    .bind(product.active)
                    .bind(time(*at))
                    .bind(event_id)
                    .bind(time(now))
                    .execute(&mut *conn)
                    .await
                    .map(|_| ()),
                Plan::Stock(stock, at) => sqlx::query(STOCK)
                    .bind(stock.sku.as_str())
                    .bind(stock.warehouse.as_ref().map_or("", |w| w.as_str()))
                    .bind(i64::from(stock.available))
                    .bind(time(*at))
                    .bind(event_id)
                    .bind(time(now))
                    .execute(&mut *conn)
                    .await
                    .map(|_| ()),
                Plan::Contact(contact, at) => sqlx::query(CUSTOMER)
                    .bind(contact.customer_id.to_string())
                    .bind(sealed.as_ref().map(|(name, ..)| name.as_str()))
                    .bind(sealed.as_ref().map(|(_, email, _)| email.as_str()))
                    .bind(sealed.as_ref().and_then(|(.., phone)| phone.as_deref()))
                    .bind(time(*at))
                    .bind(event_id)
                    .bind(time(now))
                    .execute(&mut *conn)
                    .await
                    .map(|_| ()),
                _ => Ok(()),
            }
        });
        if let Err(error) = written {
            tx.rollback().await?;
            return Err(sql::error("writing a partner row")(error).into());
        }
        let done = Finish {
            status: DeliveryStatus::Done,
            next_attempt_at: None,
            error: None,
        };
        if !self.inbox.finish_in(&mut tx, claimed, &done, now).await? {
            tx.rollback().await?;
            return Ok(Outcome::LostClaim);
        }
        tx.commit().await?;
        Ok(Outcome::Done)
    }
}
