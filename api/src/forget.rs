//! Forgetting a customer (crypto-shredding, ADR 0028): their subject keys are destroyed, so
//! the personal fields sealed in their events read as erased everywhere, while the events,
//! their amounts, states and times, and the hash chain over them stay as they were.
//!
//! One transaction records `CustomerForgotten` (stream `customer/{id}`: who asked and when,
//! nothing personal), destroys the keys, and erases the copies kept beside the log: the CRM's
//! contact row, and the customer's names, addresses, e-mail and phone inside the webhook
//! bodies, stored API answers and partners' answers that concern the customer's orders,
//! payments and shipments (found by their ids).

use chrono::{DateTime, Utc};
use domain::CustomerId;
use eventlog::{
    on_readers, on_tx, privacy::ERASED, Append, Backend, EventLog, ExpectedVersion, LogTransaction,
    Metadata, NewEvent, StorageError, StreamId,
};
use serde::Serialize;
use serde_json::{json, Value};

/// The event recording a forget.
pub const CUSTOMER_FORGOTTEN: &str = "CustomerForgotten";

/// The stream of a customer's own events.
pub const CUSTOMER_STREAM: &str = "customer";

/// Text columns beside the log that may hold copies of a customer's personal data, and are
/// scrubbed of it where a row is the customer's: (table, column, whether the row's
/// `event_id` names one of the customer's events; otherwise, its text names one of their ids).
const COPIES: &[(&str, &str, bool)] = &[
    ("webhook_inbox", "body", false),
    ("webhook_inbox", "last_error", false),
    ("webhook_inbox_attempts", "error", false),
    ("idempotent_requests", "response_body", false),
    ("outbound_attempts", "answer", true),
    ("outbound_attempts", "error", true),
];

/// What a forget did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Forgotten {
    /// The customer.
    pub customer_id: String,
    /// The log position of the `CustomerForgotten` event.
    pub position: i64,
    /// The subject keys destroyed (0: none was left, as after an earlier forget).
    pub keys_destroyed: u64,
    /// Personal values erased from copies beside the log (webhook bodies, stored answers,
    /// the CRM's contact).
    pub copies_erased: u64,
    /// When.
    pub forgotten_at: DateTime<Utc>,
}

/// Forgets `customer`, recording `metadata` (who asked) on the event; `None` when nothing
/// is known of the customer (no order, no key, no contact from the CRM).
pub async fn forget_customer(
    log: &EventLog,
    customer: CustomerId,
    metadata: Metadata,
) -> Result<Option<Forgotten>, StorageError> {
    let customer_id = customer.to_string();
    let found = Traces::of(log, &customer_id).await?;
    let keys = texts(
        log,
        "SELECT key_id FROM subject_keys WHERE subject = $1",
        &customer_id,
    )
    .await?;
    let contact = texts(
        log,
        "SELECT customer_id FROM crm_customers WHERE customer_id = $1",
        &customer_id,
    )
    .await?;
    if found.ids.len() == 1 && keys.is_empty() && contact.is_empty() {
        return Ok(None);
    }
    let forgotten_at = Utc::now();
    let event = NewEvent::new(CUSTOMER_FORGOTTEN, 1, json!({ "customer_id": customer_id }))
        .with_metadata(metadata);
    let append = Append::new(
        StreamId::new(CUSTOMER_STREAM, &customer_id),
        ExpectedVersion::Any,
        vec![event],
    );
    let mut tx = log.begin().await?;
    let done = async {
        // On PostgreSQL the append must be the transaction's first write (ADR 0001).
        let appended = log
            .append_in(&mut tx, append)
            .await
            .map_err(|error| match error {
                eventlog::AppendError::Storage(error) => error,
                // Any version, no key: only the storage can refuse it.
                other => StorageError::Privacy(format!("recording the forget failed: {other}")),
            })?;
        let keys_destroyed = EventLog::forget_subject(&mut tx, &customer_id).await?;
        let copies_erased = found.erase(&mut tx, log.backend()).await?;
        let position = appended.events.last().map_or(0, |event| event.position);
        Ok::<_, StorageError>((position, keys_destroyed, copies_erased))
    }
    .await;
    match done {
        Ok((position, keys_destroyed, copies_erased)) => {
            tx.commit().await?;
            log.wake_subscribers();
            Ok(Some(Forgotten {
                customer_id,
                position,
                keys_destroyed,
                copies_erased,
                forgotten_at,
            }))
        }
        Err(error) => {
            tx.rollback().await?;
            Err(error)
        }
    }
}

/// What of a customer may be copied beside the log: the ids that tie a copy to them, and their
/// personal values.
#[derive(Debug, Default)]
struct Traces {
    customer_id: String,
    /// The customer's id, and their orders', payments' and shipments' ids and references.
    ids: Vec<String>,
    /// The ids of the events of the customer's orders, payments and shipments.
    event_ids: Vec<String>,
    /// Names, addresses, e-mail and phone, as written and as JSON escapes them.
    values: Vec<String>,
}

impl Traces {
    async fn of(log: &EventLog, customer_id: &str) -> Result<Self, StorageError> {
        let mut traces = Self {
            customer_id: customer_id.to_owned(),
            ids: vec![customer_id.to_owned()],
            ..Self::default()
        };
        let orders = texts(
            log,
            "SELECT order_id FROM orders WHERE customer_id = $1",
            customer_id,
        )
        .await?;
        let (mut payments, mut shipments) = (Vec::new(), Vec::new());
        for order in &orders {
            payments.extend(
                texts(
                    log,
                    "SELECT payment_id FROM payments WHERE order_id = $1",
                    order,
                )
                .await?,
            );
            shipments.extend(
                texts(
                    log,
                    "SELECT shipment_id FROM shipments WHERE order_id = $1",
                    order,
                )
                .await?,
            );
            for sql in [
                "SELECT provider_reference FROM payments WHERE order_id = $1",
                "SELECT tracking_number FROM shipments WHERE order_id = $1",
            ] {
                traces.ids.extend(texts(log, sql, order).await?);
            }
        }
        let head = log.head().await?;
        for (stream_type, ids) in [
            ("order", &orders),
            ("payment", &payments),
            ("shipment", &shipments),
        ] {
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            for event in log.read_streams(stream_type, &ids, head).await? {
                traces.event_ids.push(event.event_id.to_string());
                let placed = event.event_type == "OrderPlaced"
                    && event.payload["customer_id"].as_str() == Some(customer_id);
                if let Some(address) = event.payload["shipping_address"]
                    .as_object()
                    .filter(|_| placed)
                {
                    for field in ["recipient", "line1", "line2", "postal_code", "city"] {
                        traces.add_value(address.get(field));
                    }
                }
            }
        }
        traces
            .ids
            .extend(orders.into_iter().chain(payments).chain(shipments));
        if let Some(contact) = projections::customers::get_customer(log, customer_id).await? {
            for value in [Some(contact.name), Some(contact.email), contact.phone] {
                traces.add_value(value.map(Value::String).as_ref());
            }
        }
        traces.ids.retain(|id| !id.is_empty());
        traces.ids.sort_unstable();
        traces.ids.dedup();
        // Longest first: a value inside another (a city in a street) goes after it.
        traces
            .values
            .sort_unstable_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        traces.values.dedup();
        Ok(traces)
    }

    fn add_value(&mut self, value: Option<&Value>) {
        let Some(Value::String(text)) = value else {
            return;
        };
        if text.is_empty() || text == ERASED {
            return;
        }
        self.values.push(text.clone());
        let escaped = Value::String(text.clone()).to_string();
        let escaped = &escaped[1..escaped.len() - 1];
        if escaped != text {
            self.values.push(escaped.to_owned());
        }
    }

    /// Erases the values from every copy tied to one of the ids, and the CRM's contact row;
    /// answers how many values were erased.
    async fn erase(&self, tx: &mut LogTransaction, backend: Backend) -> Result<u64, StorageError> {
        let find = match backend {
            Backend::Postgres => "strpos",
            Backend::Sqlite => "instr",
        };
        let mut erased = 0;
        for &(table, column, by_event) in COPIES {
            let ties = if by_event { &self.event_ids } else { &self.ids };
            if ties.is_empty() {
                continue;
            }
            let tied: Vec<String> = (0..ties.len())
                .map(|n| match by_event {
                    true => format!("event_id = ${}", n + 2),
                    false => format!("{find}({column}, ${}) > 0", n + 2),
                })
                .collect();
            let sql = format!(
                "UPDATE {table} SET {column} = replace({column}, $1, '{ERASED}') \
                 WHERE {find}({column}, $1) > 0 AND ({})",
                tied.join(" OR ")
            );
            for value in &self.values {
                erased += on_tx!(&mut *tx, |conn, _time| {
                    let mut query = sqlx::query(&sql).bind(value);
                    for id in ties {
                        query = query.bind(id);
                    }
                    query
                        .execute(&mut *conn)
                        .await
                        .map(|done| done.rows_affected())
                })
                .map_err(|source| StorageError::Database {
                    context: "erasing copies of personal data",
                    source,
                })?;
            }
        }
        erased += on_tx!(&mut *tx, |conn, _time| {
            sqlx::query(
                "UPDATE crm_customers SET name = $1, email = $1, phone = NULL \
                 WHERE customer_id = $2 AND email <> $1",
            )
            .bind(ERASED)
            .bind(&self.customer_id)
            .execute(&mut *conn)
            .await
            .map(|done| done.rows_affected())
        })
        .map_err(|source| StorageError::Database {
            context: "erasing the CRM's contact",
            source,
        })?;
        Ok(erased)
    }
}

/// The non-null texts `sql` answers for `param`.
async fn texts(log: &EventLog, sql: &str, param: &str) -> Result<Vec<String>, StorageError> {
    let found: Vec<Option<String>> = on_readers!(log, |pool, _time| {
        sqlx::query_scalar(sql).bind(param).fetch_all(pool).await
    })
    .map_err(|source| StorageError::Database {
        context: "finding a customer's traces",
        source,
    })?;
    Ok(found.into_iter().flatten().collect())
}
