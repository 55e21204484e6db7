//! Payment -> order: the order records what its payments captured, refunded and closed (failed
//! or voided), as running totals. (A request the order records in the same append as the
//! payment: ADR 0009; a step for it here finds it recorded.)

use domain::{
    order::{Order, OrderCommand},
    payment::{Payment, PaymentEvent},
    PaymentId,
};
use eventlog::{RecordedEvent, StepError};

use super::{decode, AnyEvent, Step, Workflow};

/// Payment facts recorded on their order.
#[derive(Debug, Clone, Copy)]
pub struct OrderPayments;

impl Workflow for OrderPayments {
    const NAME: &'static str = "process:order-payments";
    const EVENT_TYPES: &'static [&'static str] = &[
        "PaymentRequested",
        "PaymentCaptured",
        "PaymentRefunded",
        "PaymentVoided",
        "PaymentFailed",
    ];

    async fn step(&self, step: &mut Step<'_>, recorded: &RecordedEvent) -> Result<(), StepError> {
        let AnyEvent::Payment(event) = decode(recorded)? else {
            return Ok(());
        };
        let payment_id: PaymentId = recorded
            .stream
            .aggregate_id
            .parse()
            .map_err(StepError::failed)?;
        // A payment reported before its order exists waits for the order (the order's refusal
        // "not placed" makes the step wait).
        let (order_id, command) = match event {
            PaymentEvent::PaymentRequested(e) => (
                e.order_id,
                OrderCommand::RecordPaymentRequested {
                    payment_id,
                    amount: e.amount,
                },
            ),
            PaymentEvent::PaymentCaptured(e) => (
                e.order_id,
                OrderCommand::RecordPayment {
                    payment_id,
                    captured_total: e.captured_total,
                },
            ),
            PaymentEvent::PaymentRefunded(e) => (
                e.order_id,
                OrderCommand::RecordRefund {
                    payment_id,
                    refunded_total: e.refunded_total,
                },
            ),
            PaymentEvent::PaymentVoided(e) => {
                (e.order_id, OrderCommand::RecordPaymentClosed { payment_id })
            }
            PaymentEvent::PaymentFailed(_) => {
                // The failure does not name the order; the payment's state does.
                let (state, _) = step
                    .handler()
                    .load::<Payment>(&recorded.stream.aggregate_id)
                    .await
                    .map_err(StepError::failed)?;
                let Some(payment) = state else {
                    return Ok(());
                };
                (
                    payment.order_id,
                    OrderCommand::RecordPaymentClosed { payment_id },
                )
            }
            // A refund, capture or void asked of the provider (or awaiting approval) is the
            // order's business once it is made.
            PaymentEvent::PaymentAuthorized(_)
            | PaymentEvent::PaymentDisputed(_)
            | PaymentEvent::PaymentDisputeClosed(_)
            | PaymentEvent::PaymentRefundRequested(_)
            | PaymentEvent::PaymentRefundFailed(_)
            | PaymentEvent::PaymentRefundApprovalAsked(_)
            | PaymentEvent::PaymentRefundApproved(_)
            | PaymentEvent::PaymentRefundRejected(_)
            | PaymentEvent::PaymentVoidRequested(_)
            | PaymentEvent::PaymentVoidFailed(_)
            | PaymentEvent::PaymentCaptureRequested(_)
            | PaymentEvent::PaymentCaptureFailed(_)
            | PaymentEvent::PaymentMismatchFound(_) => return Ok(()),
        };
        step.send::<Order>(order_id, command).await
    }
}
