//! Four-eyes refunds (ADR 0026): a refund above `refund_approval_above_minor` is asked for by
//! one person and made only once a second person with `payments.approve` approves it; the
//! requester never can. Both steps are events of the payment, listed here and on the console.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use commands::{CommandError, CommandMeta, Executed};
use domain::{
    payment::{Payment, PaymentCommand, PaymentError},
    ExternalRef, Money, NonEmptyText,
};
use projections::{
    payments::{RefundApprovalFilter, RefundApprovalRow},
    Page, ReadModel,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{accepted, page_answer, schema, Accepted};
use crate::{
    auth::{Caller, Permission},
    extract::{CommandContext, JsonBody, MinPosition},
    problem::{Problem, ProblemDetails, QueryParams},
    AppState,
};

/// Above this many minor units a refund needs a second person's approval, unless configured.
pub const DEFAULT_APPROVAL_ABOVE_MINOR: i64 = 100_000;

/// What a refund asked for answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefundAccepted {
    /// The command's answer.
    #[serde(flatten)]
    pub accepted: Accepted,
    /// The refund's reference (the one given, or made).
    pub reference: String,
    /// True when the refund awaits a second person's approval (its amount is above
    /// `refund_approval_above_minor`): nothing is refunded until then.
    pub awaiting_approval: bool,
}

/// Whether a refund of `amount` needs approval under `state`'s configuration.
pub fn needs_approval(state: &AppState, amount: Money) -> bool {
    amount.amount_minor > state.refund_approval_above_minor
}

/// Refunds `amount` of payment `id` under `reference`, or asks for its approval when it is
/// above the configured amount (the requester is `meta`'s actor); answers what was executed
/// and whether the refund awaits approval.
pub async fn refund_or_ask(
    state: &AppState,
    meta: &CommandMeta,
    id: &str,
    reference: ExternalRef,
    amount: Money,
) -> Result<(Executed, bool), CommandError<PaymentError>> {
    let awaiting = needs_approval(state, amount);
    let command = if awaiting {
        PaymentCommand::AskRefundApproval {
            reference,
            amount,
            requested_by: actor_of(meta),
        }
    } else {
        PaymentCommand::RequestRefund { reference, amount }
    };
    let executed = state.handler.execute::<Payment>(id, command, meta).await?;
    Ok((executed, awaiting))
}

/// Approves refund `reference` of payment `id` as `meta`'s actor, or rejects it with `reason`.
pub async fn decide(
    state: &AppState,
    meta: &CommandMeta,
    id: &str,
    reference: ExternalRef,
    rejection: Option<NonEmptyText>,
) -> Result<Executed, CommandError<PaymentError>> {
    let by = actor_of(meta);
    let command = match rejection {
        None => PaymentCommand::ApproveRefund {
            reference,
            approved_by: by,
        },
        Some(reason) => PaymentCommand::RejectRefund {
            reference,
            rejected_by: by,
            reason,
        },
    };
    state.handler.execute::<Payment>(id, command, meta).await
}

fn actor_of(meta: &CommandMeta) -> NonEmptyText {
    NonEmptyText::fitted(meta.metadata.actor.as_deref().unwrap_or("unknown"))
}

/// The answer to a refund asked for: 202 when it awaits approval, 200 otherwise.
pub(crate) fn refund_answer(
    executed: &Executed,
    id: &str,
    reference: &ExternalRef,
    awaiting: bool,
) -> Response {
    let answer = accepted(executed, id, None);
    let (parts, _) = answer.into_parts();
    let body = RefundAccepted {
        accepted: Accepted {
            id: id.to_owned(),
            stream_version: executed.stream_version,
            position: executed.position,
            changed: !executed.events.is_empty() && !executed.replayed,
        },
        reference: reference.as_str().to_owned(),
        awaiting_approval: awaiting,
    };
    let status = if awaiting {
        StatusCode::ACCEPTED
    } else {
        parts.status
    };
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().extend(parts.headers);
    response
}

/// Why a refund is rejected.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RejectRequest {
    /// The reason, kept in the audit trail.
    #[schema(schema_with = schema::text_2000)]
    pub reason: NonEmptyText,
}

/// Approves a refund awaiting approval; the refund is then made (asked of Stripe, or recorded).
/// Refused (409, `approver_is_requester`) to the person who asked for it.
#[utoipa::path(post, path = "/payments/{id}/refunds/{reference}/approve", tag = "payments",
    params(("id" = String, Path, description = "The payment's id"), ("reference" = String, Path, description = "The refund's reference"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 200, body = Accepted), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn approve(
    State(state): State<AppState>,
    ctx: CommandContext,
    Path((id, reference)): Path<(String, String)>,
) -> Result<Response, Problem> {
    ctx.caller.require(Permission::PaymentsApprove)?;
    let reference = parse_reference(&reference)?;
    let executed = decide(&state, &ctx.meta, &id, reference, None).await?;
    Ok(accepted(&executed, &id, None))
}

/// Rejects a refund awaiting approval (its requester may withdraw it so); nothing is refunded.
#[utoipa::path(post, path = "/payments/{id}/refunds/{reference}/reject", tag = "payments", request_body = RejectRequest,
    params(("id" = String, Path, description = "The payment's id"), ("reference" = String, Path, description = "The refund's reference"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 200, body = Accepted), (status = 400, body = ProblemDetails), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 415, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn reject(
    State(state): State<AppState>,
    ctx: CommandContext,
    Path((id, reference)): Path<(String, String)>,
    JsonBody(body): JsonBody<RejectRequest>,
) -> Result<Response, Problem> {
    ctx.caller.require(Permission::PaymentsApprove)?;
    let reference = parse_reference(&reference)?;
    let executed = decide(&state, &ctx.meta, &id, reference, Some(body.reason)).await?;
    Ok(accepted(&executed, &id, None))
}

/// The reference in the path; one that no refund could have is not found (404).
fn parse_reference(reference: &str) -> Result<ExternalRef, Problem> {
    ExternalRef::parse(reference).map_err(|_| Problem::not_found("refund approval", reference))
}

/// Filters of the refund approvals.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RefundApprovalQuery {
    /// `awaiting`, `approved` or `rejected`.
    pub status: Option<String>,
    /// The payment.
    pub payment_id: Option<String>,
    /// The order.
    pub order_id: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Wait until the list includes this log position (read by `MinPosition`; declared here
    /// for the OpenAPI document).
    #[allow(dead_code)]
    pub min_position: Option<i64>,
}

/// Refunds asked for approval, newest first.
#[utoipa::path(get, path = "/refund-approvals", tag = "payments", params(RefundApprovalQuery),
    responses((status = 200, body = Page<RefundApprovalRow>), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 422, body = ProblemDetails), (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    consistency: MinPosition,
    QueryParams(query): QueryParams<RefundApprovalQuery>,
) -> Result<Json<Page<RefundApprovalRow>>, Problem> {
    caller.require(Permission::PaymentsView)?;
    consistency.wait(&state, ReadModel::Payments.name()).await?;
    if let Some(status) = &query.status {
        if !["awaiting", "approved", "rejected"].contains(&status.as_str()) {
            return Err(Problem::validation(
                "status",
                "status is awaiting, approved or rejected",
            ));
        }
    }
    let filter = RefundApprovalFilter {
        status: query.status,
        payment_id: query.payment_id,
        order_id: query.order_id,
    };
    let limit = problem::page_size(query.limit, 50, 200)?;
    page_answer(
        projections::payments::list_refund_approvals(
            &state.log,
            &filter,
            query.cursor.as_deref(),
            limit,
        )
        .await,
    )
}
