//! Order cancelled -> refund the captured money, void the open payments, cancel the shipments
//! not yet dispatched: the cancellation event names each.

use domain::{
    order::OrderEvent,
    payment::{Payment, PaymentCommand},
    shipment::{Shipment, ShipmentCommand},
    ExternalRef, NonEmptyText, PaymentId,
};
use eventlog::{HandlerError, RecordedEvent, Subscriber};

use super::{decode, AnyEvent, Step};
use crate::CommandHandler;

/// Cancellations carried to payments and shipments.
#[derive(Debug, Clone)]
pub struct OrderCancellation {
    handler: CommandHandler,
}

impl OrderCancellation {
    /// Its subscriber name, and the actor and source of the commands it sends.
    pub const NAME: &'static str = "process:order-cancellation";

    /// Over `handler`.
    pub fn new(handler: CommandHandler) -> Self {
        Self { handler }
    }

    /// What cancelling `recorded`'s order does to `payment_id`: refund what it still holds, void
    /// it while nothing is captured, nothing once it is settled (or does not exist); with the
    /// payment's version it was decided at, so that a refund or capture landing in between
    /// makes it decided again rather than refused.
    async fn settlement(
        &self,
        recorded: &RecordedEvent,
        payment_id: PaymentId,
        reason: &NonEmptyText,
    ) -> Result<Option<(PaymentCommand, i64)>, HandlerError> {
        let (payment, version) = self
            .handler
            .load::<Payment>(&payment_id.to_string())
            .await?;
        let Some(payment) = payment else {
            return Ok(None);
        };
        let refundable = payment.refundable();
        let command = if refundable.is_positive() {
            // Our own refund id: the refund is ours, named by the cancellation that caused it.
            let refund_id =
                ExternalRef::parse(&format!("cancel-{}-{payment_id}", recorded.event_id))?;
            PaymentCommand::RefundPayment {
                refund_id,
                amount: refundable,
            }
        } else if payment.captured.is_positive() {
            return Ok(None);
        } else {
            PaymentCommand::VoidPayment {
                reason: reason.clone(),
            }
        };
        Ok(Some((command, version)))
    }
}

impl Subscriber for OrderCancellation {
    fn name(&self) -> &str {
        Self::NAME
    }

    async fn handle(&self, events: &[RecordedEvent]) -> Result<(), HandlerError> {
        for recorded in events {
            let AnyEvent::Order(OrderEvent::OrderCancelled(cancelled)) = decode(recorded)? else {
                continue;
            };
            // The order's own reason, as given: a prefix could push a valid reason past its limit.
            let reason = cancelled.reason.clone();
            let mut step = Step::new(&self.handler, Self::NAME, recorded);
            // The order's view of its payments can lag theirs (a refund made at the provider, a
            // capture not yet carried over), so each payment the cancellation names is settled
            // from its own state: what it still holds is refunded, an open one voided.
            // The two lists are disjoint: one holds payments that captured, the other not.
            let payments = (cancelled.refunds_due.iter().map(|due| due.payment_id))
                .chain(cancelled.voids_due.iter().copied());
            for payment_id in payments {
                match self.settlement(recorded, payment_id, &reason).await? {
                    Some((command, version)) => {
                        step.send_at::<Payment>(payment_id, command, Some(version))
                            .await?;
                    }
                    None => step.pass(),
                }
            }
            for shipment_id in cancelled.shipments_to_cancel {
                let command = ShipmentCommand::CancelShipment {
                    reason: reason.clone(),
                };
                step.send::<Shipment>(shipment_id, command).await?;
            }
        }
        Ok(())
    }
}
