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
    /// Record that the provider refused or failed the payment.
    RecordFailure {
        /// The provider's failure code (`card_declined`).
        code: Code,
        /// The provider's message.
        message: NonEmptyText,
    },
    /// Refund part or all of what remains captured.
    RefundPayment {
        /// The provider's refund id; the same id twice is recorded once.
        refund_id: ExternalRef,
        /// How much.
        amount: Money,
    },
    /// Release an authorization before anything is captured.
    VoidPayment {
        /// Why.
        reason: NonEmptyText,
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
