//! Order allocation -> shipment created (and cancelled at once if the order was cancelled
//! first); shipment dispatched, delivered, returned or cancelled -> the order records it (a
//! cancelled shipment releases its allocation).

use domain::{
    order::{Order, OrderCommand, OrderEvent},
    shipment::{Shipment, ShipmentCommand, ShipmentEvent},
    ShipmentId,
};
use eventlog::{HandlerError, RecordedEvent, Subscriber};

use super::{decode, AnyEvent, Step};
use crate::CommandHandler;

/// Allocations turned into shipments, and shipment progress recorded on the order.
#[derive(Debug, Clone)]
pub struct OrderFulfillment {
    handler: CommandHandler,
}

impl OrderFulfillment {
    /// Its subscriber name, and the actor and source of the commands it sends.
    pub const NAME: &'static str = "process:order-fulfillment";

    /// Over `handler`.
    pub fn new(handler: CommandHandler) -> Self {
        Self { handler }
    }
}

impl Subscriber for OrderFulfillment {
    fn name(&self) -> &str {
        Self::NAME
    }

    async fn handle(&self, events: &[RecordedEvent]) -> Result<(), HandlerError> {
        for recorded in events {
            let mut step = Step::new(&self.handler, Self::NAME, recorded);
            match decode(recorded)? {
                AnyEvent::Order(OrderEvent::OrderShipmentAllocated(allocated)) => {
                    let command = ShipmentCommand::CreateShipment {
                        shipment_id: allocated.shipment_id,
                        order_id: recorded.stream.aggregate_id.parse()?,
                        carrier: allocated.carrier,
                        lines: allocated.lines,
                    };
                    step.send::<Shipment>(allocated.shipment_id, command)
                        .await?;
                    // An order cancelled before its shipment existed had nothing to cancel
                    // then: the shipment is cancelled now that it exists.
                    let (order, _) = self
                        .handler
                        .load::<Order>(&recorded.stream.aggregate_id)
                        .await?;
                    if let Some(reason) = order.and_then(|order| order.cancel_reason) {
                        let cancel = ShipmentCommand::CancelShipment { reason };
                        step.send::<Shipment>(allocated.shipment_id, cancel).await?;
                    }
                }
                AnyEvent::Shipment(event) => {
                    let shipment_id: ShipmentId = recorded.stream.aggregate_id.parse()?;
                    let (order_id, command) = match event {
                        ShipmentEvent::ShipmentDispatched(e) => (
                            e.order_id,
                            OrderCommand::RecordShipmentDispatched { shipment_id },
                        ),
                        ShipmentEvent::ShipmentDelivered(e) => (
                            e.order_id,
                            OrderCommand::RecordShipmentDelivered { shipment_id },
                        ),
                        ShipmentEvent::ShipmentReturned(e) => (
                            e.order_id,
                            OrderCommand::RecordShipmentReturned { shipment_id },
                        ),
                        ShipmentEvent::ShipmentCancelled(e) => {
                            (e.order_id, OrderCommand::ReleaseAllocation { shipment_id })
                        }
                        _ => continue,
                    };
                    step.send::<Order>(order_id, command).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}
