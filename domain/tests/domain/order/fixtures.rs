//! Builders of order commands and events, and the histories that reach each state.

use domain::{
    order::{
        OrderCancelled, OrderCommand, OrderCompleted, OrderEvent, OrderLine, OrderOverpaid,
        OrderPaymentClosed, OrderPaymentRecorded, OrderPaymentRequested, OrderPlaced,
        OrderRefundRecorded, OrderShipmentAllocated, PaymentDue, PlaceOrder, ShipmentRef,
    },
    shipment::ShipmentLine,
    Address, CountryCode, Currency, Money, PaymentId, ShipmentId,
};

use crate::support::{
    customer_id, eur, ext, now, order_id, payment_id, qty, shipment_id, sku, text,
};

// ---- builders -------------------------------------------------------------------------------

pub fn address() -> Address {
    Address {
        recipient: text("Ana Lima"),
        line1: text("Hauptstrasse 1"),
        line2: None,
        postal_code: Some(text("10115")),
        city: text("Berlin"),
        country: CountryCode::parse("DE").unwrap(),
    }
}

/// Two mugs at 10.00 and one teapot at 30.00: 50.00 EUR.
pub fn place() -> PlaceOrder {
    PlaceOrder {
        order_id: order_id(),
        customer_id: customer_id(),
        currency: Currency::EUR,
        lines: vec![
            OrderLine {
                sku: sku("MUG"),
                name: text("Mug"),
                quantity: qty(2),
                unit_price: eur(1_000),
            },
            OrderLine {
                sku: sku("TEAPOT"),
                name: text("Teapot"),
                quantity: qty(1),
                unit_price: eur(3_000),
            },
        ],
        shipping_address: address(),
        external_reference: Some(ext("SHOP-1001")),
    }
}

pub fn placed() -> OrderEvent {
    let place = place();
    OrderEvent::OrderPlaced(OrderPlaced {
        order_id: place.order_id,
        customer_id: place.customer_id,
        currency: place.currency,
        lines: place.lines,
        shipping_address: place.shipping_address,
        external_reference: place.external_reference,
        total: eur(5_000),
        placed_at: now(),
    })
}

pub fn line(code: &str, n: u32) -> ShipmentLine {
    ShipmentLine {
        sku: sku(code),
        quantity: qty(n),
    }
}

pub fn requested(payment: PaymentId, amount: i64) -> OrderEvent {
    OrderEvent::OrderPaymentRequested(OrderPaymentRequested {
        payment_id: payment,
        amount: eur(amount),
    })
}

pub fn paid(payment: PaymentId, amount: i64, captured_total: i64) -> OrderEvent {
    OrderEvent::OrderPaymentRecorded(OrderPaymentRecorded {
        payment_id: payment,
        amount: eur(amount),
        captured_total: eur(captured_total),
    })
}

pub fn refunded(payment: PaymentId, amount: i64, refunded_total: i64) -> OrderEvent {
    OrderEvent::OrderRefundRecorded(OrderRefundRecorded {
        payment_id: payment,
        amount: eur(amount),
        refunded_total: eur(refunded_total),
    })
}

pub fn closed(payment: PaymentId) -> OrderEvent {
    OrderEvent::OrderPaymentClosed(OrderPaymentClosed {
        payment_id: payment,
    })
}

pub fn overpaid(paid: i64, due: i64) -> OrderEvent {
    OrderEvent::OrderOverpaid(OrderOverpaid {
        paid: eur(paid),
        due: eur(due),
        excess: eur(paid - due),
    })
}

pub fn allocated(shipment: ShipmentId, lines: Vec<ShipmentLine>) -> OrderEvent {
    OrderEvent::OrderShipmentAllocated(OrderShipmentAllocated {
        shipment_id: shipment,
        lines,
    })
}

pub fn shipment_ref(shipment: ShipmentId) -> ShipmentRef {
    ShipmentRef {
        shipment_id: shipment,
    }
}

pub fn released(s: ShipmentId) -> OrderEvent {
    OrderEvent::OrderAllocationReleased(shipment_ref(s))
}

pub fn dispatched(s: ShipmentId) -> OrderEvent {
    OrderEvent::OrderShipmentDispatched(shipment_ref(s))
}

pub fn delivered(s: ShipmentId) -> OrderEvent {
    OrderEvent::OrderShipmentDelivered(shipment_ref(s))
}

pub fn returned(s: ShipmentId) -> OrderEvent {
    OrderEvent::OrderShipmentReturned(shipment_ref(s))
}

pub fn cancelled(
    refunds: Vec<(PaymentId, i64)>,
    voids: Vec<PaymentId>,
    ships: Vec<ShipmentId>,
) -> OrderEvent {
    OrderEvent::OrderCancelled(OrderCancelled {
        reason: text("customer changed their mind"),
        refunds_due: refunds
            .into_iter()
            .map(|(payment_id, amount)| PaymentDue {
                payment_id,
                amount: eur(amount),
            })
            .collect(),
        voids_due: voids,
        shipments_to_cancel: ships,
        cancelled_at: now(),
    })
}

pub fn completed() -> OrderEvent {
    OrderEvent::OrderCompleted(OrderCompleted {
        completed_at: now(),
    })
}

pub fn cancel() -> OrderCommand {
    OrderCommand::CancelOrder {
        reason: text("customer changed their mind"),
    }
}

pub fn allocate(shipment: ShipmentId, lines: Vec<ShipmentLine>) -> OrderCommand {
    OrderCommand::AllocateShipment {
        shipment_id: shipment,
        lines,
    }
}

pub fn record_payment(payment: PaymentId, captured_total: Money) -> OrderCommand {
    OrderCommand::RecordPayment {
        payment_id: payment,
        captured_total,
    }
}

pub fn record_refund(payment: PaymentId, refunded_total: Money) -> OrderCommand {
    OrderCommand::RecordRefund {
        payment_id: payment,
        refunded_total,
    }
}

// ---- the states an order meets ----------------------------------------------------------------

pub fn p1() -> PaymentId {
    payment_id(1)
}
pub fn p2() -> PaymentId {
    payment_id(2)
}
pub fn s1() -> ShipmentId {
    shipment_id(1)
}
pub fn s2() -> ShipmentId {
    shipment_id(2)
}

pub fn h_placed() -> Vec<OrderEvent> {
    vec![placed()]
}
pub fn h_paid() -> Vec<OrderEvent> {
    vec![placed(), paid(p1(), 5_000, 5_000)]
}
pub fn h_allocated() -> Vec<OrderEvent> {
    vec![placed(), allocated(s1(), vec![line("MUG", 2)])]
}
pub fn h_dispatched() -> Vec<OrderEvent> {
    [h_allocated(), vec![dispatched(s1())]].concat()
}
pub fn h_delivered() -> Vec<OrderEvent> {
    [h_dispatched(), vec![delivered(s1())]].concat()
}
pub fn h_returned() -> Vec<OrderEvent> {
    [h_delivered(), vec![returned(s1())]].concat()
}
pub fn h_released() -> Vec<OrderEvent> {
    [h_allocated(), vec![released(s1())]].concat()
}
pub fn h_cancelled() -> Vec<OrderEvent> {
    vec![placed(), cancelled(vec![], vec![], vec![])]
}
pub fn h_cancelled_allocated() -> Vec<OrderEvent> {
    [h_allocated(), vec![cancelled(vec![], vec![], vec![s1()])]].concat()
}
/// Paid in full and every unit delivered: ready to complete.
pub fn h_ready() -> Vec<OrderEvent> {
    vec![
        placed(),
        paid(p1(), 5_000, 5_000),
        allocated(s1(), vec![line("MUG", 2), line("TEAPOT", 1)]),
        dispatched(s1()),
        delivered(s1()),
    ]
}
pub fn h_completed() -> Vec<OrderEvent> {
    [h_ready(), vec![completed()]].concat()
}
