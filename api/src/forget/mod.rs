//! Forgetting a customer (crypto-shredding, ADR 0028): their subject keys are destroyed, so
//! the personal fields sealed in their events read as erased everywhere, while the events,
//! their amounts, states and times, and the hash chain over them stay as they were.
//!
//! What the customer left is found in the log ([`traces`]): their orders, those orders'
//! payments and shipments, their references, and the personal values to erase. One
//! transaction then records `CustomerForgotten` (stream `customer/{id}`: who asked and when,
//! nothing personal), destroys the keys, and erases the copies kept beside the log
//! ([`scrub`]): the CRM's contact row, and the values inside the webhook bodies, stored API
//! answers and partners' answers tied to the customer's ids and events.

mod scrub;
mod traces;

use chrono::{DateTime, Utc};
use domain::CustomerId;
use eventlog::{
    on_readers, Append, EventLog, ExpectedVersion, Metadata, NewEvent, StorageError, StreamId,
};
use serde::Serialize;
use serde_json::json;

/// The event recording a forget.
pub const CUSTOMER_FORGOTTEN: &str = "CustomerForgotten";

/// The stream of a customer's own events.
pub const CUSTOMER_STREAM: &str = "customer";

/// What a forget did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Forgotten {
    /// The customer.
    pub customer_id: String,
    /// The log position of the `CustomerForgotten` event.
    pub position: i64,
    /// The subject keys destroyed (0: none was left, as after an earlier forget).
    pub keys_destroyed: u64,
    /// Rows beside the log from which the customer's personal values were erased (webhook
    /// deliveries and their attempts, stored answers, partners' answers, the CRM's contact).
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
    let found = traces::Traces::of(log, &customer_id).await?;
    let keys = texts(
        log,
        "SELECT key_id FROM subject_keys WHERE subject = $1",
        &customer_id,
    )
    .await?;
    if found.orders == 0 && !found.contact && keys.is_empty() {
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
        let copies_erased = scrub::erase(&mut tx, log.backend(), &found).await?;
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
