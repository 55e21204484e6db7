//! Paid and delivered -> the order is completed.

use domain::order::{FulfillmentStatus, Order, OrderCommand, OrderEvent, OrderStatus};
use eventlog::{HandlerError, RecordedEvent, Subscriber};

use super::{decode, AnyEvent, Step};
use crate::CommandHandler;

/// Completes orders once fully paid and fully delivered.
#[derive(Debug, Clone)]
pub struct OrderCompletion {
    handler: CommandHandler,
}

impl OrderCompletion {
    /// Its subscriber name, and the actor and source of the commands it sends.
    pub const NAME: &'static str = "process:order-completion";

    /// Over `handler`.
    pub fn new(handler: CommandHandler) -> Self {
        Self { handler }
    }
}

impl Subscriber for OrderCompletion {
    fn name(&self) -> &str {
        Self::NAME
    }

    async fn handle(&self, events: &[RecordedEvent]) -> Result<(), HandlerError> {
        for recorded in events {
            let AnyEvent::Order(event) = decode(recorded)? else {
                continue;
            };
            if !matches!(
                event,
                OrderEvent::OrderPaymentRecorded(_) | OrderEvent::OrderShipmentDelivered(_)
            ) {
                continue;
            }
            let id = &recorded.stream.aggregate_id;
            let (state, _) = self.handler.load::<Order>(id).await?;
            let ready = state.as_ref().is_some_and(|order| {
                order.status == OrderStatus::Placed
                    && order.is_fully_paid()
                    && order.fulfillment_status() == FulfillmentStatus::Delivered
            });
            if ready {
                Step::new(&self.handler, Self::NAME, recorded)
                    .send::<Order>(id, OrderCommand::CompleteOrder)
                    .await?;
            }
        }
        Ok(())
    }
}
