//! Order cancelled -> refund the captured money, void the open payments, cancel the shipments
//! not yet dispatched: the cancellation event names each.

use domain::{
    order::OrderEvent,
    payment::{Payment, PaymentCommand},
    shipment::{Shipment, ShipmentCommand},
    ExternalRef,
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
            for due in cancelled.refunds_due {
                // Our own refund id: the refund is ours, named by the cancellation that caused it.
                let refund_id = ExternalRef::parse(&format!(
                    "cancel-{}-{}",
                    recorded.event_id, due.payment_id
                ))?;
                let command = PaymentCommand::RefundPayment {
                    refund_id,
                    amount: due.amount,
                };
                step.send::<Payment>(due.payment_id, command).await?;
            }
            for payment_id in cancelled.voids_due {
                step.send::<Payment>(
                    payment_id,
                    PaymentCommand::VoidPayment {
                        reason: reason.clone(),
                    },
                )
                .await?;
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
