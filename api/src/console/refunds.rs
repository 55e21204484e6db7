//! Refunds on a payment's page, four eyes above the configured amount (ADR 0026): the refund
//! form (`payments.approve`), the refunds asked for approval with who asked and who decided,
//! and, to a second person with `payments.approve`, approve and reject. Through the same
//! functions as `POST /api/v1/payments/{id}/refund` and `…/refunds/{reference}/approve|reject`.

use axum::{
    extract::{rejection::FormRejection, Path, State},
    http::StatusCode,
    response::Response,
    Extension, Form,
};
use commands::CommandError;
use domain::{payment::PaymentError, Currency, ExternalRef, Money, NonEmptyText};
use projections::payments::{PaymentRow, RefundApprovalFilter};
use serde::Deserialize;
use tower_http::request_id::RequestId;

use super::{
    detail::Said,
    payments::show_payment,
    session::{self, Session},
    view::{
        done, given, major, minor_units, money, page_of, query_failed, refusal, refused_post,
        request_id, time, Refusal, AGAIN,
    },
};
use crate::{
    auth::{Grants, Permission},
    v1::refund_approvals::{decide, refund_or_ask},
    AppState,
};

/// A refund asked for approval, as the payment's page lists it.
pub(super) struct ApprovalShown {
    pub reference: String,
    pub amount: String,
    pub status: &'static str,
    pub requested_by: String,
    pub requested_at: String,
    pub decided: Option<String>,
    pub reason: Option<String>,
    /// Whether this person may approve or reject it now (a second person with
    /// `payments.approve`, while it awaits).
    pub decidable: bool,
    /// Whether it awaits and this person asked for it (they may withdraw it).
    pub mine: bool,
    pub approve_key: String,
    pub reject_key: String,
}

/// What the payment's page shows of refunds.
pub(super) struct RefundsShown {
    /// Whether the refund form is shown.
    pub can_refund: bool,
    pub key: String,
    /// What may still be refunded, in major units.
    pub refundable: String,
    /// Above what a refund awaits approval, as shown.
    pub approval_above: String,
    pub approvals: Vec<ApprovalShown>,
}

/// The refunds part of payment `p`'s page for `session`.
pub(super) async fn shown(
    state: &AppState,
    session: &Session,
    p: &PaymentRow,
) -> Result<RefundsShown, Response> {
    let filter = RefundApprovalFilter {
        payment_id: Some(p.payment_id.clone()),
        ..RefundApprovalFilter::default()
    };
    let listed = projections::payments::list_refund_approvals(&state.log, &filter, None, 200)
        .await
        .map_err(query_failed)?;
    let approver = session.role.grants(Permission::PaymentsApprove);
    let me = session.actor();
    let approvals = listed
        .items
        .into_iter()
        .map(|a| {
            let awaiting = a.status == "awaiting";
            let mine = a.requested_by == me;
            ApprovalShown {
                amount: money(a.amount_minor, &a.currency),
                status: match a.status.as_str() {
                    "awaiting" => "awaits approval",
                    "approved" => "approved",
                    _ => "rejected",
                },
                decided: a
                    .decided_by
                    .zip(a.decided_at)
                    .map(|(by, at)| format!("{by}, {}", time(&at))),
                reason: a.rejection_reason,
                requested_at: time(&a.requested_at),
                decidable: awaiting && approver && !mine,
                mine: awaiting && mine,
                requested_by: a.requested_by,
                reference: a.reference,
                approve_key: session::token(),
                reject_key: session::token(),
            }
        })
        .collect();
    let refundable = p.captured_minor - p.refunded_minor - p.refund_pending_minor;
    let currency = Currency::parse(&p.currency).ok();
    let in_major = |minor: i64| currency.map(|c| major(minor, c)).unwrap_or_default();
    Ok(RefundsShown {
        can_refund: approver && refundable > 0,
        key: session::token(),
        refundable: in_major(refundable.max(0)),
        approval_above: money(state.refund_approval_above_minor, &p.currency),
        approvals,
    })
}

/// The refund form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RefundFields {
    csrf: String,
    key: String,
    amount: String,
    reference: String,
}

pub(super) async fn refund(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    request: Option<Extension<RequestId>>,
    form: Result<Form<RefundFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return super::page::forged(AGAIN);
    };
    if let Some(refused) = refused_post(&session, &fields.csrf, Permission::PaymentsApprove) {
        return refused;
    }
    let again = |message: String| Said {
        message: Some(message),
        form: "refund",
        typed: fields.reference.clone(),
        amount: Some(fields.amount.clone()),
        ..Said::default()
    };
    let currency = match projections::payments::get_payment(&state.log, &id).await {
        Ok(Some(payment)) => Currency::parse(&payment.currency).ok(),
        Ok(None) => None,
        Err(error) => return super::view::unavailable(&error),
    };
    let Some(currency) = currency else {
        return super::page::error(StatusCode::NOT_FOUND, &format!("There is no payment {id}."));
    };
    let Some(amount) = minor_units(&fields.amount, currency) else {
        let message = format!(
            "Amount: in {currency}, with up to {} decimal places (such as {}).",
            currency.minor_digits(),
            major(2500, currency)
        );
        return show_payment(
            &state,
            &session,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            again(message),
        )
        .await;
    };
    let reference = match given(Some(fields.reference.clone())) {
        None => ExternalRef::parse(&format!("refund-{}", uuid::Uuid::now_v7())),
        Some(typed) => ExternalRef::parse(&typed),
    };
    let Ok(reference) = reference else {
        let message = "Reference: one line of up to 255 characters.".to_owned();
        return show_payment(
            &state,
            &session,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            again(message),
        )
        .await;
    };
    let meta = session.command_meta(request_id(request), Some(&fields.key));
    match refund_or_ask(&state, &meta, &id, reference, Money::new(amount, currency)).await {
        Ok((executed, awaiting)) => {
            let said = if awaiting {
                "refund_awaits"
            } else {
                "refunded"
            };
            done(&page_of("/console/payments", &id), said, &executed)
        }
        Err(CommandError::Rejected(
            refused @ (PaymentError::NonPositiveAmount | PaymentError::AmountTooLarge),
        )) => {
            let message = format!("Amount: {refused}.");
            show_payment(
                &state,
                &session,
                &id,
                StatusCode::UNPROCESSABLE_ENTITY,
                again(message),
            )
            .await
        }
        Err(error) => refused_on_page(&state, &session, &id, error, again).await,
    }
}

/// The approve form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ApproveFields {
    csrf: String,
    key: String,
}

pub(super) async fn approve(
    State(state): State<AppState>,
    session: Session,
    Path((id, reference)): Path<(String, String)>,
    request: Option<Extension<RequestId>>,
    form: Result<Form<ApproveFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return super::page::forged(AGAIN);
    };
    if let Some(refused) = refused_post(&session, &fields.csrf, Permission::PaymentsApprove) {
        return refused;
    }
    let Ok(reference) = ExternalRef::parse(&reference) else {
        return super::page::error(StatusCode::NOT_FOUND, "There is no such refund.");
    };
    let meta = session.command_meta(request_id(request), Some(&fields.key));
    match decide(&state, &meta, &id, reference, None).await {
        Ok(executed) => done(&page_of("/console/payments", &id), "approved", &executed),
        Err(error) => {
            let again = |message: String| Said {
                message: Some(message),
                ..Said::default()
            };
            refused_on_page(&state, &session, &id, error, again).await
        }
    }
}

/// The reject form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct RejectFields {
    csrf: String,
    key: String,
    reason: String,
}

pub(super) async fn reject(
    State(state): State<AppState>,
    session: Session,
    Path((id, reference)): Path<(String, String)>,
    request: Option<Extension<RequestId>>,
    form: Result<Form<RejectFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return super::page::forged(AGAIN);
    };
    if let Some(refused) = refused_post(&session, &fields.csrf, Permission::PaymentsApprove) {
        return refused;
    }
    let Ok(reference) = ExternalRef::parse(&reference) else {
        return super::page::error(StatusCode::NOT_FOUND, "There is no such refund.");
    };
    let again = |message: String| Said {
        message: Some(message),
        form: "reject",
        typed: fields.reason.clone(),
        ..Said::default()
    };
    let Ok(reason) = NonEmptyText::parse(&fields.reason) else {
        let message = "Give a reason: one line of up to 2000 characters.".to_owned();
        return show_payment(
            &state,
            &session,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            again(message),
        )
        .await;
    };
    let meta = session.command_meta(request_id(request), Some(&fields.key));
    match decide(&state, &meta, &id, reference, Some(reason)).await {
        Ok(executed) => done(&page_of("/console/payments", &id), "rejected", &executed),
        Err(error) => refused_on_page(&state, &session, &id, error, again).await,
    }
}

/// A refused refund, approval or rejection: the payment's page with the refusal, or the error
/// page of a failure.
async fn refused_on_page(
    state: &AppState,
    session: &Session,
    id: &str,
    error: CommandError<PaymentError>,
    again: impl Fn(String) -> Said,
) -> Response {
    match refusal(error) {
        Refusal::Said(status, message) => {
            show_payment(state, session, id, status, again(message)).await
        }
        Refusal::Failed(failed) => failed,
    }
}
