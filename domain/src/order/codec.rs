//! Stored form of order events, with the upcaster for `OrderPlaced` version 1.
//!
//! `OrderPlaced` v1 stored each line's price as `"price": <minor units>` in the order's currency
//! and no order `total`. v2 stores `unit_price` as money and the `total`; the upcaster rebuilds
//! both from the v1 fields with checked arithmetic.

use serde::Deserialize;
use serde_json::Value;

use super::{OrderEvent, OrderLine, OrderPlaced, AGGREGATE_TYPE};
use crate::{
    codec::{event_codec, from_payload, DecodeError, PersonalData},
    Address, Currency, CustomerId, ExternalRef, Money, NonEmptyText, OrderId, Quantity, Sku,
};

event_codec! {
    OrderEvent, AGGREGATE_TYPE,
    current {
        OrderPlaced => "OrderPlaced" v 2,
        OrderCancelled => "OrderCancelled" v 1,
        OrderPaymentRequested => "OrderPaymentRequested" v 1,
        OrderPaymentRecorded => "OrderPaymentRecorded" v 1,
        OrderRefundRecorded => "OrderRefundRecorded" v 1,
        OrderPaymentClosed => "OrderPaymentClosed" v 1,
        OrderOverpaid => "OrderOverpaid" v 1,
        OrderShipmentAllocated => "OrderShipmentAllocated" v 1,
        OrderAllocationReleased => "OrderAllocationReleased" v 1,
        OrderShipmentDispatched => "OrderShipmentDispatched" v 1,
        OrderShipmentDelivered => "OrderShipmentDelivered" v 1,
        OrderShipmentReturned => "OrderShipmentReturned" v 1,
        OrderCompleted => "OrderCompleted" v 1,
        OrderInvoiced => "OrderInvoiced" v 1,
        OrderSalesOrderRecorded => "OrderSalesOrderRecorded" v 1,
    }
    older {
        ("OrderPlaced", 1) => |t, v, payload: &Value| {
            upcast_placed_v1(from_payload(t, v, payload)?).map(OrderEvent::OrderPlaced)
        },
    }
    personal {
        OrderPlaced => |placed: &OrderPlaced| PersonalData {
            subject: placed.customer_id.to_string(),
            fields: SHIPPING_ADDRESS,
        },
    }
}

/// The personal fields of `OrderPlaced`: whom and where it goes to. The country stays in
/// clear, for tax and reporting.
const SHIPPING_ADDRESS: &[&str] = &[
    "/shipping_address/recipient",
    "/shipping_address/line1",
    "/shipping_address/line2",
    "/shipping_address/postal_code",
    "/shipping_address/city",
];

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
