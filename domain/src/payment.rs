//! The Payment aggregate: one payment attempt with a provider, from request to capture, refund,
//! void or dispute.
//!
//! The provider is the source of truth for money movement and delivers out of order: a capture
//! seen before its authorization implies it, and each provider capture, refund and dispute id is
//! recorded once.

mod approval;
mod codec;
mod command;
mod decide;
mod event;
mod state;

pub use codec::{decode, encode, EVENT_TYPES};
pub use command::PaymentCommand;
pub use event::*;
pub use state::{
    ApprovalDecision, Authorization, Dispute, DisputeOutcome, PaymentFailure, PaymentState,
    PaymentStatus, RefundApproval, RefundOutcome, RefundRequest,
};

use crate::{decider::Decider, Context};

/// The stream type of payments in the log.
pub const AGGREGATE_TYPE: &str = "payment";

/// Why a payment command is refused.
#[derive(
    Debug, Clone, PartialEq, Eq, thiserror::Error, strum::IntoStaticStr, strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum PaymentError {
    /// Any command but request on a payment that does not exist.
    #[error("payment not requested")]
    NotRequested,
    /// Request with other details for an existing payment id.
    #[error("payment already requested with other details")]
    AlreadyRequested,
    /// A zero or negative amount.
    #[error("amount must be positive")]
    NonPositiveAmount,
    /// An amount in another currency than the payment's.
    #[error("amount is not in the payment currency")]
    CurrencyMismatch,
    /// A total that does not fit in minor units.
    #[error("amount overflow")]
    AmountOverflow,
    /// An amount above `Money::MAX_AMOUNT_MINOR`.
    #[error("an amount is at most 10^15 minor units")]
    AmountTooLarge,
    /// A second, different authorization.
    #[error("payment already authorized with another reference")]
    AlreadyAuthorized,
    /// Any change to a voided payment.
    #[error("payment is voided")]
    Voided,
    /// Captures would add up to more than was authorized.
    #[error("capture exceeds authorized amount")]
    CaptureExceedsAuthorized,
    /// A failure reported after money was captured.
    #[error("payment already captured")]
    AlreadyCaptured,
    /// Refunds would add up to more than was captured.
    #[error("refund exceeds captured amount minus refunds")]
    RefundExceedsCaptured,
    /// Void once money was captured (refund instead).
    #[error("cannot void after capture")]
    VoidAfterCapture,
    /// A dispute over more than was captured.
    #[error("dispute exceeds captured amount")]
    DisputeExceedsCaptured,
    /// A refund while a dispute is open: the bank holds the money until the dispute ends, and
    /// refunding it too would pay the cardholder twice.
    #[error("cannot refund while a dispute is open")]
    RefundWhileDisputed,
    /// The close of a dispute the payment never recorded.
    #[error("unknown dispute")]
    UnknownDispute,
    /// The outcome of a refund the back office never asked the provider for.
    #[error("unknown refund request")]
    UnknownRefundRequest,
    /// A second capture, or a void, while a capture asked of the provider has no answer yet.
    #[error("a capture is being asked of the provider")]
    CapturePending,
    /// A capture while a void asked of the provider has no answer yet.
    #[error("a void is being asked of the provider")]
    VoidPending,
    /// The approval or rejection of a refund that never awaited approval.
    #[error("no refund awaits approval under this reference")]
    UnknownRefundApproval,
    /// The person who asked for a refund cannot approve it: a second person must.
    #[error("a refund is approved by someone other than who asked for it")]
    ApproverIsRequester,
    /// The approval of a refund already rejected.
    #[error("the refund was rejected")]
    RefundRejected,
    /// The rejection of a refund already approved.
    #[error("the refund was approved")]
    RefundApproved,
    /// The provider's captured or refunded total differs from ours.
    #[error("the provider's captured or refunded total differs from ours")]
    ProviderMismatch,
}

/// The Payment decider. Its state is `None` until `RequestPayment`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Payment;

impl Decider for Payment {
    type State = Option<PaymentState>;
    type Command = PaymentCommand;
    type Event = PaymentEvent;
    type Error = PaymentError;

    fn decide(
        state: &Self::State,
        command: PaymentCommand,
        ctx: &Context,
    ) -> Result<Vec<PaymentEvent>, PaymentError> {
        decide::decide(state.as_ref(), command, ctx)
    }

    fn evolve(state: &mut Self::State, event: &PaymentEvent) {
        state::evolve(state, event);
    }
}

impl crate::Rule for PaymentError {
    fn rule(&self) -> &'static str {
        self.into()
    }

    fn is_missing(&self) -> bool {
        matches!(self, Self::NotRequested)
    }
}
