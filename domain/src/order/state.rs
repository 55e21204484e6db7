//! An order's state as folded from its events, the statuses derived from it, and the fold.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{OrderEvent, PaymentDue};
use crate::{
    shipment::ShipmentLine, Address, Currency, CustomerId, ExternalRef, Money, NonEmptyText,
    OrderId, PaymentId, Quantity, ShipmentId, Sku,
};

/// One ordered product at the price agreed when the order was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The product.
    pub sku: Sku,
    /// Its name as shown to the customer.
    pub name: NonEmptyText,
    /// How many.
    pub quantity: Quantity,
    /// Price of one unit, in the order's currency.
    pub unit_price: Money,
}

/// The order's lifecycle.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OrderStatus {
    /// Open.
    Placed,
    /// Fully paid and delivered, closed.
    Completed,
    /// Cancelled.
    Cancelled,
}

/// How far the order is paid.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum OrderPaymentStatus {
    /// Nothing captured.
    Unpaid,
    /// Captured less than the total.
    PartiallyPaid,
    /// Captured at least the total.
    Paid,
    /// Some of the captured money went back.
    PartiallyRefunded,
    /// All of the captured money went back.
    Refunded,
}

/// How far the order is shipped.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum FulfillmentStatus {
    /// Nothing has left.
    Unfulfilled,
    /// Some units have left.
    PartiallyShipped,
    /// Every unit has left.
    Shipped,
    /// Some units are delivered.
    PartiallyDelivered,
    /// Every unit is delivered.
    Delivered,
    /// What left came back.
    Returned,
}

/// Where one shipment of the order stands, as far as the order knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocationStatus {
    /// Quantities reserved, not yet left.
    Allocated,
    /// Left.
    Dispatched,
    /// Delivered.
    Delivered,
    /// Came back.
    Returned,
    /// Given back before leaving (the shipment was cancelled).
    Released,
}

/// Quantities reserved for one shipment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    /// What the shipment carries.
    pub lines: Vec<ShipmentLine>,
    /// Where it stands.
    pub status: AllocationStatus,
}

/// What the order knows of one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPayment {
    /// The amount asked for, once the request is recorded.
    pub requested: Option<Money>,
    /// Everything it captured so far.
    pub captured: Money,
    /// Everything it refunded so far.
    pub refunded: Money,
    /// True once it failed or was voided.
    pub closed: bool,
}

/// The state of a placed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    /// The order.
    pub order_id: OrderId,
    /// Who ordered.
    pub customer_id: CustomerId,
    /// The order's currency.
    pub currency: Currency,
    /// What was ordered.
    pub lines: Vec<OrderLine>,
    /// Where it goes.
    pub shipping_address: Address,
    /// The id in the system that sent it.
    pub external_reference: Option<ExternalRef>,
    /// The sum of the lines.
    pub total: Money,
    /// The lifecycle status.
    pub status: OrderStatus,
    /// Why it was cancelled.
    pub cancel_reason: Option<NonEmptyText>,
    /// Payments known to the order.
    pub payments: BTreeMap<PaymentId, OrderPayment>,
    /// Shipments allocated from the order.
    pub allocations: BTreeMap<ShipmentId, Allocation>,
    /// Captured over all payments.
    pub paid: Money,
    /// Refunded over all payments.
    pub refunded: Money,
    /// The latest excess flagged by `OrderOverpaid`.
    pub overpaid: Option<Money>,
    /// Invoice numbers the ERP attached, in the order they were recorded.
    pub invoices: Vec<ExternalRef>,
    /// The ERP's sales-order number, once it gave one.
    pub sales_order_number: Option<ExternalRef>,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
}

impl OrderState {
    /// Captured minus refunded.
    pub fn net_paid(&self) -> Money {
        let net = self
            .paid
            .amount_minor
            .saturating_sub(self.refunded.amount_minor);
        Money::new(net, self.currency)
    }

    /// What the order is due: its total while open or completed, nothing once cancelled.
    pub fn amount_due(&self) -> Money {
        match self.status {
            OrderStatus::Cancelled => Money::zero(self.currency),
            _ => self.total,
        }
    }

    /// How far the order is paid.
    pub fn payment_status(&self) -> OrderPaymentStatus {
        let (paid, refunded) = (self.paid.amount_minor, self.refunded.amount_minor);
        if refunded > 0 {
            if refunded >= paid {
                OrderPaymentStatus::Refunded
            } else {
                OrderPaymentStatus::PartiallyRefunded
            }
        } else if paid >= self.total.amount_minor {
            OrderPaymentStatus::Paid
        } else if paid == 0 {
            OrderPaymentStatus::Unpaid
        } else {
            OrderPaymentStatus::PartiallyPaid
        }
    }

    /// True when the captures covered the total and not everything went back. A partial
    /// refund (a goodwill gesture) does not reopen an order.
    pub fn is_fully_paid(&self) -> bool {
        self.paid.amount_minor >= self.total.amount_minor
            && (self.refunded.amount_minor < self.paid.amount_minor || self.total.is_zero())
    }

    /// How far the order is shipped, counted in units over shipments not released.
    pub fn fulfillment_status(&self) -> FulfillmentStatus {
        let ordered: u64 = self.lines.iter().map(|l| u64::from(l.quantity.get())).sum();
        let units = |wanted: &[AllocationStatus]| -> u64 {
            self.allocations
                .values()
                .filter(|a| wanted.contains(&a.status))
                .flat_map(|a| &a.lines)
                .map(|l| u64::from(l.quantity.get()))
                .sum()
        };
        let shipped = units(&[AllocationStatus::Dispatched, AllocationStatus::Delivered]);
        let delivered = units(&[AllocationStatus::Delivered]);
        let returned = units(&[AllocationStatus::Returned]);
        if returned > 0 && shipped == 0 {
            FulfillmentStatus::Returned
        } else if delivered >= ordered {
            FulfillmentStatus::Delivered
        } else if delivered > 0 {
            FulfillmentStatus::PartiallyDelivered
        } else if shipped >= ordered {
            FulfillmentStatus::Shipped
        } else if shipped > 0 {
            FulfillmentStatus::PartiallyShipped
        } else {
            FulfillmentStatus::Unfulfilled
        }
    }

    /// Units of `sku` reserved by shipments not released.
    pub fn allocated(&self, sku: &Sku) -> u64 {
        self.allocations
            .values()
            .filter(|a| a.status != AllocationStatus::Released)
            .flat_map(|a| &a.lines)
            .filter(|l| &l.sku == sku)
            .map(|l| u64::from(l.quantity.get()))
            .sum()
    }

    /// True once any shipment has left (which forbids cancelling).
    pub fn anything_dispatched(&self) -> bool {
        self.allocations.values().any(|a| {
            matches!(
                a.status,
                AllocationStatus::Dispatched
                    | AllocationStatus::Delivered
                    | AllocationStatus::Returned
            )
        })
    }

    /// Captured money not yet refunded, per payment.
    pub fn outstanding_captures(&self) -> Vec<PaymentDue> {
        self.payments
            .iter()
            .filter_map(|(payment_id, p)| {
                let open = p
                    .captured
                    .amount_minor
                    .saturating_sub(p.refunded.amount_minor);
                (open > 0).then(|| PaymentDue {
                    payment_id: *payment_id,
                    amount: Money::new(open, self.currency),
                })
            })
            .collect()
    }

    /// Payments that captured nothing and are still open.
    pub fn open_payments(&self) -> Vec<PaymentId> {
        self.payments
            .iter()
            .filter(|(_, p)| p.requested.is_some() && p.captured.is_zero() && !p.closed)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Once cancelled: the refunds still owed (empty while the order is open).
    pub fn refunds_due(&self) -> Vec<PaymentDue> {
        match self.status {
            OrderStatus::Cancelled => self.outstanding_captures(),
            _ => Vec::new(),
        }
    }

    /// Once cancelled: the payments still to void (empty while the order is open).
    pub fn voids_due(&self) -> Vec<PaymentId> {
        match self.status {
            OrderStatus::Cancelled => self.open_payments(),
            _ => Vec::new(),
        }
    }

    pub(super) fn payment(&self, payment_id: &PaymentId) -> OrderPayment {
        self.payments
            .get(payment_id)
            .cloned()
            .unwrap_or_else(|| OrderPayment {
                requested: None,
                captured: Money::zero(self.currency),
                refunded: Money::zero(self.currency),
                closed: false,
            })
    }
}

/// Applies one event to the state.
pub(super) fn evolve(state: &mut Option<OrderState>, event: &OrderEvent) {
    if let OrderEvent::OrderPlaced(placed) = event {
        let zero = Money::zero(placed.currency);
        *state = Some(OrderState {
            order_id: placed.order_id,
            customer_id: placed.customer_id,
            currency: placed.currency,
            lines: placed.lines.clone(),
            shipping_address: placed.shipping_address.clone(),
            external_reference: placed.external_reference.clone(),
            total: placed.total,
            status: OrderStatus::Placed,
            cancel_reason: None,
            payments: BTreeMap::new(),
            allocations: BTreeMap::new(),
            paid: zero,
            refunded: zero,
            overpaid: None,
            invoices: Vec::new(),
            sales_order_number: None,
            placed_at: placed.placed_at,
        });
        return;
    }
    // Events are only ever decided against a placed order.
    let Some(order) = state else { return };
    let set_allocation = |order: &mut OrderState, id: &ShipmentId, status| {
        if let Some(allocation) = order.allocations.get_mut(id) {
            allocation.status = status;
        }
    };
    match event {
        OrderEvent::OrderPlaced(_) => {}
        OrderEvent::OrderCancelled(cancelled) => {
            order.status = OrderStatus::Cancelled;
            order.cancel_reason = Some(cancelled.reason.clone());
        }
        OrderEvent::OrderPaymentRequested(requested) => {
            let mut payment = order.payment(&requested.payment_id);
            payment.requested = Some(requested.amount);
            order.payments.insert(requested.payment_id, payment);
        }
        OrderEvent::OrderPaymentRecorded(recorded) => {
            let mut payment = order.payment(&recorded.payment_id);
            payment.captured = recorded.captured_total;
            order.payments.insert(recorded.payment_id, payment);
            order.paid.amount_minor = order
                .paid
                .amount_minor
                .saturating_add(recorded.amount.amount_minor);
        }
        OrderEvent::OrderRefundRecorded(recorded) => {
            let mut payment = order.payment(&recorded.payment_id);
            payment.refunded = recorded.refunded_total;
            order.payments.insert(recorded.payment_id, payment);
            order.refunded.amount_minor = order
                .refunded
                .amount_minor
                .saturating_add(recorded.amount.amount_minor);
        }
        OrderEvent::OrderPaymentClosed(closed) => {
            let mut payment = order.payment(&closed.payment_id);
            payment.closed = true;
            order.payments.insert(closed.payment_id, payment);
        }
        OrderEvent::OrderOverpaid(overpaid) => order.overpaid = Some(overpaid.excess),
        OrderEvent::OrderShipmentAllocated(allocated) => {
            order.allocations.insert(
                allocated.shipment_id,
                Allocation {
                    lines: allocated.lines.clone(),
                    status: AllocationStatus::Allocated,
                },
            );
        }
        OrderEvent::OrderAllocationReleased(s) => {
            set_allocation(order, &s.shipment_id, AllocationStatus::Released);
        }
        OrderEvent::OrderShipmentDispatched(s) => {
            set_allocation(order, &s.shipment_id, AllocationStatus::Dispatched);
        }
        OrderEvent::OrderShipmentDelivered(s) => {
            set_allocation(order, &s.shipment_id, AllocationStatus::Delivered);
        }
        OrderEvent::OrderShipmentReturned(s) => {
            set_allocation(order, &s.shipment_id, AllocationStatus::Returned);
        }
        OrderEvent::OrderCompleted(_) => order.status = OrderStatus::Completed,
        OrderEvent::OrderInvoiced(invoiced) => {
            order.invoices.push(invoiced.invoice_number.clone());
        }
        OrderEvent::OrderSalesOrderRecorded(recorded) => {
            order.sales_order_number = Some(recorded.sales_order_number.clone());
        }
    }
}
