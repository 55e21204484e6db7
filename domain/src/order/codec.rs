//! Stored form of order events, with the upcaster for `OrderPlaced` version 1.
//!
//! `OrderPlaced` v1 stored each line's price as `"price": <minor units>` in the order's currency
//! and no order `total`. v2 stores `unit_price` as money and the `total`; the upcaster rebuilds
//! both from the v1 fields with checked arithmetic.

use serde::Deserialize;
use serde_json::Value;

use super::{OrderEvent, OrderLine, OrderPlaced, AGGREGATE_TYPE};
use crate::{
    codec::{from_payload, to_payload, unknown, unsupported, DecodeError, EventCodec, StoredEvent},
    Address, Currency, CustomerId, ExternalRef, Money, NonEmptyText, OrderId, Quantity, Sku,
};

/// Every order event type with its current version.
pub const EVENT_TYPES: [(&str, i32); 14] = [
    ("OrderPlaced", 2),
    ("OrderCancelled", 1),
    ("OrderPaymentRequested", 1),
    ("OrderPaymentRecorded", 1),
    ("OrderRefundRecorded", 1),
    ("OrderPaymentClosed", 1),
    ("OrderOverpaid", 1),
    ("OrderShipmentAllocated", 1),
    ("OrderAllocationReleased", 1),
    ("OrderShipmentDispatched", 1),
    ("OrderShipmentDelivered", 1),
    ("OrderShipmentReturned", 1),
    ("OrderCompleted", 1),
    ("OrderInvoiced", 1),
];

/// The stored form of `event` at its current version.
pub fn encode(event: &OrderEvent) -> StoredEvent {
    use OrderEvent as E;
    let (event_type, event_version, payload) = match event {
        E::OrderPlaced(p) => ("OrderPlaced", 2, to_payload(p)),
        E::OrderCancelled(p) => ("OrderCancelled", 1, to_payload(p)),
        E::OrderPaymentRequested(p) => ("OrderPaymentRequested", 1, to_payload(p)),
        E::OrderPaymentRecorded(p) => ("OrderPaymentRecorded", 1, to_payload(p)),
        E::OrderRefundRecorded(p) => ("OrderRefundRecorded", 1, to_payload(p)),
        E::OrderPaymentClosed(p) => ("OrderPaymentClosed", 1, to_payload(p)),
        E::OrderOverpaid(p) => ("OrderOverpaid", 1, to_payload(p)),
        E::OrderShipmentAllocated(p) => ("OrderShipmentAllocated", 1, to_payload(p)),
        E::OrderAllocationReleased(p) => ("OrderAllocationReleased", 1, to_payload(p)),
        E::OrderShipmentDispatched(p) => ("OrderShipmentDispatched", 1, to_payload(p)),
        E::OrderShipmentDelivered(p) => ("OrderShipmentDelivered", 1, to_payload(p)),
        E::OrderShipmentReturned(p) => ("OrderShipmentReturned", 1, to_payload(p)),
        E::OrderCompleted(p) => ("OrderCompleted", 1, to_payload(p)),
        E::OrderInvoiced(p) => ("OrderInvoiced", 1, to_payload(p)),
    };
    StoredEvent {
        event_type,
        event_version,
        payload,
    }
}

/// Reads a stored order event of any supported version.
pub fn decode(
    event_type: &str,
    event_version: i32,
    payload: &Value,
) -> Result<OrderEvent, DecodeError> {
    use OrderEvent as E;
    let (t, v) = (event_type, event_version);
    Ok(match (event_type, event_version) {
        ("OrderPlaced", 1) => E::OrderPlaced(upcast_placed_v1(from_payload(t, v, payload)?)?),
        ("OrderPlaced", 2) => E::OrderPlaced(from_payload(t, v, payload)?),
        ("OrderCancelled", 1) => E::OrderCancelled(from_payload(t, v, payload)?),
        ("OrderPaymentRequested", 1) => E::OrderPaymentRequested(from_payload(t, v, payload)?),
        ("OrderPaymentRecorded", 1) => E::OrderPaymentRecorded(from_payload(t, v, payload)?),
        ("OrderRefundRecorded", 1) => E::OrderRefundRecorded(from_payload(t, v, payload)?),
        ("OrderPaymentClosed", 1) => E::OrderPaymentClosed(from_payload(t, v, payload)?),
        ("OrderOverpaid", 1) => E::OrderOverpaid(from_payload(t, v, payload)?),
        ("OrderShipmentAllocated", 1) => E::OrderShipmentAllocated(from_payload(t, v, payload)?),
        ("OrderAllocationReleased", 1) => E::OrderAllocationReleased(from_payload(t, v, payload)?),
        ("OrderShipmentDispatched", 1) => E::OrderShipmentDispatched(from_payload(t, v, payload)?),
        ("OrderShipmentDelivered", 1) => E::OrderShipmentDelivered(from_payload(t, v, payload)?),
        ("OrderShipmentReturned", 1) => E::OrderShipmentReturned(from_payload(t, v, payload)?),
        ("OrderCompleted", 1) => E::OrderCompleted(from_payload(t, v, payload)?),
        ("OrderInvoiced", 1) => E::OrderInvoiced(from_payload(t, v, payload)?),
        _ if EVENT_TYPES.iter().any(|(name, _)| *name == event_type) => {
            return Err(unsupported(event_type, event_version))
        }
        _ => return Err(unknown(event_type)),
    })
}

/// `OrderPlaced` as version 1 stored it.
#[derive(Deserialize)]
struct OrderPlacedV1 {
    order_id: OrderId,
    customer_id: CustomerId,
    currency: Currency,
    lines: Vec<OrderLineV1>,
    shipping_address: Address,
    external_reference: Option<ExternalRef>,
    placed_at: chrono::DateTime<chrono::Utc>,
}

/// A line as version 1 stored it: the price in minor units of the order's currency.
#[derive(Deserialize)]
struct OrderLineV1 {
    sku: Sku,
    name: NonEmptyText,
    quantity: Quantity,
    price: i64,
}

/// `OrderPlaced` v1 -> v2: prices become money in the order's currency; the total is summed.
fn upcast_placed_v1(old: OrderPlacedV1) -> Result<OrderPlaced, DecodeError> {
    let overflow = || DecodeError::Upcast {
        event_type: "OrderPlaced".to_owned(),
        event_version: 1,
        reason: "line total overflows",
    };
    let lines: Vec<OrderLine> = old
        .lines
        .into_iter()
        .map(|line| OrderLine {
            sku: line.sku,
            name: line.name,
            quantity: line.quantity,
            unit_price: Money::new(line.price, old.currency),
        })
        .collect();
    let line_totals = lines
        .iter()
        .map(|line| line.unit_price.checked_mul(line.quantity.get()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| overflow())?;
    let total = Money::checked_sum(old.currency, line_totals).map_err(|_| overflow())?;
    Ok(OrderPlaced {
        order_id: old.order_id,
        customer_id: old.customer_id,
        currency: old.currency,
        lines,
        shipping_address: old.shipping_address,
        external_reference: old.external_reference,
        total,
        placed_at: old.placed_at,
    })
}

impl EventCodec for OrderEvent {
    const AGGREGATE_TYPE: &'static str = AGGREGATE_TYPE;

    fn encode(&self) -> StoredEvent {
        encode(self)
    }

    fn decode(event_type: &str, event_version: i32, payload: &Value) -> Result<Self, DecodeError> {
        decode(event_type, event_version, payload)
    }
}
