//! The order's rules: which events each command causes in each status.

use std::collections::BTreeSet;

use super::{
    AllocationStatus, FulfillmentStatus, OrderCancelled, OrderCommand, OrderCompleted, OrderError,
    OrderEvent, OrderInvoiced, OrderOverpaid, OrderPaymentClosed, OrderPaymentRecorded,
    OrderPaymentRequested, OrderPlaced, OrderRefundRecorded, OrderSalesOrderRecorded,
    OrderShipmentAllocated, OrderState, OrderStatus, PlaceOrder, ShipmentRef,
};
use crate::{shipment::ShipmentLine, Code, Context, Money, ShipmentId};

type Decision = Result<Vec<OrderEvent>, OrderError>;

/// Decides the events for `command` against `state` (`None`: not placed yet).
pub(super) fn decide(state: Option<&OrderState>, command: OrderCommand, ctx: &Context) -> Decision {
    use OrderCommand as C;
    let (order, command) = match (state, command) {
        (None, C::PlaceOrder(place)) => return place_order(place, ctx),
        (Some(order), C::PlaceOrder(place)) => return replace_order(order, &place),
        (None, _) => return Err(OrderError::NotPlaced),
        (Some(order), command) => (order, command),
    };
    match command {
        C::PlaceOrder(_) => Ok(vec![]),
        C::CancelOrder { reason } => match order.status {
            OrderStatus::Cancelled => Err(OrderError::AlreadyCancelled),
            OrderStatus::Completed => Err(OrderError::Completed),
            OrderStatus::Placed if order.anything_dispatched() => {
                Err(OrderError::CancelAfterDispatch)
            }
            OrderStatus::Placed => Ok(vec![OrderEvent::OrderCancelled(OrderCancelled {
                reason,
                refunds_due: order.outstanding_captures(),
                voids_due: order.open_payments(),
                shipments_to_cancel: order
                    .allocations
                    .iter()
                    .filter(|(_, a)| a.status == AllocationStatus::Allocated)
                    .map(|(id, _)| *id)
                    .collect(),
                cancelled_at: ctx.now(),
            })]),
        },
        C::RecordPaymentRequested { payment_id, amount } => {
            check_currency(order, amount)?;
            if !amount.is_positive() {
                return Err(OrderError::NonPositiveAmount);
            }
            if order.payment(&payment_id).requested.is_some() {
                return Ok(vec![]);
            }
            match order.status {
                OrderStatus::Cancelled => return Err(OrderError::Cancelled),
                OrderStatus::Completed => return Err(OrderError::Completed),
                OrderStatus::Placed => {}
            }
            Ok(vec![OrderEvent::OrderPaymentRequested(
                OrderPaymentRequested { payment_id, amount },
            )])
        }
        C::RecordPayment {
            payment_id,
            captured_total,
        } => record_payment(order, payment_id, captured_total),
        C::RecordRefund {
            payment_id,
            refunded_total,
        } => {
            check_total(order, refunded_total)?;
            let payment = order.payment(&payment_id);
            if refunded_total.amount_minor <= payment.refunded.amount_minor {
                return Ok(vec![]);
            }
            if refunded_total.amount_minor > payment.captured.amount_minor {
                return Err(OrderError::RefundExceedsPayment);
            }
            let amount = sub(refunded_total, payment.refunded)?;
            Ok(vec![OrderEvent::OrderRefundRecorded(OrderRefundRecorded {
                payment_id,
                amount,
                refunded_total,
            })])
        }
        C::RecordPaymentClosed { payment_id } => {
            if order.payment(&payment_id).closed {
                Ok(vec![])
            } else {
                Ok(vec![OrderEvent::OrderPaymentClosed(OrderPaymentClosed {
                    payment_id,
                })])
            }
        }
        C::AllocateShipment {
            shipment_id,
            carrier,
            lines,
        } => allocate(order, shipment_id, carrier, lines),
        C::ReleaseAllocation { shipment_id } => match allocation(order, &shipment_id)? {
            AllocationStatus::Released => Ok(vec![]),
            AllocationStatus::Allocated => {
                Ok(vec![OrderEvent::OrderAllocationReleased(ShipmentRef {
                    shipment_id,
                })])
            }
            _ => Err(OrderError::ShipmentAlreadyDispatched),
        },
        C::RecordShipmentDispatched { shipment_id } => match allocation(order, &shipment_id)? {
            AllocationStatus::Released => Err(OrderError::ShipmentReleased),
            AllocationStatus::Allocated if order.status == OrderStatus::Cancelled => {
                Err(OrderError::DispatchAfterCancel)
            }
            AllocationStatus::Allocated => {
                Ok(vec![OrderEvent::OrderShipmentDispatched(ShipmentRef {
                    shipment_id,
                })])
            }
            _ => Ok(vec![]),
        },
        C::RecordShipmentDelivered { shipment_id } => match allocation(order, &shipment_id)? {
            AllocationStatus::Released => Err(OrderError::ShipmentReleased),
            AllocationStatus::Returned => Err(OrderError::ShipmentReturned),
            AllocationStatus::Delivered => Ok(vec![]),
            AllocationStatus::Allocated if order.status == OrderStatus::Cancelled => {
                Err(OrderError::DispatchAfterCancel)
            }
            AllocationStatus::Allocated | AllocationStatus::Dispatched => {
                Ok(vec![OrderEvent::OrderShipmentDelivered(ShipmentRef {
                    shipment_id,
                })])
            }
        },
        C::RecordShipmentReturned { shipment_id } => match allocation(order, &shipment_id)? {
            AllocationStatus::Released => Err(OrderError::ShipmentReleased),
            AllocationStatus::Returned => Ok(vec![]),
            AllocationStatus::Allocated if order.status == OrderStatus::Cancelled => {
                Err(OrderError::DispatchAfterCancel)
            }
            _ => Ok(vec![OrderEvent::OrderShipmentReturned(ShipmentRef {
                shipment_id,
            })]),
        },
        C::CompleteOrder => match order.status {
            OrderStatus::Completed => Ok(vec![]),
            OrderStatus::Cancelled => Err(OrderError::Cancelled),
            OrderStatus::Placed if !order.is_fully_paid() => Err(OrderError::NotFullyPaid),
            OrderStatus::Placed if order.fulfillment_status() != FulfillmentStatus::Delivered => {
                Err(OrderError::NotFullyDelivered)
            }
            OrderStatus::Placed => Ok(vec![OrderEvent::OrderCompleted(OrderCompleted {
                completed_at: ctx.now(),
            })]),
        },
        // An invoice is the ERP's fact: recorded in any status, once per number.
        C::RecordInvoice {
            invoice_number,
            issued_at,
            total,
        } => {
            check_currency(order, total)?;
            if total.amount_minor < 0 {
                return Err(OrderError::NonPositiveAmount);
            }
            if order.invoices.contains(&invoice_number) {
                return Ok(vec![]);
            }
            Ok(vec![OrderEvent::OrderInvoiced(OrderInvoiced {
                invoice_number,
                issued_at,
                total,
            })])
        }
        // The ERP's sales order: recorded in any status, once; another number is a conflict
        // for a person to look at, not a silent overwrite.
        C::RecordSalesOrder { sales_order_number } => match &order.sales_order_number {
            Some(known) if *known == sales_order_number => Ok(vec![]),
            Some(_) => Err(OrderError::SalesOrderConflict),
            None => Ok(vec![OrderEvent::OrderSalesOrderRecorded(
                OrderSalesOrderRecorded {
                    sales_order_number,
                    recorded_at: ctx.now(),
                },
            )]),
        },
    }
}

fn place_order(place: PlaceOrder, ctx: &Context) -> Decision {
    if place.lines.is_empty() {
        return Err(OrderError::NoLines);
    }
    let skus: BTreeSet<_> = place.lines.iter().map(|line| &line.sku).collect();
    if skus.len() != place.lines.len() {
        return Err(OrderError::DuplicateSku);
    }
    let mut total = Money::zero(place.currency);
    for line in &place.lines {
        if line.unit_price.currency != place.currency {
            return Err(OrderError::CurrencyMismatch);
        }
        if line.unit_price.amount_minor < 0 {
            return Err(OrderError::NegativePrice);
        }
        // A total that does not even fit in minor units is above the limit too.
        let line_total = line
            .unit_price
            .checked_mul(line.quantity.get())
            .map_err(|_| OrderError::TotalTooLarge)?;
        total = total
            .checked_add(line_total)
            .map_err(|_| OrderError::TotalTooLarge)?;
        if total.amount_minor > Money::MAX_AMOUNT_MINOR {
            return Err(OrderError::TotalTooLarge);
        }
    }
    Ok(vec![OrderEvent::OrderPlaced(OrderPlaced {
        order_id: place.order_id,
        customer_id: place.customer_id,
        currency: place.currency,
        lines: place.lines,
        shipping_address: place.shipping_address,
        external_reference: place.external_reference,
        total,
        placed_at: ctx.now(),
    })])
}

/// Placing an existing order again is a no-op when it is the same order, a refusal otherwise.
fn replace_order(order: &OrderState, place: &PlaceOrder) -> Decision {
    let same = order.order_id == place.order_id
        && order.customer_id == place.customer_id
        && order.currency == place.currency
        && order.lines == place.lines
        && order.shipping_address == place.shipping_address
        && order.external_reference == place.external_reference;
    if same {
        Ok(vec![])
    } else {
        Err(OrderError::AlreadyPlaced)
    }
}

/// Records a payment's running capture total; flags the order when it holds more than it is due.
/// Payment facts are recorded in every status: the provider's word wins, and money arriving on
/// a cancelled order is exactly what must be flagged.
fn record_payment(
    order: &OrderState,
    payment_id: crate::PaymentId,
    captured_total: Money,
) -> Decision {
    check_total(order, captured_total)?;
    let payment = order.payment(&payment_id);
    if captured_total.amount_minor <= payment.captured.amount_minor {
        return Ok(vec![]);
    }
    let amount = sub(captured_total, payment.captured)?;
    let paid = order
        .paid
        .checked_add(amount)
        .map_err(|_| OrderError::AmountOverflow)?;
    let net = sub(paid, order.refunded)?;
    let mut events = vec![OrderEvent::OrderPaymentRecorded(OrderPaymentRecorded {
        payment_id,
        amount,
        captured_total,
    })];
    let due = order.amount_due();
    if net.amount_minor > due.amount_minor {
        events.push(OrderEvent::OrderOverpaid(OrderOverpaid {
            paid: net,
            due,
            excess: sub(net, due)?,
        }));
    }
    Ok(events)
}

fn allocate(
    order: &OrderState,
    shipment_id: ShipmentId,
    carrier: Code,
    mut lines: Vec<ShipmentLine>,
) -> Decision {
    match order.status {
        OrderStatus::Cancelled => return Err(OrderError::Cancelled),
        OrderStatus::Completed => return Err(OrderError::Completed),
        OrderStatus::Placed => {}
    }
    lines.sort();
    if let Some(existing) = order.allocations.get(&shipment_id) {
        if existing.status == AllocationStatus::Released {
            return Err(OrderError::ShipmentReleased);
        }
        let mut existing_lines = existing.lines.clone();
        existing_lines.sort();
        return if existing_lines == lines {
            Ok(vec![])
        } else {
            Err(OrderError::ShipmentAlreadyAllocated)
        };
    }
    if lines.is_empty() {
        return Err(OrderError::EmptyAllocation);
    }
    let skus: BTreeSet<_> = lines.iter().map(|line| &line.sku).collect();
    if skus.len() != lines.len() {
        return Err(OrderError::DuplicateSku);
    }
    for line in &lines {
        let ordered = order
            .lines
            .iter()
            .find(|ordered| ordered.sku == line.sku)
            .ok_or(OrderError::UnknownSku)?;
        let remaining =
            u64::from(ordered.quantity.get()).saturating_sub(order.allocated(&line.sku));
        if u64::from(line.quantity.get()) > remaining {
            return Err(OrderError::AllocationExceedsRemaining);
        }
    }
    Ok(vec![OrderEvent::OrderShipmentAllocated(
        OrderShipmentAllocated {
            shipment_id,
            carrier,
            lines,
        },
    )])
}

fn allocation(
    order: &OrderState,
    shipment_id: &ShipmentId,
) -> Result<AllocationStatus, OrderError> {
    order
        .allocations
        .get(shipment_id)
        .map(|a| a.status)
        .ok_or(OrderError::UnknownShipment)
}

fn check_currency(order: &OrderState, amount: Money) -> Result<(), OrderError> {
    if amount.currency == order.currency {
        Ok(())
    } else {
        Err(OrderError::CurrencyMismatch)
    }
}

/// A running total must be in the order's currency and not negative.
fn check_total(order: &OrderState, total: Money) -> Result<(), OrderError> {
    check_currency(order, total)?;
    if total.amount_minor < 0 {
        Err(OrderError::NonPositiveAmount)
    } else {
        Ok(())
    }
}

fn sub(left: Money, right: Money) -> Result<Money, OrderError> {
    left.checked_sub(right)
        .map_err(|_| OrderError::AmountOverflow)
}
