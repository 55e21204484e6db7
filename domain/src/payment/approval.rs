//! Four-eyes refunds: a refund above the configured amount is asked for by one person and
//! goes on only once a second person approves it (ADR 0026). Whether a refund needs approval
//! is the caller's decision (the amount is configuration); the payment decides who may
//! approve, and that each refund is approved or rejected once.

use super::{
    decide::{check_refund, request_refund, Decision},
    PaymentError, PaymentEvent, PaymentRefundApprovalAsked, PaymentRefundApproved,
    PaymentRefundRejected, PaymentState,
};
use crate::{ExternalRef, Money, NonEmptyText};

type Now = chrono::DateTime<chrono::Utc>;

/// A refund asked for, to await approval: checked against what is refundable now; the same
/// reference again asks nothing more.
pub(super) fn ask(
    payment: &PaymentState,
    reference: ExternalRef,
    amount: Money,
    requested_by: NonEmptyText,
    now: Now,
) -> Decision {
    if payment.refund_approvals.contains_key(&reference)
        || payment.refund_requests.contains_key(&reference)
        || payment.refund_ids.contains(&reference)
    {
        return Ok(vec![]);
    }
    check_refund(payment, amount, 0)?;
    Ok(vec![PaymentEvent::PaymentRefundApprovalAsked(
        PaymentRefundApprovalAsked {
            order_id: payment.order_id,
            reference,
            amount,
            requested_by,
            requested_at: now,
        },
    )])
}

/// The approval of refund `reference` by `approved_by`, followed by the refund itself (asked
/// of the provider, or recorded at once), decided against what is refundable now.
pub(super) fn approve(
    payment: &PaymentState,
    reference: ExternalRef,
    approved_by: NonEmptyText,
    now: Now,
) -> Decision {
    let approval = payment
        .refund_approvals
        .get(&reference)
        .ok_or(PaymentError::UnknownRefundApproval)?;
    match &approval.decision {
        Some(decision) if decision.approved => return Ok(vec![]),
        Some(_) => return Err(PaymentError::RefundRejected),
        None => {}
    }
    if approval.requested_by == approved_by {
        return Err(PaymentError::ApproverIsRequester);
    }
    let mut events = vec![PaymentEvent::PaymentRefundApproved(PaymentRefundApproved {
        order_id: payment.order_id,
        reference: reference.clone(),
        amount: approval.amount,
        requested_by: approval.requested_by.clone(),
        approved_by,
        approved_at: now,
    })];
    events.extend(request_refund(payment, reference, approval.amount, now)?);
    Ok(events)
}

/// The rejection of refund `reference`: once; refused once it was approved.
pub(super) fn reject(
    payment: &PaymentState,
    reference: ExternalRef,
    rejected_by: NonEmptyText,
    reason: NonEmptyText,
    now: Now,
) -> Decision {
    let approval = payment
        .refund_approvals
        .get(&reference)
        .ok_or(PaymentError::UnknownRefundApproval)?;
    match &approval.decision {
        Some(decision) if decision.approved => Err(PaymentError::RefundApproved),
        Some(_) => Ok(vec![]),
        None => Ok(vec![PaymentEvent::PaymentRefundRejected(
            PaymentRefundRejected {
                order_id: payment.order_id,
                reference,
                amount: approval.amount,
                rejected_by,
                reason,
                rejected_at: now,
            },
        )]),
    }
}
