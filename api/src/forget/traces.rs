//! What a customer left, found in the log itself (read models may lag): their orders (by the
//! `customer_id` of `OrderPlaced`), those orders' payments and shipments (by the order's
//! events), the references partners know them by, the ids of all their events, and the
//! personal values to erase from copies (the shipping addresses as the log opens them, the
//! CRM's contact).

use eventlog::{privacy::ERASED, Backend, EventLog, StorageError};
use serde_json::Value;

use super::texts;

/// References shorter than this (a tracking number typed as `123`) tie nothing: they could
/// stand in anyone's text.
const SHORTEST_TIE: usize = 8;

/// What of a customer may be copied beside the log.
#[derive(Debug, Default)]
pub(super) struct Traces {
    pub(super) customer_id: String,
    /// How many orders they placed.
    pub(super) orders: usize,
    /// Whether the CRM sent their contact.
    pub(super) contact: bool,
    /// Texts that tie a copy to the customer: theirs, their orders', payments' and shipments'
    /// ids (UUIDs), and partners' references of at least [`SHORTEST_TIE`] characters.
    pub(super) ids: Vec<String>,
    /// The ids of the events of their orders, payments and shipments.
    pub(super) event_ids: Vec<String>,
    /// Their names, address lines, e-mail and phone, longest first.
    pub(super) values: Vec<String>,
}

impl Traces {
    /// The traces of `customer_id`.
    pub(super) async fn of(log: &EventLog, customer_id: &str) -> Result<Self, StorageError> {
        let mut traces = Self {
            customer_id: customer_id.to_owned(),
            ids: vec![customer_id.to_owned()],
            ..Self::default()
        };
        let placed = match log.backend() {
            Backend::Postgres => {
                "SELECT aggregate_id FROM events WHERE aggregate_type = 'order' \
                 AND event_type = 'OrderPlaced' AND payload ->> 'customer_id' = $1"
            }
            Backend::Sqlite => {
                "SELECT aggregate_id FROM events WHERE aggregate_type = 'order' \
                 AND event_type = 'OrderPlaced' AND json_extract(payload, '$.customer_id') = $1"
            }
        };
        let orders = texts(log, placed, customer_id).await?;
        traces.orders = orders.len();
        let head = log.head().await?;
        let (mut payments, mut shipments) = (Vec::new(), Vec::new());
        for event in read(log, "order", &orders, head).await? {
            traces.event_ids.push(event.event_id.to_string());
            let payload = &event.payload;
            match event.event_type.as_str() {
                "OrderPlaced" => {
                    for field in ["recipient", "line1", "line2", "postal_code", "city"] {
                        traces.add_value(payload["shipping_address"].get(field));
                    }
                }
                "OrderPaymentRequested" => payments.extend(text(&payload["payment_id"])),
                "OrderShipmentAllocated" => shipments.extend(text(&payload["shipment_id"])),
                _ => {}
            }
        }
        for (stream_type, ids, references) in [
            (
                "payment",
                &payments,
                &["reference", "provider_reference"][..],
            ),
            ("shipment", &shipments, &["tracking_number"][..]),
        ] {
            for event in read(log, stream_type, ids, head).await? {
                traces.event_ids.push(event.event_id.to_string());
                for reference in references {
                    traces.ids.extend(
                        text(&event.payload[*reference]).filter(|r| r.len() >= SHORTEST_TIE),
                    );
                }
            }
        }
        traces
            .ids
            .extend(orders.into_iter().chain(payments).chain(shipments));
        traces.ids.sort_unstable();
        traces.ids.dedup();
        traces.event_ids.sort_unstable();
        traces.event_ids.dedup();
        if let Some(contact) = projections::customers::get_customer(log, customer_id).await? {
            traces.contact = true;
            for value in [Some(contact.name), Some(contact.email), contact.phone] {
                traces.add_value(value.map(Value::String).as_ref());
            }
        }
        // Longest first: a value inside another (a city in a street) goes after it.
        traces
            .values
            .sort_unstable_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        traces.values.dedup();
        Ok(traces)
    }

    fn add_value(&mut self, value: Option<&Value>) {
        if let Some(text) = value.and_then(Value::as_str) {
            let text = text.trim();
            if !text.is_empty() && text != ERASED {
                self.values.push(text.to_owned());
            }
        }
    }
}

/// The events of the `stream_type` streams `ids`, up to `head`.
async fn read(
    log: &EventLog,
    stream_type: &str,
    ids: &[String],
    head: i64,
) -> Result<Vec<eventlog::RecordedEvent>, StorageError> {
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    log.read_streams(stream_type, &ids, head).await
}

fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}
