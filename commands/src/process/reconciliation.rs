//! A mismatch between the provider's totals and ours -> a person looks at it, until ours agree.
//!
//! Reconciliation (the Stripe pull, `adapters::inbound::pull`) records a mismatch that survives
//! the pull (`PaymentMismatchFound`); this step asks the payment to confirm the provider's
//! totals, which it refuses while ours differ, so the mismatch is an attention item (rule
//! `provider_mismatch`) naming the payment and, as its cause, the totals on both sides. Once
//! ours agree (a missing refund recorded, say), a retry goes through and resolves it; a
//! difference to be accepted is dismissed with a reason.

use domain::payment::{Payment, PaymentCommand, PaymentEvent};
use eventlog::{RecordedEvent, StepError};

use super::{decode, AnyEvent, Step, Workflow};

/// Shows a person every mismatch with the provider that ours do not explain.
#[derive(Debug, Clone, Copy)]
pub struct PaymentReconciliation;

impl Workflow for PaymentReconciliation {
    const NAME: &'static str = "process:payment-reconciliation";
    const EVENT_TYPES: &'static [&'static str] = &["PaymentMismatchFound"];

    async fn step(&self, step: &mut Step<'_>, recorded: &RecordedEvent) -> Result<(), StepError> {
        let AnyEvent::Payment(PaymentEvent::PaymentMismatchFound(found)) = decode(recorded)? else {
            return Ok(());
        };
        let confirm = PaymentCommand::ConfirmProviderTotals {
            captured: found.provider_captured,
            refunded: found.provider_refunded,
        };
        step.send::<Payment>(&recorded.stream.aggregate_id, confirm)
            .await
    }
}
