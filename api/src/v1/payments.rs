//! Payments: request, capture, refund, void, get, list.

use axum::{
    extract::{Path, State},
    response::Response,
    Json,
};
use commands::CommandError;
use domain::{
    order::OrderError,
    payment::{Payment, PaymentCommand, PaymentError, PaymentStatus},
    Code, Currency, ExternalRef, Money, NonEmptyText, OrderId, PaymentId, Rule as _,
};
use projections::{
    payments::{PaymentFilter, PaymentRow},
    Page, ReadModel,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{
    accepted, page_answer, refund_approvals, refund_approvals::RefundAccepted, schema,
    status_filter, Accepted, Paging,
};
use crate::{
    auth::{Caller, Permission},
    extract::{CommandContext, JsonBody, MinPosition},
    problem::{Problem, ProblemDetails, QueryParams},
    AppState,
};

/// A payment to ask the provider for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestPaymentRequest {
    /// The payment's id (a UUID); made by the server if absent.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub payment_id: Option<PaymentId>,
    /// The order it pays (a UUID).
    #[schema(value_type = String, format = Uuid)]
    pub order_id: OrderId,
    /// The amount in minor units, 1 to 10^15.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    pub amount_minor: i64,
    /// ISO 4217; the order's currency.
    #[schema(schema_with = schema::currency)]
    pub currency: Currency,
    /// The payment provider (`stripe`).
    #[schema(schema_with = schema::code)]
    pub provider: Code,
}

/// An amount of a payment to capture or refund.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountRequest {
    /// The amount in minor units of the payment's currency, 1 to 10^15.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_000_i64)]
    pub amount_minor: i64,
    /// The provider's id of this capture or refund; recorded once (made by the server if
    /// absent).
    #[schema(schema_with = schema::optional_reference)]
    pub reference: Option<ExternalRef>,
}

/// Why a payment is voided.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    /// The reason, kept in the audit trail.
    #[schema(schema_with = schema::text_2000)]
    pub reason: NonEmptyText,
}

/// Filters of the payment list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PaymentQuery {
    /// A payment status.
    pub status: Option<String>,
    /// The order paid.
    pub order_id: Option<String>,
    /// The provider.
    pub provider: Option<String>,
    /// The provider's id of the payment.
    pub provider_reference: Option<String>,
    /// The id of its latest capture (the charge, `ch_…`).
    pub charge_id: Option<String>,
    /// Requested at or after (RFC 3339).
    pub requested_from: Option<chrono::DateTime<chrono::Utc>>,
    /// Requested before (RFC 3339).
    pub requested_to: Option<chrono::DateTime<chrono::Utc>>,
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

/// A refusal about the amount a request carries, as a 422 naming `amount_minor`; the rule is
/// the domain's.
fn amount_problem(error: CommandError<PaymentError>) -> Problem {
    match error {
        CommandError::Rejected(
            refusal @ (PaymentError::NonPositiveAmount | PaymentError::AmountTooLarge),
        ) => Problem::validation("amount_minor", refusal.to_string()),
        other => other.into(),
    }
}

/// Requests a payment for an order.
#[utoipa::path(post, path = "/payments", tag = "payments", request_body = RequestPaymentRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe")),
    responses((status = 201, body = Accepted), (status = 200, body = Accepted), (status = 400, body = ProblemDetails), (status = 401, body = ProblemDetails),
        (status = 403, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 415, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn request(
    State(state): State<AppState>,
    ctx: CommandContext,
    JsonBody(body): JsonBody<RequestPaymentRequest>,
) -> Result<Response, Problem> {
    ctx.caller.require(Permission::PaymentsCreate)?;
    let payment_id: PaymentId = ctx.stream_id(&state, body.payment_id).await?;
    let command = PaymentCommand::RequestPayment {
        payment_id,
        order_id: body.order_id,
        amount: Money::new(body.amount_minor, body.currency),
        provider: body.provider,
    };
    let id = payment_id.to_string();
    // The order decides in the same append (ADR 0009): it must exist, be open, and be in the
    // payment's currency.
    let executed = state
        .handler
        .execute::<Payment>(&id, command, &ctx.meta)
        .await
        .map_err(|error| match error {
            CommandError::RefusedBy { refusal, .. } => match refusal {
                OrderError::NotPlaced => {
                    Problem::validation("order_id", format!("no order {}", body.order_id))
                }
                OrderError::CurrencyMismatch => {
                    Problem::validation("currency", "not the order's currency")
                }
                refusal => Problem::business_rule(refusal.rule().to_owned(), refusal.to_string()),
            },
            other => amount_problem(other),
        })?;
    Ok(accepted(
        &executed,
        &id,
        Some(format!("/api/v1/payments/{id}")),
    ))
}

/// The currency of payment `id`, for amounts given in its minor units.
async fn currency_of(state: &AppState, id: &str) -> Result<Currency, Problem> {
    let (payment, _) = state
        .handler
        .load::<Payment>(id)
        .await
        .map_err(Problem::from)?;
    payment
        .map(|p| p.requested.currency)
        .ok_or_else(|| Problem::not_found("payment", id))
}

fn reference(given: Option<ExternalRef>, kind: &str) -> Result<ExternalRef, Problem> {
    match given {
        Some(reference) => Ok(reference),
        None => ExternalRef::parse(&format!("{kind}-{}", uuid::Uuid::now_v7()))
            .map_err(|e| Problem::internal(&e)),
    }
}

/// Captures (part of) a payment. A Stripe payment whose payment intent is known is captured at
/// Stripe (once: a payment intent captures once): the capture is pending
/// (`capture_pending_minor`) until Stripe answers. Otherwise the capture is recorded at once; a
/// capture before the provider's authorization implies it.
#[utoipa::path(post, path = "/payments/{id}/capture", tag = "payments", request_body = AmountRequest,
    params(("id" = String, Path, description = "The payment's id"), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
        ("If-Match" = Option<String>, Header, description = "Only if the payment is still at this stream version")),
    responses((status = 200, body = Accepted), (status = 400, body = ProblemDetails), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 415, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn capture(
    State(state): State<AppState>,
    ctx: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AmountRequest>,
) -> Result<Response, Problem> {
    move_money(&state, &ctx, &id, body, "capture", |reference, amount| {
        PaymentCommand::RequestCapture { reference, amount }
    })
    .await
}

/// Captures or refunds `body`'s amount of payment `id`, in the payment's currency; the
/// reference is made (`{kind}-…`) if the caller gave none.
async fn move_money(
    state: &AppState,
    ctx: &CommandContext,
    id: &str,
    body: AmountRequest,
    kind: &str,
    command: fn(ExternalRef, Money) -> PaymentCommand,
) -> Result<Response, Problem> {
    ctx.caller.require(Permission::PaymentsApprove)?;
    let currency = currency_of(state, id).await?;
    let command = command(
        reference(body.reference, kind)?,
        Money::new(body.amount_minor, currency),
    );
    let executed = state
        .handler
        .execute::<Payment>(id, command, &ctx.meta)
        .await
        .map_err(amount_problem)?;
    Ok(accepted(&executed, id, None))
}

/// Refunds (part of) a captured payment; never more than captured minus refunded and minus
/// refunds still asked of the provider. A Stripe payment whose payment intent is known is
/// refunded at Stripe: the refund is pending (`refund_pending_minor`) until Stripe answers.
/// Otherwise the refund is recorded at once. Above `refund_approval_above_minor` (1 000.00 in a
/// two-decimal currency unless configured) the refund awaits a second person's approval: 202,
/// `awaiting_approval: true`, and nothing is refunded until `POST
/// /payments/{id}/refunds/{reference}/approve`.
#[utoipa::path(post, path = "/payments/{id}/refund", tag = "payments", request_body = AmountRequest,
    params(("id" = String, Path, description = "The payment's id"), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
        ("If-Match" = Option<String>, Header, description = "Only if the payment is still at this stream version")),
    responses((status = 200, body = RefundAccepted), (status = 202, body = RefundAccepted), (status = 400, body = ProblemDetails), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 415, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn refund(
    State(state): State<AppState>,
    ctx: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AmountRequest>,
) -> Result<Response, Problem> {
    ctx.caller.require(Permission::PaymentsApprove)?;
    let currency = currency_of(&state, &id).await?;
    let reference = reference(body.reference, "refund")?;
    let amount = Money::new(body.amount_minor, currency);
    let (executed, awaiting) =
        refund_approvals::refund_or_ask(&state, &ctx.meta, &id, reference.clone(), amount)
            .await
            .map_err(amount_problem)?;
    Ok(refund_approvals::refund_answer(
        &executed, &id, &reference, awaiting,
    ))
}

/// Voids a payment before capture. A Stripe payment whose payment intent is known is canceled
/// at Stripe, and recorded as voided when Stripe confirms it; others are voided at once.
#[utoipa::path(post, path = "/payments/{id}/void", tag = "payments", request_body = VoidRequest,
    params(("id" = String, Path, description = "The payment's id"), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
        ("If-Match" = Option<String>, Header, description = "Only if the payment is still at this stream version")),
    responses((status = 200, body = Accepted), (status = 400, body = ProblemDetails), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 415, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn void(
    State(state): State<AppState>,
    ctx: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VoidRequest>,
) -> Result<Response, Problem> {
    ctx.caller.require(Permission::PaymentsCancel)?;
    let command = PaymentCommand::RequestVoid {
        reason: body.reason,
    };
    let executed = state
        .handler
        .execute::<Payment>(&id, command, &ctx.meta)
        .await?;
    Ok(accepted(&executed, &id, None))
}

/// A payment.
#[utoipa::path(get, path = "/payments/{id}", tag = "payments",
    params(("id" = String, Path, description = "The payment's id"),
        ("X-Min-Position" = Option<i64>, Header, description = "Wait until the read includes this log position")),
    responses((status = 200, body = PaymentRow), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 422, body = ProblemDetails), (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    consistency: MinPosition,
    Path(id): Path<String>,
) -> Result<Json<PaymentRow>, Problem> {
    caller.require(Permission::PaymentsView)?;
    consistency.wait(&state, ReadModel::Payments.name()).await?;
    projections::payments::get_payment(&state.log, &id)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("payment", &id))
}

/// Payments, newest first.
#[utoipa::path(get, path = "/payments", tag = "payments", params(PaymentQuery),
    responses((status = 200, body = Page<PaymentRow>), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 422, body = ProblemDetails), (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    consistency: MinPosition,
    QueryParams(query): QueryParams<PaymentQuery>,
) -> Result<Json<Page<PaymentRow>>, Problem> {
    caller.require(Permission::PaymentsView)?;
    consistency.wait(&state, ReadModel::Payments.name()).await?;
    let filter = PaymentFilter {
        status: status_filter::<PaymentStatus>(query.status, "status")?,
        order_id: query.order_id,
        provider: query.provider,
        provider_reference: query.provider_reference,
        charge_id: query.charge_id,
        requested_from: query.requested_from,
        requested_to: query.requested_to,
    };
    let paging = Paging {
        cursor: query.cursor,
        limit: query.limit,
    };
    let (cursor, limit) = paging.parts()?;
    page_answer(projections::payments::list_payments(&state.log, &filter, cursor, limit).await)
}
