//! What happened to a payment. Each payload struct is the stored JSON of its event type.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::DisputeOutcome;
use crate::{Code, ExternalRef, Money, NonEmptyText, OrderId, PaymentId};

/// An event of the payment stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentEvent {
    /// The payment was asked of a provider.
    PaymentRequested(PaymentRequested),
    /// The provider authorized it (or a capture implied that it did).
    PaymentAuthorized(PaymentAuthorized),
    /// Money was captured.
    PaymentCaptured(PaymentCaptured),
    /// The provider refused or failed it.
    PaymentFailed(PaymentFailed),
    /// Money was refunded.
    PaymentRefunded(PaymentRefunded),
    /// A refund was asked of the provider; its amount is held back until it answers.
    PaymentRefundRequested(PaymentRefundRequested),
    /// The provider refused or failed a refund we asked for.
    PaymentRefundFailed(PaymentRefundFailed),
    /// A refund awaits a second person's approval.
    PaymentRefundApprovalAsked(PaymentRefundApprovalAsked),
    /// A second person approved a refund; the refund's own events follow in the same append.
    PaymentRefundApproved(PaymentRefundApproved),
    /// A refund awaiting approval was rejected.
    PaymentRefundRejected(PaymentRefundRejected),
    /// The authorization was released before capture.
    PaymentVoided(PaymentVoided),
    /// The release of the authorization was asked of the provider.
    PaymentVoidRequested(PaymentVoidRequested),
    /// The provider's totals differ from ours, with no request in flight to explain it.
    PaymentMismatchFound(PaymentMismatchFound),
    /// A capture was asked of the provider.
    PaymentCaptureRequested(PaymentCaptureRequested),
    /// The provider refused a capture we asked for.
    PaymentCaptureFailed(PaymentCaptureFailed),
    /// The provider refused the void we asked for.
    PaymentVoidFailed(PaymentVoidFailed),
    /// A chargeback dispute was opened.
    PaymentDisputed(PaymentDisputed),
    /// A dispute ended, won or lost.
    PaymentDisputeClosed(PaymentDisputeClosed),
}

/// Payload of `PaymentRequested` (version 2; version 1 had no `provider`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRequested {
    /// The payment.
    pub payment_id: PaymentId,
    /// The order it pays.
    pub order_id: OrderId,
    /// How much.
    pub amount: Money,
    /// Which provider.
    pub provider: Code,
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// Payload of `PaymentAuthorized`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAuthorized {
    /// The provider's reference for the authorization.
    pub provider_reference: ExternalRef,
    /// How much may be captured.
    pub amount: Money,
    /// True when no authorization was seen and a capture implied it.
    pub implied: bool,
    /// When.
    pub authorized_at: DateTime<Utc>,
}

/// Payload of `PaymentCaptured`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCaptured {
    /// The order, for the process manager that records the payment on it.
    pub order_id: OrderId,
    /// The provider's capture id.
    pub capture_id: ExternalRef,
    /// How much this capture took.
    pub amount: Money,
    /// All captures so far, this one included.
    pub captured_total: Money,
    /// When.
    pub captured_at: DateTime<Utc>,
}

/// Payload of `PaymentFailed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentFailed {
    /// The provider's code.
    pub code: Code,
    /// The provider's message.
    pub message: NonEmptyText,
    /// When.
    pub failed_at: DateTime<Utc>,
}

/// Payload of `PaymentRefunded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRefunded {
    /// The order, for the process manager that records the refund on it.
    pub order_id: OrderId,
    /// The provider's refund id.
    pub refund_id: ExternalRef,
    /// How much this refund returned.
    pub amount: Money,
    /// All refunds so far, this one included.
    pub refunded_total: Money,
    /// When.
    pub refunded_at: DateTime<Utc>,
    /// The request of ours it answers, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<ExternalRef>,
}

/// Payload of `PaymentRefundRequested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRefundRequested {
    /// The order.
    pub order_id: OrderId,
    /// Our id for the request (the provider sees it as metadata `refund_id`).
    pub reference: ExternalRef,
    /// How much.
    pub amount: Money,
    /// The provider's reference of the payment to refund (a payment intent).
    pub provider_reference: ExternalRef,
    /// Which provider executes it.
    pub provider: Code,
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// Payload of `PaymentRefundApprovalAsked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRefundApprovalAsked {
    /// The order.
    pub order_id: OrderId,
    /// The refund's reference.
    pub reference: ExternalRef,
    /// How much.
    pub amount: Money,
    /// Who asked (`user:ana`).
    pub requested_by: NonEmptyText,
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// Payload of `PaymentRefundApproved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRefundApproved {
    /// The order.
    pub order_id: OrderId,
    /// The refund's reference.
    pub reference: ExternalRef,
    /// How much.
    pub amount: Money,
    /// Who asked.
    pub requested_by: NonEmptyText,
    /// Who approved: never who asked.
    pub approved_by: NonEmptyText,
    /// When.
    pub approved_at: DateTime<Utc>,
}

/// Payload of `PaymentRefundRejected`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRefundRejected {
    /// The order.
    pub order_id: OrderId,
    /// The refund's reference.
    pub reference: ExternalRef,
    /// How much was asked.
    pub amount: Money,
    /// Who rejected it.
    pub rejected_by: NonEmptyText,
    /// Why.
    pub reason: NonEmptyText,
    /// When.
    pub rejected_at: DateTime<Utc>,
}

/// Payload of `PaymentRefundFailed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRefundFailed {
    /// The order.
    pub order_id: OrderId,
    /// The request's reference.
    pub reference: ExternalRef,
    /// How much was asked.
    pub amount: Money,
    /// The provider's code.
    pub code: Code,
    /// The provider's message.
    pub message: NonEmptyText,
    /// When.
    pub failed_at: DateTime<Utc>,
}

/// Payload of `PaymentVoided`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentVoided {
    /// The order.
    pub order_id: OrderId,
    /// Why.
    pub reason: NonEmptyText,
    /// When.
    pub voided_at: DateTime<Utc>,
}

/// Payload of `PaymentMismatchFound`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentMismatchFound {
    /// The order.
    pub order_id: OrderId,
    /// What the provider says it captured.
    pub provider_captured: Money,
    /// What the provider says it refunded.
    pub provider_refunded: Money,
    /// What we had recorded as captured.
    pub captured: Money,
    /// What we had recorded as refunded.
    pub refunded: Money,
    /// When.
    pub found_at: DateTime<Utc>,
}

/// Payload of `PaymentCaptureRequested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCaptureRequested {
    /// The order.
    pub order_id: OrderId,
    /// Our id for the capture.
    pub reference: ExternalRef,
    /// How much.
    pub amount: Money,
    /// The provider's reference of the payment to capture (a payment intent).
    pub provider_reference: ExternalRef,
    /// Which provider executes it.
    pub provider: Code,
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// Payload of `PaymentCaptureFailed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCaptureFailed {
    /// The order.
    pub order_id: OrderId,
    /// Our id of the capture asked for.
    pub reference: ExternalRef,
    /// The provider's code.
    pub code: Code,
    /// The provider's message.
    pub message: NonEmptyText,
    /// When.
    pub failed_at: DateTime<Utc>,
}

/// Payload of `PaymentVoidRequested`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentVoidRequested {
    /// The order.
    pub order_id: OrderId,
    /// Why.
    pub reason: NonEmptyText,
    /// The provider's reference of the payment to cancel (a payment intent).
    pub provider_reference: ExternalRef,
    /// Which provider executes it.
    pub provider: Code,
    /// When.
    pub requested_at: DateTime<Utc>,
}

/// Payload of `PaymentVoidFailed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentVoidFailed {
    /// The order.
    pub order_id: OrderId,
    /// The provider's code.
    pub code: Code,
    /// The provider's message.
    pub message: NonEmptyText,
    /// When.
    pub failed_at: DateTime<Utc>,
}

/// Payload of `PaymentDisputed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDisputed {
    /// The order.
    pub order_id: OrderId,
    /// The provider's dispute id.
    pub dispute_id: ExternalRef,
    /// How much is disputed.
    pub amount: Money,
    /// The bank's reason.
    pub reason: NonEmptyText,
    /// When.
    pub disputed_at: DateTime<Utc>,
}

/// Payload of `PaymentDisputeClosed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDisputeClosed {
    /// The order.
    pub order_id: OrderId,
    /// The provider's dispute id.
    pub dispute_id: ExternalRef,
    /// Won or lost.
    pub outcome: DisputeOutcome,
    /// When.
    pub closed_at: DateTime<Utc>,
}
