//! What may be asked of an order: by operators through the API, and by the process managers
//! that report what payments and shipments did.

use chrono::{DateTime, Utc};

use super::OrderLine;
use crate::{
    shipment::ShipmentLine, Address, Code, Currency, CustomerId, ExternalRef, Money, NonEmptyText,
    OrderId, PaymentId, ShipmentId,
};

/// A command to an order.
/// Its name (`snake_case` of the variant) labels the command in metrics.
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum OrderCommand {
    /// Place a new order.
    PlaceOrder(PlaceOrder),
    /// Cancel the order; refunds and voids follow through the payments.
    CancelOrder {
        /// Why.
        reason: NonEmptyText,
    },
    /// Note that a payment was requested for this order (so a cancel knows what to void).
    RecordPaymentRequested {
        /// The payment.
        payment_id: PaymentId,
        /// How much it asks for.
        amount: Money,
    },
    /// Report how much a payment has captured so far (a running total, not a delta).
    RecordPayment {
        /// The payment.
        payment_id: PaymentId,
        /// Everything it captured so far.
        captured_total: Money,
    },
    /// Report how much a payment has refunded so far (a running total, not a delta).
    RecordRefund {
        /// The payment.
        payment_id: PaymentId,
        /// Everything it refunded so far.
        refunded_total: Money,
    },
    /// Report that a payment failed or was voided and will collect nothing.
    RecordPaymentClosed {
        /// The payment.
        payment_id: PaymentId,
    },
    /// Reserve quantities of some lines for a new shipment.
    AllocateShipment {
        /// The shipment to be created for these lines.
        shipment_id: ShipmentId,
        /// The carrier that will carry it.
        carrier: Code,
        /// Which quantities of which skus.
        lines: Vec<ShipmentLine>,
    },
    /// Give back a shipment's quantities (the shipment was cancelled).
    ReleaseAllocation {
        /// The shipment.
        shipment_id: ShipmentId,
    },
    /// Report that a shipment left.
    RecordShipmentDispatched {
        /// The shipment.
        shipment_id: ShipmentId,
    },
    /// Report that a shipment was delivered.
    RecordShipmentDelivered {
        /// The shipment.
        shipment_id: ShipmentId,
    },
    /// Report that a shipment came back.
    RecordShipmentReturned {
        /// The shipment.
        shipment_id: ShipmentId,
    },
    /// Close the order once it is fully paid and fully delivered.
    CompleteOrder,
    /// Attach an invoice the ERP issued (a fact the ERP owns; it changes nothing else).
    RecordInvoice {
        /// The ERP's invoice number; the same number twice is recorded once.
        invoice_number: ExternalRef,
        /// When the ERP issued it.
        issued_at: DateTime<Utc>,
        /// The invoiced total, in the order's currency.
        total: Money,
    },
    /// Attach the number the ERP gave the order's sales order (a fact the ERP owns).
    RecordSalesOrder {
        /// The ERP's sales-order number; the same number again changes nothing.
        sales_order_number: ExternalRef,
    },
}

/// The details of a new order. Prices are the ones the customer agreed to; the catalog may
/// change later, the order keeps these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    /// The new order's id.
    pub order_id: OrderId,
    /// Who ordered.
    pub customer_id: CustomerId,
    /// The currency of every price and payment.
    pub currency: Currency,
    /// What was ordered; each sku at most once.
    pub lines: Vec<OrderLine>,
    /// Where it goes.
    pub shipping_address: Address,
    /// The id the order has in the shop or ERP that sent it.
    pub external_reference: Option<ExternalRef>,
}
