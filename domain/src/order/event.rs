//! What happened to an order. Each payload struct is the stored JSON of its event type.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::OrderLine;
use crate::{
    shipment::ShipmentLine, Address, Code, Currency, CustomerId, ExternalRef, Money, NonEmptyText,
    OrderId, PaymentId, ShipmentId,
};

/// An event of the order stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    /// The order was placed.
    OrderPlaced(OrderPlaced),
    /// The order was cancelled; the payload says what the payments must undo.
    OrderCancelled(OrderCancelled),
    /// A payment was requested for it.
    OrderPaymentRequested(OrderPaymentRequested),
    /// A payment captured more money.
    OrderPaymentRecorded(OrderPaymentRecorded),
    /// A payment refunded more money.
    OrderRefundRecorded(OrderRefundRecorded),
    /// A payment failed or was voided.
    OrderPaymentClosed(OrderPaymentClosed),
    /// More money arrived than the order is due: flagged so that someone refunds it.
    OrderOverpaid(OrderOverpaid),
    /// Quantities were reserved for a shipment.
    OrderShipmentAllocated(OrderShipmentAllocated),
    /// A shipment's quantities were given back.
    OrderAllocationReleased(ShipmentRef),
    /// A shipment left.
    OrderShipmentDispatched(ShipmentRef),
    /// A shipment was delivered.
    OrderShipmentDelivered(ShipmentRef),
    /// A shipment came back.
    OrderShipmentReturned(ShipmentRef),
    /// The order is fully paid and delivered, and closed.
    OrderCompleted(OrderCompleted),
    /// The ERP issued an invoice for it.
    OrderInvoiced(OrderInvoiced),
    /// The ERP created the order's sales order.
    OrderSalesOrderRecorded(OrderSalesOrderRecorded),
}

/// Payload of `OrderPlaced` (version 2; version 1 lines had a bare `price` in minor units and
/// there was no `total`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPlaced {
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
    /// When.
    pub placed_at: DateTime<Utc>,
}

/// Payload of `OrderCancelled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// Why.
    pub reason: NonEmptyText,
    /// Captured money to give back, per payment.
    pub refunds_due: Vec<PaymentDue>,
    /// Payments that captured nothing and must be voided.
    pub voids_due: Vec<PaymentId>,
    /// Shipments allocated but not dispatched, to be cancelled.
    pub shipments_to_cancel: Vec<ShipmentId>,
    /// When.
    pub cancelled_at: DateTime<Utc>,
}

/// An amount owed back on one payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDue {
    /// The payment.
    pub payment_id: PaymentId,
    /// How much.
    pub amount: Money,
}

/// Payload of `OrderPaymentRequested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPaymentRequested {
    /// The payment.
    pub payment_id: PaymentId,
    /// How much it asks for.
    pub amount: Money,
}

/// Payload of `OrderPaymentRecorded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPaymentRecorded {
    /// The payment.
    pub payment_id: PaymentId,
    /// The newly captured amount.
    pub amount: Money,
    /// Everything this payment captured so far.
    pub captured_total: Money,
}

/// Payload of `OrderRefundRecorded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRefundRecorded {
    /// The payment.
    pub payment_id: PaymentId,
    /// The newly refunded amount.
    pub amount: Money,
    /// Everything this payment refunded so far.
    pub refunded_total: Money,
}

/// Payload of `OrderPaymentClosed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPaymentClosed {
    /// The payment.
    pub payment_id: PaymentId,
}

/// Payload of `OrderOverpaid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderOverpaid {
    /// Captured minus refunded, over all payments.
    pub paid: Money,
    /// What the order is due: its total, or zero once cancelled.
    pub due: Money,
    /// `paid - due`.
    pub excess: Money,
}

/// Payload of `OrderShipmentAllocated`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderShipmentAllocated {
    /// The shipment to be created.
    pub shipment_id: ShipmentId,
    /// The carrier that will carry it.
    pub carrier: Code,
    /// The quantities reserved for it.
    pub lines: Vec<ShipmentLine>,
}

/// Payload of the events that only name a shipment (released, dispatched, delivered, returned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentRef {
    /// The shipment.
    pub shipment_id: ShipmentId,
}

/// Payload of `OrderCompleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCompleted {
    /// When.
    pub completed_at: DateTime<Utc>,
}

/// Payload of `OrderSalesOrderRecorded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSalesOrderRecorded {
    /// The ERP's sales-order number.
    pub sales_order_number: ExternalRef,
    /// When the ERP's answer was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// Payload of `OrderInvoiced`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderInvoiced {
    /// The ERP's invoice number.
    pub invoice_number: ExternalRef,
    /// When the ERP issued it.
    pub issued_at: DateTime<Utc>,
    /// The invoiced total.
    pub total: Money,
}
