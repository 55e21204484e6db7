//! Payment -> order: the order records what its payments requested, captured, refunded and
//! closed (failed or voided), as running totals.

use domain::{
    order::{Order, OrderCommand},
    payment::{Payment, PaymentEvent},
    OrderId, PaymentId,
};
use eventlog::{HandlerError, RecordedEvent, Subscriber};

use super::{decode, AnyEvent, Step};
use crate::CommandHandler;

/// Payment facts recorded on their order.
#[derive(Debug, Clone)]
pub struct OrderPayments {
    handler: CommandHandler,
}

impl OrderPayments {
    /// Its subscriber name, and the actor and source of the commands it sends.
    pub const NAME: &'static str = "process:order-payments";

    /// Over `handler`.
    pub fn new(handler: CommandHandler) -> Self {
        Self { handler }
    }
}

impl Subscriber for OrderPayments {
    fn name(&self) -> &str {
        Self::NAME
    }

    async fn handle(&self, events: &[RecordedEvent]) -> Result<(), HandlerError> {
        for recorded in events {
            let AnyEvent::Payment(event) = decode(recorded)? else {
                continue;
            };
            let payment_id: PaymentId = recorded.stream.aggregate_id.parse()?;
            if let Some(order_id) = order_of(&event) {
                // A payment may be reported before its order exists (an import, a slow
                // channel): that is not a refusal to pass over but a step to try again.
                let (order, _) = self.handler.load::<Order>(&order_id.to_string()).await?;
                if order.is_none() {
                    return Err(format!(
                        "order {order_id} of payment {payment_id} is not placed yet"
                    )
                    .into());
                }
            }
            let mut step = Step::new(&self.handler, Self::NAME, recorded);
            match event {
                PaymentEvent::PaymentRequested(e) => {
                    let command = OrderCommand::RecordPaymentRequested {
                        payment_id,
                        amount: e.amount,
                    };
                    step.send::<Order>(e.order_id, command).await?;
                }
                PaymentEvent::PaymentCaptured(e) => {
                    let command = OrderCommand::RecordPayment {
                        payment_id,
                        captured_total: e.captured_total,
                    };
                    step.send::<Order>(e.order_id, command).await?;
                }
                PaymentEvent::PaymentRefunded(e) => {
                    let command = OrderCommand::RecordRefund {
                        payment_id,
                        refunded_total: e.refunded_total,
                    };
                    step.send::<Order>(e.order_id, command).await?;
                }
                PaymentEvent::PaymentVoided(e) => {
                    step.send::<Order>(
                        e.order_id,
                        OrderCommand::RecordPaymentClosed { payment_id },
                    )
                    .await?;
                }
                PaymentEvent::PaymentFailed(_) => {
                    // The failure does not name the order; the payment's state does.
                    let (state, _) = self
                        .handler
                        .load::<Payment>(&recorded.stream.aggregate_id)
                        .await?;
                    if let Some(payment) = state {
                        let command = OrderCommand::RecordPaymentClosed { payment_id };
                        step.send::<Order>(payment.order_id, command).await?;
                    }
                }
                PaymentEvent::PaymentAuthorized(_) | PaymentEvent::PaymentDisputed(_) => {}
            }
        }
        Ok(())
    }
}

/// The order a payment event names, where it names one.
fn order_of(event: &PaymentEvent) -> Option<OrderId> {
    match event {
        PaymentEvent::PaymentRequested(e) => Some(e.order_id),
        PaymentEvent::PaymentCaptured(e) => Some(e.order_id),
        PaymentEvent::PaymentRefunded(e) => Some(e.order_id),
        PaymentEvent::PaymentVoided(e) => Some(e.order_id),
        PaymentEvent::PaymentDisputed(e) => Some(e.order_id),
        PaymentEvent::PaymentAuthorized(_) | PaymentEvent::PaymentFailed(_) => None,
    }
}
