//! A payment's state as folded from its events, its derived status, and the fold itself.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::PaymentEvent;
use crate::{Code, ExternalRef, Money, NonEmptyText, OrderId, PaymentId};

/// Where a payment stands, derived from its amounts and flags.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum PaymentStatus {
    /// Requested, nothing from the provider yet.
    Pending,
    /// Authorized, nothing captured.
    Authorized,
    /// Part of the authorization captured.
    PartiallyCaptured,
    /// All of the authorization captured.
    Captured,
    /// Part of the captured money refunded.
    PartiallyRefunded,
    /// All of the captured money refunded.
    Refunded,
    /// The provider refused or failed it.
    Failed,
    /// Released before capture.
    Voided,
}

impl PaymentStatus {
    /// The status as stored and shown (`partially_captured`).
    pub fn as_str(&self) -> &'static str {
        self.into()
    }
}

/// The provider's authorization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The provider's reference.
    pub provider_reference: ExternalRef,
    /// How much may be captured.
    pub amount: Money,
    /// True when a capture implied it before the authorization itself arrived.
    pub implied: bool,
}

/// The provider's latest failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentFailure {
    /// The provider's code.
    pub code: Code,
    /// The provider's message.
    pub message: NonEmptyText,
}

/// A chargeback dispute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    /// The provider's dispute id.
    pub dispute_id: ExternalRef,
    /// How much is disputed.
    pub amount: Money,
    /// The bank's reason.
    pub reason: NonEmptyText,
    /// How it ended; `None` while open.
    pub outcome: Option<DisputeOutcome>,
}

/// How a dispute ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeOutcome {
    /// Decided for us (or withdrawn): the money stays with us.
    Won,
    /// Decided for the cardholder: the bank gave the money back to them.
    Lost,
}

/// A refund the back office asked the provider for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// How much was asked.
    pub amount: Money,
    /// What the provider said; `None` while it has not.
    pub outcome: Option<RefundOutcome>,
}

/// The provider's answer to a refund request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// Refunded, under the provider's refund id.
    Refunded(ExternalRef),
    /// Refused or failed.
    Failed,
}

/// A refund that awaits, or awaited, a second person's approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundApproval {
    /// How much.
    pub amount: Money,
    /// Who asked.
    pub requested_by: NonEmptyText,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// How it was decided; `None` while it awaits.
    pub decision: Option<ApprovalDecision>,
}

/// The approval or rejection of a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalDecision {
    /// Approved (else rejected).
    pub approved: bool,
    /// By whom.
    pub by: NonEmptyText,
    /// When.
    pub at: DateTime<Utc>,
    /// Why it was rejected.
    pub reason: Option<NonEmptyText>,
}

/// The state of an existing payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentState {
    /// The payment.
    pub payment_id: PaymentId,
    /// The order it pays.
    pub order_id: OrderId,
    /// How much was requested; its currency is the payment's.
    pub requested: Money,
    /// Which provider.
    pub provider: Code,
    /// The authorization, once known or implied.
    pub authorization: Option<Authorization>,
    /// All captures so far.
    pub captured: Money,
    /// All refunds so far.
    pub refunded: Money,
    /// The latest failure, cleared by a later authorization or capture.
    pub failure: Option<PaymentFailure>,
    /// True once voided.
    pub voided: bool,
    /// True while a void asked of the provider has no answer yet.
    pub void_pending: bool,
    /// A capture asked of the provider with no answer yet: our reference and its amount.
    pub capture_request: Option<(ExternalRef, Money)>,
    /// The provider's totals (captured, refunded) of the last mismatch found.
    pub mismatch: Option<(Money, Money)>,
    /// Provider capture ids already recorded.
    pub capture_ids: BTreeSet<ExternalRef>,
    /// The latest capture id (for a card payment, the charge a dispute or refund names).
    pub last_capture_id: Option<ExternalRef>,
    /// Provider refund ids already recorded.
    pub refund_ids: BTreeSet<ExternalRef>,
    /// Disputes opened against it.
    pub disputes: Vec<Dispute>,
    /// Refunds asked of the provider, by our reference.
    pub refund_requests: BTreeMap<ExternalRef, RefundRequest>,
    /// Refunds that a second person must approve, by our reference (they hold nothing back:
    /// what is refundable is checked again at the approval).
    pub refund_approvals: BTreeMap<ExternalRef, RefundApproval>,
}

impl PaymentState {
    /// Where the payment stands.
    pub fn status(&self) -> PaymentStatus {
        if self.voided {
            PaymentStatus::Voided
        } else if self.failure.is_some() {
            PaymentStatus::Failed
        } else if self.refunded.is_positive() {
            if self.refunded.amount_minor >= self.captured.amount_minor {
                PaymentStatus::Refunded
            } else {
                PaymentStatus::PartiallyRefunded
            }
        } else if self.captured.is_positive() {
            if self.captured.amount_minor >= self.authorized().amount_minor {
                PaymentStatus::Captured
            } else {
                PaymentStatus::PartiallyCaptured
            }
        } else if self.authorization.is_some() {
            PaymentStatus::Authorized
        } else {
            PaymentStatus::Pending
        }
    }

    /// The authorized amount, zero before any authorization.
    pub fn authorized(&self) -> Money {
        self.authorization
            .as_ref()
            .map_or(Money::zero(self.requested.currency), |auth| auth.amount)
    }

    /// What may still be refunded: captured, less what was refunded and what a lost dispute
    /// already gave back to the cardholder.
    pub fn refundable(&self) -> Money {
        Money::new(
            self.captured
                .amount_minor
                .saturating_sub(self.refunded.amount_minor)
                .saturating_sub(self.lost_to_disputes())
                .saturating_sub(self.refund_pending().amount_minor),
            self.requested.currency,
        )
    }

    /// What refunds asked of the provider hold back until it answers.
    pub fn refund_pending(&self) -> Money {
        let pending = self
            .refund_requests
            .values()
            .filter(|r| r.outcome.is_none())
            .map(|r| r.amount.amount_minor)
            .fold(0_i64, i64::saturating_add);
        Money::new(pending, self.requested.currency)
    }

    /// What refunds awaiting approval ask for, together.
    pub fn awaiting_approval(&self) -> Money {
        let awaiting = self
            .refund_approvals
            .values()
            .filter(|a| a.decision.is_none())
            .map(|a| a.amount.amount_minor)
            .fold(0_i64, i64::saturating_add);
        Money::new(awaiting, self.requested.currency)
    }

    /// What a capture asked of the provider will take, until it answers.
    pub fn capture_pending(&self) -> Money {
        self.capture_request
            .as_ref()
            .map_or(Money::zero(self.requested.currency), |(_, amount)| *amount)
    }

    /// The provider's reference of the payment when the back office executes its money there:
    /// a Stripe payment whose payment intent (`pi_…`) Stripe told it of, by an authorization or
    /// with a capture. A payment captured by hand (its reference is the capture's) is not.
    pub fn executed_at_provider(&self) -> Option<&ExternalRef> {
        self.authorization
            .as_ref()
            .map(|auth| &auth.provider_reference)
            .filter(|reference| {
                self.provider.as_str() == "stripe" && reference.as_str().starts_with("pi_")
            })
    }

    /// Whether a dispute is open: its money is with the bank until it ends.
    pub fn has_open_dispute(&self) -> bool {
        self.disputes.iter().any(|d| d.outcome.is_none())
    }

    /// What lost disputes gave back to the cardholder, in minor units.
    pub fn lost_to_disputes(&self) -> i64 {
        self.disputes
            .iter()
            .filter(|d| d.outcome == Some(DisputeOutcome::Lost))
            .map(|d| d.amount.amount_minor)
            .sum()
    }
}

/// Applies one event to the state.
pub(super) fn evolve(state: &mut Option<PaymentState>, event: &PaymentEvent) {
    if let PaymentEvent::PaymentRequested(requested) = event {
        let zero = Money::zero(requested.amount.currency);
        *state = Some(PaymentState {
            payment_id: requested.payment_id,
            order_id: requested.order_id,
            requested: requested.amount,
            provider: requested.provider.clone(),
            authorization: None,
            captured: zero,
            refunded: zero,
            failure: None,
            voided: false,
            void_pending: false,
            capture_request: None,
            mismatch: None,
            capture_ids: BTreeSet::new(),
            last_capture_id: None,
            refund_ids: BTreeSet::new(),
            disputes: Vec::new(),
            refund_requests: BTreeMap::new(),
            refund_approvals: BTreeMap::new(),
        });
        return;
    }
    // Events are only ever decided against an existing payment.
    let Some(payment) = state else { return };
    match event {
        PaymentEvent::PaymentRequested(_) => {}
        PaymentEvent::PaymentAuthorized(authorized) => {
            payment.authorization = Some(Authorization {
                provider_reference: authorized.provider_reference.clone(),
                amount: authorized.amount,
                implied: authorized.implied,
            });
            payment.failure = None;
        }
        PaymentEvent::PaymentCaptured(captured) => {
            payment.captured = captured.captured_total;
            payment.capture_ids.insert(captured.capture_id.clone());
            payment.last_capture_id = Some(captured.capture_id.clone());
            payment.failure = None;
            // Whoever recorded it (the provider's answer, or its webhook first), a capture at
            // the provider answers the capture asked of it: a payment intent captures once.
            payment.capture_request = None;
        }
        PaymentEvent::PaymentFailed(failed) => {
            payment.failure = Some(PaymentFailure {
                code: failed.code.clone(),
                message: failed.message.clone(),
            });
        }
        PaymentEvent::PaymentRefunded(refunded) => {
            payment.refunded = refunded.refunded_total;
            payment.refund_ids.insert(refunded.refund_id.clone());
            if let Some(request) = refunded
                .request
                .as_ref()
                .and_then(|r| payment.refund_requests.get_mut(r))
            {
                request.outcome = Some(RefundOutcome::Refunded(refunded.refund_id.clone()));
            }
        }
        PaymentEvent::PaymentRefundRequested(requested) => {
            payment.refund_requests.insert(
                requested.reference.clone(),
                RefundRequest {
                    amount: requested.amount,
                    outcome: None,
                },
            );
        }
        PaymentEvent::PaymentRefundFailed(failed) => {
            if let Some(request) = payment.refund_requests.get_mut(&failed.reference) {
                request.outcome = Some(RefundOutcome::Failed);
            }
        }
        PaymentEvent::PaymentRefundApprovalAsked(asked) => {
            payment.refund_approvals.insert(
                asked.reference.clone(),
                RefundApproval {
                    amount: asked.amount,
                    requested_by: asked.requested_by.clone(),
                    requested_at: asked.requested_at,
                    decision: None,
                },
            );
        }
        PaymentEvent::PaymentRefundApproved(approved) => {
            if let Some(approval) = payment.refund_approvals.get_mut(&approved.reference) {
                approval.decision = Some(ApprovalDecision {
                    approved: true,
                    by: approved.approved_by.clone(),
                    at: approved.approved_at,
                    reason: None,
                });
            }
        }
        PaymentEvent::PaymentRefundRejected(rejected) => {
            if let Some(approval) = payment.refund_approvals.get_mut(&rejected.reference) {
                approval.decision = Some(ApprovalDecision {
                    approved: false,
                    by: rejected.rejected_by.clone(),
                    at: rejected.rejected_at,
                    reason: Some(rejected.reason.clone()),
                });
            }
        }
        PaymentEvent::PaymentVoided(_) => {
            payment.voided = true;
            payment.void_pending = false;
        }
        PaymentEvent::PaymentVoidRequested(_) => payment.void_pending = true,
        PaymentEvent::PaymentVoidFailed(_) => payment.void_pending = false,
        PaymentEvent::PaymentCaptureRequested(requested) => {
            payment.capture_request = Some((requested.reference.clone(), requested.amount));
        }
        PaymentEvent::PaymentCaptureFailed(_) => payment.capture_request = None,
        PaymentEvent::PaymentMismatchFound(found) => {
            payment.mismatch = Some((found.provider_captured, found.provider_refunded));
        }
        PaymentEvent::PaymentDisputed(disputed) => payment.disputes.push(Dispute {
            dispute_id: disputed.dispute_id.clone(),
            amount: disputed.amount,
            reason: disputed.reason.clone(),
            outcome: None,
        }),
        PaymentEvent::PaymentDisputeClosed(closed) => {
            for dispute in &mut payment.disputes {
                if dispute.dispute_id == closed.dispute_id {
                    dispute.outcome = Some(closed.outcome);
                }
            }
        }
    }
}
