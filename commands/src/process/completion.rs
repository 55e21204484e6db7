//! Paid and delivered -> the order is completed.

use domain::order::{FulfillmentStatus, Order, OrderCommand, OrderStatus};
use eventlog::{RecordedEvent, StepError};

use super::{Step, Workflow};

/// Completes orders once fully paid and fully delivered.
#[derive(Debug, Clone, Copy)]
pub struct OrderCompletion;

impl Workflow for OrderCompletion {
    const NAME: &'static str = "process:order-completion";
    const EVENT_TYPES: &'static [&'static str] =
        &["OrderPaymentRecorded", "OrderShipmentDelivered"];

    async fn step(&self, step: &mut Step<'_>, recorded: &RecordedEvent) -> Result<(), StepError> {
        let id = &recorded.stream.aggregate_id;
        let (state, _) = step
            .handler()
            .load::<Order>(id)
            .await
            .map_err(StepError::failed)?;
        let ready = state.as_ref().is_some_and(|order| {
            order.status == OrderStatus::Placed
                && order.is_fully_paid()
                && order.fulfillment_status() == FulfillmentStatus::Delivered
        });
        if ready {
            step.send::<Order>(id, OrderCommand::CompleteOrder).await?;
        }
        Ok(())
    }
}
