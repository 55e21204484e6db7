//! Order cancelled -> refund the captured money, void the open payments, cancel the shipments
//! not yet dispatched: the cancellation event names each. Money captured on an order after its
//! cancellation (the provider's word arrives late) is refunded the same way.

use domain::{
    order::{Order, OrderEvent, OrderStatus},
    payment::{Payment, PaymentCommand},
    shipment::{Shipment, ShipmentCommand},
    ExternalRef, NonEmptyText, PaymentId,
};
use eventlog::{RecordedEvent, StepError};

use super::{decode, AnyEvent, Step, Workflow};

/// Cancellations carried to payments and shipments.
#[derive(Debug, Clone, Copy)]
pub struct OrderCancellation;

impl Workflow for OrderCancellation {
    const NAME: &'static str = "process:order-cancellation";
    const EVENT_TYPES: &'static [&'static str] = &["OrderCancelled", "OrderPaymentRecorded"];

    async fn step(&self, step: &mut Step<'_>, recorded: &RecordedEvent) -> Result<(), StepError> {
        match decode(recorded)? {
            AnyEvent::Order(OrderEvent::OrderCancelled(cancelled)) => {
                // The order's own reason, as given: a prefix could push a valid reason past its
                // limit.
                let reason = cancelled.reason.clone();
                // The order's view of its payments can lag theirs (a refund made at the
                // provider, a capture not yet carried over), so each payment the cancellation
                // names is settled from its own state: what it still holds is refunded, an open
                // one voided. The two lists are disjoint: one holds payments that captured, the
                // other not.
                let payments = (cancelled.refunds_due.iter().map(|due| due.payment_id))
                    .chain(cancelled.voids_due.iter().copied());
                for payment_id in payments {
                    settle(step, recorded, payment_id, &reason).await?;
                }
                for shipment_id in cancelled.shipments_to_cancel {
                    let command = ShipmentCommand::CancelShipment {
                        reason: reason.clone(),
                    };
                    step.send::<Shipment>(shipment_id, command).await?;
                }
                Ok(())
            }
            AnyEvent::Order(OrderEvent::OrderPaymentRecorded(recorded_payment)) => {
                // Captured after the order was cancelled: refunded like what it held then.
                // Judged by the order as it stood at this event, not now: a payment recorded
                // before the cancellation is the cancellation's to settle (it names it), however
                // late this step runs.
                let (order, _) = step
                    .handler()
                    .load_as_of::<Order>(&recorded.stream.aggregate_id, recorded.sequence)
                    .await
                    .map_err(StepError::failed)?;
                let Some(order) = order.filter(|o| o.status == OrderStatus::Cancelled) else {
                    return Ok(());
                };
                let reason = order
                    .cancel_reason
                    .unwrap_or_else(|| NonEmptyText::fitted("order cancelled"));
                settle(step, recorded, recorded_payment.payment_id, &reason).await
            }
            _ => Ok(()),
        }
    }
}

/// What cancelling `recorded`'s order does to `payment_id`: refund what it still holds, void it
/// while nothing is captured, nothing once it is settled (or does not exist); decided at the
/// payment's version, so that a refund or capture landing in between makes it decided again
/// rather than refused.
async fn settle(
    step: &mut Step<'_>,
    recorded: &RecordedEvent,
    payment_id: PaymentId,
    reason: &NonEmptyText,
) -> Result<(), StepError> {
    let (payment, version) = step
        .handler()
        .load::<Payment>(&payment_id.to_string())
        .await
        .map_err(StepError::failed)?;
    let Some(payment) = payment else {
        step.pass();
        return Ok(());
    };
    let refundable = payment.refundable();
    let command = if refundable.is_positive() {
        // Our own reference: the refund is ours, named by the event that caused it; asked of
        // the provider where the payment's money is executed there, recorded at once elsewhere.
        let reference = ExternalRef::parse(&format!("cancel-{}-{payment_id}", recorded.event_id))
            .map_err(StepError::failed)?;
        PaymentCommand::RequestRefund {
            reference,
            amount: refundable,
        }
    } else if payment.captured.is_positive() {
        step.pass();
        return Ok(());
    } else {
        // Released at the provider where it is executed there, recorded at once elsewhere.
        PaymentCommand::RequestVoid {
            reason: reason.clone(),
        }
    };
    step.send_at::<Payment>(payment_id, command, Some(version))
        .await
}
