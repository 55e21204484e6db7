//! Builders of order commands and events, and the histories that reach each state.

use domain::{
    order::{
        FulfillmentStatus, Order, OrderCancelled, OrderCommand, OrderCompleted, OrderEvent,
        OrderLine, OrderOverpaid, OrderPaymentClosed, OrderPaymentRecorded, OrderPaymentRequested,
        OrderPaymentStatus, OrderPlaced, OrderRefundRecorded, OrderShipmentAllocated, OrderStatus,
        PaymentDue, PlaceOrder, ShipmentRef,
    },
    shipment::ShipmentLine,
    Address, CountryCode, Currency, Decider, Money, PaymentId, ShipmentId,
};

use crate::support::{
    code, customer_id, eur, ext, now, order_id, payment_id, qty, shipment_id, sku, text, Outcome,
};

pub type O = Outcome<Order>;

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
        carrier: code("dhl"),
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
        carrier: code("dhl"),
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
pub fn h_payment_open() -> Vec<OrderEvent> {
    vec![placed(), requested(p1(), 5_000)]
}
pub fn h_payment_closed() -> Vec<OrderEvent> {
    [h_payment_open(), vec![closed(p1())]].concat()
}
pub fn h_partially_paid() -> Vec<OrderEvent> {
    [h_payment_open(), vec![paid(p1(), 2_000, 2_000)]].concat()
}
pub fn h_paid() -> Vec<OrderEvent> {
    vec![placed(), paid(p1(), 5_000, 5_000)]
}
pub fn h_partially_refunded() -> Vec<OrderEvent> {
    [h_paid(), vec![refunded(p1(), 1_000, 1_000)]].concat()
}
pub fn h_refunded() -> Vec<OrderEvent> {
    [h_paid(), vec![refunded(p1(), 5_000, 5_000)]].concat()
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
/// Every unit in one shipment, dispatched.
pub fn h_shipped() -> Vec<OrderEvent> {
    vec![
        placed(),
        allocated(s1(), vec![line("MUG", 2), line("TEAPOT", 1)]),
        dispatched(s1()),
    ]
}
/// Every unit delivered, nothing paid.
pub fn h_delivered_all() -> Vec<OrderEvent> {
    [h_shipped(), vec![delivered(s1())]].concat()
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
/// Cancelled after a full capture and an allocation: the refund and the shipment are owed.
pub fn h_cancelled_paid() -> Vec<OrderEvent> {
    vec![
        placed(),
        paid(p1(), 5_000, 5_000),
        allocated(s1(), vec![line("MUG", 2)]),
        cancelled(vec![(p1(), 5_000)], vec![], vec![s1()]),
    ]
}
/// Paid in full and every unit delivered: ready to complete.
pub fn h_ready() -> Vec<OrderEvent> {
    [h_paid(), h_delivered_all()[1..].to_vec()].concat()
}
pub fn h_completed() -> Vec<OrderEvent> {
    [h_ready(), vec![completed()]].concat()
}

/// Every state an order meets, with the history that reaches it: its status, its payment
/// status (and whether a payment is open or closed), its fulfillment status (and where shipment
/// `s1` stands, for the shipment commands).
pub fn states() -> Vec<(&'static str, Vec<OrderEvent>)> {
    vec![
        ("not placed", vec![]),
        ("placed", h_placed()),
        ("payment open", h_payment_open()),
        ("payment closed", h_payment_closed()),
        ("partially paid", h_partially_paid()),
        ("paid", h_paid()),
        ("partially refunded", h_partially_refunded()),
        ("refunded", h_refunded()),
        ("allocated", h_allocated()),
        ("released", h_released()),
        ("partially shipped", h_dispatched()),
        ("shipped", h_shipped()),
        ("partially delivered", h_delivered()),
        ("delivered, unpaid", h_delivered_all()),
        ("returned", h_returned()),
        ("paid and delivered", h_ready()),
        ("cancelled", h_cancelled()),
        ("cancelled, paid and allocated", h_cancelled_paid()),
        ("completed", h_completed()),
    ]
}

/// How many states `states()` lists.
pub const STATES: usize = 19;

/// Pairs each state of `states()` with its expected outcome, in the same order.
pub fn table(outcomes: [O; STATES]) -> Vec<(&'static str, Vec<OrderEvent>, O)> {
    states()
        .into_iter()
        .zip(outcomes)
        .map(|((name, history), outcome)| (name, history, outcome))
        .collect()
}

#[test]
pub fn each_state_history_reaches_its_status() {
    use FulfillmentStatus as F;
    use OrderPaymentStatus as P;
    use OrderStatus as S;
    let expected: [Option<(S, P, F)>; STATES] = [
        None,
        Some((S::Placed, P::Unpaid, F::Unfulfilled)),
        Some((S::Placed, P::Unpaid, F::Unfulfilled)),
        Some((S::Placed, P::Unpaid, F::Unfulfilled)),
        Some((S::Placed, P::PartiallyPaid, F::Unfulfilled)),
        Some((S::Placed, P::Paid, F::Unfulfilled)),
        Some((S::Placed, P::PartiallyRefunded, F::Unfulfilled)),
        Some((S::Placed, P::Refunded, F::Unfulfilled)),
        Some((S::Placed, P::Unpaid, F::Unfulfilled)),
        Some((S::Placed, P::Unpaid, F::Unfulfilled)),
        Some((S::Placed, P::Unpaid, F::PartiallyShipped)),
        Some((S::Placed, P::Unpaid, F::Shipped)),
        Some((S::Placed, P::Unpaid, F::PartiallyDelivered)),
        Some((S::Placed, P::Unpaid, F::Delivered)),
        Some((S::Placed, P::Unpaid, F::Returned)),
        Some((S::Placed, P::Paid, F::Delivered)),
        Some((S::Cancelled, P::Unpaid, F::Unfulfilled)),
        Some((S::Cancelled, P::Paid, F::Unfulfilled)),
        Some((S::Completed, P::Paid, F::Delivered)),
    ];
    let states = states();
    assert_eq!(states.len(), STATES);
    for ((name, history), want) in states.into_iter().zip(expected) {
        let got =
            Order::fold(&history).map(|o| (o.status, o.payment_status(), o.fulfillment_status()));
        assert_eq!(got, want, "{name}");
    }
    let open = Order::fold(&h_payment_open()).unwrap().open_payments();
    assert_eq!(open, vec![p1()]);
    assert!(Order::fold(&h_payment_closed())
        .unwrap()
        .open_payments()
        .is_empty());
}
