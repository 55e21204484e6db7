//! What may be asked of a payment (by the API or by the provider's webhooks).

use super::DisputeOutcome;
use crate::{Code, ExternalRef, Money, NonEmptyText, OrderId, PaymentId};

/// A command to a payment.
/// Its name (`snake_case` of the variant) labels the command in metrics.
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum PaymentCommand {
    /// Ask a provider to collect `amount` for an order.
    RequestPayment {
        /// The new payment's id.
        payment_id: PaymentId,
        /// The order it pays.
        order_id: OrderId,
        /// How much; its currency is the payment's.
        amount: Money,
        /// Which provider (`stripe`, `manual`).
        provider: Code,
    },
    /// Record the provider's authorization.
    RecordAuthorization {
        /// The provider's id for the authorization (a payment intent id).
        provider_reference: ExternalRef,
        /// How much the provider authorized.
        amount: Money,
    },
    /// Capture part or all of the authorized amount.
    CapturePayment {
        /// The provider's id for this capture; the same id twice is recorded once.
        capture_id: ExternalRef,
        /// How much this capture takes.
        amount: Money,
        /// The authorization's reference, used if the capture arrives before it.
        provider_reference: Option<ExternalRef>,
    },
    /// Capture part or all of the authorized amount: asked of the provider where the back
    /// office executes the payment's money (a Stripe payment intent it knows: one capture,
    /// which ends the authorization), recorded when the provider confirms it; otherwise
    /// recorded at once under `reference`.
    RequestCapture {
        /// Our id for the capture; the same reference twice is decided once.
        reference: ExternalRef,
        /// How much.
        amount: Money,
    },
    /// Record that the provider refused the capture we asked for.
    RecordCaptureFailed {
        /// The provider's code (`payment_intent_unexpected_state`).
        code: Code,
        /// The provider's message.
        message: NonEmptyText,
    },
    /// Compare the provider's totals, as reconciliation read them from its API, with ours: a
    /// difference that no request in flight explains is recorded as a mismatch.
    RecordProviderTotals {
        /// What the provider says it captured.
        captured: Money,
        /// What the provider says it refunded.
        refunded: Money,
    },
    /// Check that ours now agree with the provider's totals a mismatch recorded (refused
    /// while they do not: the mismatch process shows it to a person).
    ConfirmProviderTotals {
        /// What the provider said it captured.
        captured: Money,
        /// What the provider said it refunded.
        refunded: Money,
    },
    /// Record that the provider refused or failed the payment.
    RecordFailure {
        /// The provider's failure code (`card_declined`).
        code: Code,
        /// The provider's message.
        message: NonEmptyText,
    },
    /// Record a refund the provider made: part or all of what remains captured.
    RefundPayment {
        /// The provider's refund id; the same id twice is recorded once.
        refund_id: ExternalRef,
        /// How much.
        amount: Money,
        /// The request of ours it answers (`RequestRefund`'s reference), if any: its reserved
        /// amount is released, and a second answer to it is recorded once.
        request: Option<ExternalRef>,
    },
    /// Refund part or all of what remains captured: asked of the provider where the back
    /// office executes the payment's money (a Stripe payment whose payment intent it knows),
    /// the amount held back until the provider answers; otherwise recorded as done.
    RequestRefund {
        /// Our id for the refund (the request's, or the refund's when recorded at once); the
        /// same reference twice is decided once.
        reference: ExternalRef,
        /// How much.
        amount: Money,
    },
    /// Ask for a refund a second person must approve (four-eyes, for refunds above the
    /// configured amount): nothing is asked of the provider or recorded until
    /// [`Self::ApproveRefund`].
    AskRefundApproval {
        /// Our id for the refund, kept when it is approved; the same reference twice is
        /// decided once.
        reference: ExternalRef,
        /// How much.
        amount: Money,
        /// Who asks (`user:ana`): never its approver.
        requested_by: NonEmptyText,
    },
    /// Approve a refund awaiting approval; refused to the person who asked for it. The refund
    /// then goes on as [`Self::RequestRefund`] would, in the same decision.
    ApproveRefund {
        /// The refund's reference.
        reference: ExternalRef,
        /// Who approves (`user:bo`).
        approved_by: NonEmptyText,
    },
    /// Reject a refund awaiting approval (its requester may withdraw it this way).
    RejectRefund {
        /// The refund's reference.
        reference: ExternalRef,
        /// Who rejects.
        rejected_by: NonEmptyText,
        /// Why.
        reason: NonEmptyText,
    },
    /// Record that the provider refused or failed a refund we asked for.
    RecordRefundFailed {
        /// The request's reference.
        reference: ExternalRef,
        /// The provider's code (`charge_already_refunded`).
        code: Code,
        /// The provider's message.
        message: NonEmptyText,
    },
    /// Record that the authorization was released before anything was captured.
    VoidPayment {
        /// Why.
        reason: NonEmptyText,
    },
    /// Release the authorization before anything is captured: asked of the provider where the
    /// back office executes the payment's money (its payment intent canceled at Stripe), the
    /// void recorded when the provider confirms it; otherwise recorded at once.
    RequestVoid {
        /// Why.
        reason: NonEmptyText,
    },
    /// Record that the provider refused the void we asked for (it was captured meanwhile).
    RecordVoidFailed {
        /// The provider's code (`payment_intent_unexpected_state`).
        code: Code,
        /// The provider's message.
        message: NonEmptyText,
    },
    /// Record a chargeback dispute opened by the cardholder's bank.
    RecordDispute {
        /// The provider's dispute id; the same id twice is recorded once.
        dispute_id: ExternalRef,
        /// How much is disputed.
        amount: Money,
        /// The bank's reason.
        reason: NonEmptyText,
    },
    /// Record how a dispute ended.
    RecordDisputeClosed {
        /// The provider's dispute id.
        dispute_id: ExternalRef,
        /// Won or lost.
        outcome: DisputeOutcome,
    },
}
