//! Order allocation -> shipment created (and cancelled at once if the order was cancelled
//! first); shipment cancelled -> its allocation released on the order. (A shipment's dispatch,
//! delivery and return the order records in the same append as the shipment: ADR 0009; a step
//! for them here finds them recorded, as it does for events written before that.)

use domain::{
    order::{Order, OrderCommand, OrderEvent},
    shipment::{Shipment, ShipmentCommand, ShipmentEvent},
    ShipmentId,
};
use eventlog::{RecordedEvent, StepError};

use super::{decode, AnyEvent, Step, Workflow};

/// Allocations turned into shipments, and shipment progress recorded on the order.
#[derive(Debug, Clone, Copy)]
pub struct OrderFulfillment;

impl Workflow for OrderFulfillment {
    const NAME: &'static str = "process:order-fulfillment";
    const EVENT_TYPES: &'static [&'static str] = &[
        "OrderShipmentAllocated",
        "ShipmentDispatched",
        "ShipmentDelivered",
        "ShipmentReturned",
        "ShipmentCancelled",
    ];

    async fn step(&self, step: &mut Step<'_>, recorded: &RecordedEvent) -> Result<(), StepError> {
        match decode(recorded)? {
            AnyEvent::Order(OrderEvent::OrderShipmentAllocated(allocated)) => {
                let order_id = recorded
                    .stream
                    .aggregate_id
                    .parse()
                    .map_err(StepError::failed)?;
                let command = ShipmentCommand::CreateShipment {
                    shipment_id: allocated.shipment_id,
                    order_id,
                    carrier: allocated.carrier,
                    lines: allocated.lines,
                };
                step.send::<Shipment>(allocated.shipment_id, command)
                    .await?;
                // An order cancelled before its shipment existed had nothing to cancel
                // then: the shipment is cancelled now that it exists.
                let (order, _) = step
                    .handler()
                    .load::<Order>(&recorded.stream.aggregate_id)
                    .await
                    .map_err(StepError::failed)?;
                if let Some(reason) = order.and_then(|order| order.cancel_reason) {
                    let cancel = ShipmentCommand::CancelShipment { reason };
                    step.send::<Shipment>(allocated.shipment_id, cancel).await?;
                }
                Ok(())
            }
            AnyEvent::Shipment(event) => {
                let shipment_id: ShipmentId = recorded
                    .stream
                    .aggregate_id
                    .parse()
                    .map_err(StepError::failed)?;
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
                    _ => return Ok(()),
                };
                step.send::<Order>(order_id, command).await
            }
            _ => Ok(()),
        }
    }
}
