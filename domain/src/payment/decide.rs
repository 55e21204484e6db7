//! The payment's rules: which events each command causes in each status.

use super::approval;
use super::{
    PaymentAuthorized, PaymentCaptureFailed, PaymentCaptureRequested, PaymentCaptured,
    PaymentCommand, PaymentDisputeClosed, PaymentDisputed, PaymentError, PaymentEvent,
    PaymentFailed, PaymentMismatchFound, PaymentRefundFailed, PaymentRefundRequested,
    PaymentRefunded, PaymentRequested, PaymentState, PaymentVoidFailed, PaymentVoidRequested,
    PaymentVoided, RefundOutcome,
};
use crate::{Context, ExternalRef, Money, NonEmptyText};

pub(super) type Decision = Result<Vec<PaymentEvent>, PaymentError>;

/// Whether `amount` may be refunded: in the payment's currency, no dispute open, within what is
/// refundable plus `held` (what the request it answers holds back).
pub(super) fn check_refund(
    payment: &PaymentState,
    amount: Money,
    held: i64,
) -> Result<(), PaymentError> {
    check_amount(payment, amount)?;
    if payment.has_open_dispute() {
        return Err(PaymentError::RefundWhileDisputed);
    }
    if amount.amount_minor > payment.refundable().amount_minor.saturating_add(held) {
        return Err(PaymentError::RefundExceedsCaptured);
    }
    Ok(())
}

/// The release of the authorization, recorded: refused once money was captured, nothing once
/// nothing is open any more.
fn void(
    payment: &PaymentState,
    reason: NonEmptyText,
    now: chrono::DateTime<chrono::Utc>,
) -> Decision {
    if payment.captured.is_positive() {
        Err(PaymentError::VoidAfterCapture)
    } else if payment.voided || payment.failure.is_some() {
        // Nothing is open any more: the void's purpose is already met.
        Ok(vec![])
    } else {
        Ok(vec![PaymentEvent::PaymentVoided(PaymentVoided {
            order_id: payment.order_id,
            reason,
            voided_at: now,
        })])
    }
}

/// The refund of `amount` under `refund_id`, answering `request` (which holds back `held`).
fn refund(
    payment: &PaymentState,
    refund_id: ExternalRef,
    amount: Money,
    request: Option<ExternalRef>,
    held: i64,
    now: chrono::DateTime<chrono::Utc>,
) -> Decision {
    check_refund(payment, amount, held)?;
    Ok(vec![PaymentEvent::PaymentRefunded(PaymentRefunded {
        order_id: payment.order_id,
        refund_id,
        amount,
        refunded_total: add(payment.refunded, amount)?,
        refunded_at: now,
        request,
    })])
}

/// A capture asked of the provider, which captures a payment intent once: the same reference
/// again asks nothing more; another while one is pending, or after a capture, is refused.
fn request_capture(
    payment: &PaymentState,
    reference: ExternalRef,
    amount: Money,
    provider_reference: &ExternalRef,
    now: chrono::DateTime<chrono::Utc>,
) -> Decision {
    match &payment.capture_request {
        Some((pending, _)) if *pending == reference => return Ok(vec![]),
        Some(_) => return Err(PaymentError::CapturePending),
        None => {}
    }
    if payment.capture_ids.contains(&reference) {
        return Ok(vec![]);
    }
    if payment.voided {
        return Err(PaymentError::Voided);
    }
    if payment.void_pending {
        return Err(PaymentError::VoidPending);
    }
    if payment.captured.is_positive() {
        return Err(PaymentError::AlreadyCaptured);
    }
    check_amount(payment, amount)?;
    if amount.amount_minor > payment.authorized().amount_minor {
        return Err(PaymentError::CaptureExceedsAuthorized);
    }
    Ok(vec![PaymentEvent::PaymentCaptureRequested(
        PaymentCaptureRequested {
            order_id: payment.order_id,
            reference,
            amount,
            provider_reference: provider_reference.clone(),
            provider: payment.provider.clone(),
            requested_at: now,
        },
    )])
}

/// A refund of `amount` under `reference`: asked of the provider where the back office
/// executes the payment's money, otherwise recorded at once; the same reference again asks
/// nothing more.
pub(super) fn request_refund(
    payment: &PaymentState,
    reference: ExternalRef,
    amount: Money,
    now: chrono::DateTime<chrono::Utc>,
) -> Decision {
    if payment.refund_requests.contains_key(&reference) || payment.refund_ids.contains(&reference) {
        return Ok(vec![]);
    }
    let Some(provider_reference) = payment.executed_at_provider() else {
        return refund(payment, reference, amount, None, 0, now);
    };
    check_refund(payment, amount, 0)?;
    Ok(vec![PaymentEvent::PaymentRefundRequested(
        PaymentRefundRequested {
            order_id: payment.order_id,
            reference,
            amount,
            provider_reference: provider_reference.clone(),
            provider: payment.provider.clone(),
            requested_at: now,
        },
    )])
}

/// Decides the events for `command` against `state` (`None`: not requested yet).
pub(super) fn decide(
    state: Option<&PaymentState>,
    command: PaymentCommand,
    ctx: &Context,
) -> Decision {
    use PaymentCommand as C;
    let now = ctx.now();
    if let C::RequestPayment {
        payment_id,
        order_id,
        amount,
        provider,
    } = command
    {
        if let Some(existing) = state {
            let same = existing.payment_id == payment_id
                && existing.order_id == order_id
                && existing.requested == amount
                && existing.provider == provider;
            return if same {
                Ok(vec![])
            } else {
                Err(PaymentError::AlreadyRequested)
            };
        }
        if !amount.is_positive() {
            return Err(PaymentError::NonPositiveAmount);
        }
        if amount.amount_minor > Money::MAX_AMOUNT_MINOR {
            return Err(PaymentError::AmountTooLarge);
        }
        return Ok(vec![PaymentEvent::PaymentRequested(PaymentRequested {
            payment_id,
            order_id,
            amount,
            provider,
            requested_at: now,
        })]);
    }

    let payment = state.ok_or(PaymentError::NotRequested)?;
    match command {
        C::RequestPayment { .. } => Ok(vec![]),
        C::RecordAuthorization {
            provider_reference,
            amount,
        } => {
            if payment.voided {
                return Err(PaymentError::Voided);
            }
            check_amount(payment, amount)?;
            let authorized = PaymentEvent::PaymentAuthorized(PaymentAuthorized {
                provider_reference: provider_reference.clone(),
                amount,
                implied: false,
                authorized_at: now,
            });
            match &payment.authorization {
                None => Ok(vec![authorized]),
                // The real authorization arrives after a capture implied it: it replaces the
                // implied one, as long as it covers what was already captured.
                Some(existing) if existing.implied => {
                    if amount.amount_minor < payment.captured.amount_minor {
                        Err(PaymentError::CaptureExceedsAuthorized)
                    } else {
                        Ok(vec![authorized])
                    }
                }
                Some(existing) if existing.provider_reference == provider_reference => Ok(vec![]),
                Some(_) => Err(PaymentError::AlreadyAuthorized),
            }
        }
        C::CapturePayment {
            capture_id,
            amount,
            provider_reference,
        } => {
            if payment.capture_ids.contains(&capture_id) {
                return Ok(vec![]);
            }
            if payment.voided {
                return Err(PaymentError::Voided);
            }
            check_amount(payment, amount)?;
            let captured_total = add(payment.captured, amount)?;
            let mut events = Vec::with_capacity(2);
            match &payment.authorization {
                Some(auth) if captured_total.amount_minor > auth.amount.amount_minor => {
                    return Err(PaymentError::CaptureExceedsAuthorized);
                }
                Some(_) => {}
                // Providers deliver out of order: money captured proves it was authorized.
                None => events.push(PaymentEvent::PaymentAuthorized(PaymentAuthorized {
                    provider_reference: provider_reference.unwrap_or_else(|| capture_id.clone()),
                    amount: Money::new(
                        payment
                            .requested
                            .amount_minor
                            .max(captured_total.amount_minor),
                        payment.requested.currency,
                    ),
                    implied: true,
                    authorized_at: now,
                })),
            }
            events.push(PaymentEvent::PaymentCaptured(PaymentCaptured {
                order_id: payment.order_id,
                capture_id,
                amount,
                captured_total,
                captured_at: now,
            }));
            Ok(events)
        }
        C::RequestCapture { reference, amount } => {
            let Some(provider_reference) = payment.executed_at_provider() else {
                return decide(
                    state,
                    C::CapturePayment {
                        capture_id: reference,
                        amount,
                        provider_reference: None,
                    },
                    ctx,
                );
            };
            request_capture(payment, reference, amount, provider_reference, now)
        }
        C::RecordCaptureFailed { code, message } => {
            Ok(match &payment.capture_request {
                Some((reference, _)) => {
                    vec![PaymentEvent::PaymentCaptureFailed(PaymentCaptureFailed {
                        order_id: payment.order_id,
                        reference: reference.clone(),
                        code,
                        message,
                        failed_at: now,
                    })]
                }
                // No capture awaits an answer: nothing to record.
                None => vec![],
            })
        }
        C::RecordProviderTotals { captured, refunded } => {
            check_currency(payment, captured)?;
            check_currency(payment, refunded)?;
            let in_flight =
                payment.capture_request.is_some() || payment.refund_pending().is_positive();
            let agree = captured == payment.captured && refunded == payment.refunded;
            if in_flight || agree || payment.mismatch == Some((captured, refunded)) {
                return Ok(vec![]);
            }
            Ok(vec![PaymentEvent::PaymentMismatchFound(
                PaymentMismatchFound {
                    order_id: payment.order_id,
                    provider_captured: captured,
                    provider_refunded: refunded,
                    captured: payment.captured,
                    refunded: payment.refunded,
                    found_at: now,
                },
            )])
        }
        C::ConfirmProviderTotals { captured, refunded } => {
            if captured == payment.captured && refunded == payment.refunded {
                Ok(vec![])
            } else {
                Err(PaymentError::ProviderMismatch)
            }
        }
        C::RecordFailure { code, message } => {
            if payment.voided {
                Err(PaymentError::Voided)
            } else if payment.captured.is_positive() {
                Err(PaymentError::AlreadyCaptured)
            } else if payment.failure.is_some() {
                Ok(vec![])
            } else {
                Ok(vec![PaymentEvent::PaymentFailed(PaymentFailed {
                    code,
                    message,
                    failed_at: now,
                })])
            }
        }
        C::RefundPayment {
            refund_id,
            amount,
            request,
        } => {
            let asked = request
                .as_ref()
                .and_then(|r| payment.refund_requests.get(r));
            let answered =
                asked.is_some_and(|r| matches!(r.outcome, Some(RefundOutcome::Refunded(_))));
            // Recorded before under this id, or under the request's own reference (a refund
            // recorded at once), or the request already answered: once is enough.
            let known = payment.refund_ids.contains(&refund_id)
                || request
                    .as_ref()
                    .is_some_and(|r| payment.refund_ids.contains(r));
            if known || answered {
                return Ok(vec![]);
            }
            // The provider's word: a refund it made for a request of ours takes what the
            // request held back (even after we recorded it as failed: the provider decides).
            let held = asked
                .filter(|r| r.outcome.is_none())
                .map_or(0, |r| r.amount.amount_minor);
            refund(payment, refund_id, amount, request, held, now)
        }
        // A reference awaiting approval goes on only through its approval.
        C::RequestRefund { reference, .. } if payment.refund_approvals.contains_key(&reference) => {
            Ok(vec![])
        }
        C::RequestRefund { reference, amount } => request_refund(payment, reference, amount, now),
        C::AskRefundApproval {
            reference,
            amount,
            requested_by,
        } => approval::ask(payment, reference, amount, requested_by, now),
        C::ApproveRefund {
            reference,
            approved_by,
        } => approval::approve(payment, reference, approved_by, now),
        C::RejectRefund {
            reference,
            rejected_by,
            reason,
        } => approval::reject(payment, reference, rejected_by, reason, now),
        C::RecordRefundFailed {
            reference,
            code,
            message,
        } => {
            let request = payment
                .refund_requests
                .get(&reference)
                .ok_or(PaymentError::UnknownRefundRequest)?;
            if request.outcome.is_some() {
                return Ok(vec![]);
            }
            Ok(vec![PaymentEvent::PaymentRefundFailed(
                PaymentRefundFailed {
                    order_id: payment.order_id,
                    reference,
                    amount: request.amount,
                    code,
                    message,
                    failed_at: now,
                },
            )])
        }
        C::VoidPayment { reason } => void(payment, reason, now),
        C::RequestVoid { reason } => {
            let Some(provider_reference) = payment.executed_at_provider() else {
                return void(payment, reason, now);
            };
            if payment.captured.is_positive() {
                Err(PaymentError::VoidAfterCapture)
            } else if payment.capture_request.is_some() {
                Err(PaymentError::CapturePending)
            } else if payment.voided || payment.failure.is_some() || payment.void_pending {
                // Released already, or being released.
                Ok(vec![])
            } else {
                Ok(vec![PaymentEvent::PaymentVoidRequested(
                    PaymentVoidRequested {
                        order_id: payment.order_id,
                        reason,
                        provider_reference: provider_reference.clone(),
                        provider: payment.provider.clone(),
                        requested_at: now,
                    },
                )])
            }
        }
        C::RecordVoidFailed { code, message } => {
            if !payment.void_pending {
                // No void awaits an answer: nothing to record.
                return Ok(vec![]);
            }
            Ok(vec![PaymentEvent::PaymentVoidFailed(PaymentVoidFailed {
                order_id: payment.order_id,
                code,
                message,
                failed_at: now,
            })])
        }
        C::RecordDispute {
            dispute_id,
            amount,
            reason,
        } => {
            if payment.disputes.iter().any(|d| d.dispute_id == dispute_id) {
                return Ok(vec![]);
            }
            check_amount(payment, amount)?;
            if amount.amount_minor > payment.captured.amount_minor {
                return Err(PaymentError::DisputeExceedsCaptured);
            }
            Ok(vec![PaymentEvent::PaymentDisputed(PaymentDisputed {
                order_id: payment.order_id,
                dispute_id,
                amount,
                reason,
                disputed_at: now,
            })])
        }
        C::RecordDisputeClosed {
            dispute_id,
            outcome,
        } => {
            let dispute = payment
                .disputes
                .iter()
                .find(|d| d.dispute_id == dispute_id)
                .ok_or(PaymentError::UnknownDispute)?;
            // Closed already: the provider does not reopen a decided dispute.
            if dispute.outcome.is_some() {
                return Ok(vec![]);
            }
            Ok(vec![PaymentEvent::PaymentDisputeClosed(
                PaymentDisputeClosed {
                    order_id: payment.order_id,
                    dispute_id,
                    outcome,
                    closed_at: now,
                },
            )])
        }
    }
}

/// A total must be in the payment's currency.
fn check_currency(payment: &PaymentState, total: Money) -> Result<(), PaymentError> {
    if total.currency == payment.requested.currency {
        Ok(())
    } else {
        Err(PaymentError::CurrencyMismatch)
    }
}

/// A command amount must be positive and in the payment's currency.
fn check_amount(payment: &PaymentState, amount: Money) -> Result<(), PaymentError> {
    if amount.currency != payment.requested.currency {
        Err(PaymentError::CurrencyMismatch)
    } else if !amount.is_positive() {
        Err(PaymentError::NonPositiveAmount)
    } else if amount.amount_minor > Money::MAX_AMOUNT_MINOR {
        Err(PaymentError::AmountTooLarge)
    } else {
        Ok(())
    }
}

fn add(total: Money, amount: Money) -> Result<Money, PaymentError> {
    total
        .checked_add(amount)
        .map_err(|_| PaymentError::AmountOverflow)
}
