//! The `payments` read model: one row per payment, for the UI's payment list and detail and
//! for reconciliation reports.

use chrono::{DateTime, Utc};
use domain::{
    payment::{Payment, PaymentEvent, PaymentState},
    Decider, DecodeError, EventCodec,
};
use eventlog::{EventLog, HandlerError, RecordedEvent, StorageError};
use serde::{Deserialize, Serialize};

use crate::{
    fold::Fold,
    model::Batch,
    read::{rows_where, List, Page, QueryError},
    table::{col, nullable, Kind::*, Table, Writes},
};

/// The aggregate type whose events this read model follows.
pub const PAYMENT: &str = <PaymentEvent as EventCodec>::AGGREGATE_TYPE;

pub(crate) const PAYMENTS: Table = Table {
    name: "payments",
    columns: &[
        col("payment_id", Text),
        col("order_id", Text),
        col("provider", Text),
        col("status", Text),
        col("currency", Text),
        col("requested_minor", Int),
        col("authorized_minor", Int),
        col("captured_minor", Int),
        col("refunded_minor", Int),
        col("refund_pending_minor", Int),
        col("capture_pending_minor", Int),
        nullable("provider_reference", Text),
        nullable("charge_id", Text),
        nullable("failure_code", Text),
        nullable("failure_message", Text),
        col("disputes", Int),
        col("disputed_minor", Int),
        col("requested_at", Time),
        col("updated_at", Time),
        col("last_position", Int),
    ],
    key: &["payment_id"],
    indexes: &[
        ("requested_at", "requested_at DESC, payment_id DESC"),
        ("order", "order_id"),
        ("provider_reference", "provider_reference"),
        ("charge", "charge_id"),
        ("status", "status, requested_at DESC"),
    ],
};

/// Refunds that a second person must approve (four-eyes, ADR 0026), one row per refund.
pub(crate) const REFUND_APPROVALS: Table = Table {
    name: "payment_refund_approvals",
    columns: &[
        col("approval_id", Text),
        col("payment_id", Text),
        col("reference", Text),
        col("order_id", Text),
        col("status", Text),
        col("currency", Text),
        col("amount_minor", Int),
        col("requested_by", Text),
        col("requested_at", Time),
        nullable("decided_by", Text),
        nullable("decided_at", Time),
        nullable("rejection_reason", Text),
        col("last_position", Int),
    ],
    key: &["approval_id"],
    indexes: &[
        ("requested_at", "requested_at DESC, approval_id DESC"),
        ("status", "status, requested_at DESC"),
        ("payment", "payment_id"),
    ],
};

pub(crate) const TABLES: &[&Table] = &[&PAYMENTS, &REFUND_APPROVALS];

/// A row of `payment_refund_approvals`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RefundApprovalRow {
    /// `{payment_id}/{reference}`.
    pub approval_id: String,
    /// The payment to refund.
    pub payment_id: String,
    /// The refund's reference (its approval and rejection name it).
    pub reference: String,
    /// The order.
    pub order_id: String,
    /// `awaiting`, `approved` or `rejected`.
    pub status: String,
    /// ISO 4217.
    pub currency: String,
    /// How much, in minor units.
    pub amount_minor: i64,
    /// Who asked (`user:ana`).
    pub requested_by: String,
    /// When.
    #[serde(with = "crate::table::time")]
    pub requested_at: DateTime<Utc>,
    /// Who approved or rejected it.
    pub decided_by: Option<String>,
    /// When.
    #[serde(with = "crate::table::optional_time")]
    pub decided_at: Option<DateTime<Utc>>,
    /// Why it was rejected.
    pub rejection_reason: Option<String>,
    /// The log position this row reflects.
    pub last_position: i64,
}

/// A row of `payments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PaymentRow {
    /// The payment.
    pub payment_id: String,
    /// The order it pays.
    pub order_id: String,
    /// The payment provider (`stripe`).
    pub provider: String,
    /// `pending`, `authorized`, `partially_captured`, `captured`, `partially_refunded`,
    /// `refunded`, `failed` or `voided`.
    pub status: String,
    /// ISO 4217.
    pub currency: String,
    /// Asked for, in minor units.
    pub requested_minor: i64,
    /// Authorized by the provider.
    pub authorized_minor: i64,
    /// Captured.
    pub captured_minor: i64,
    /// Refunded, as the provider confirmed.
    pub refunded_minor: i64,
    /// Refunds asked of the provider that it has not answered yet.
    pub refund_pending_minor: i64,
    /// What a capture asked of the provider will take once it confirms it; not in
    /// `captured_minor` until then.
    pub capture_pending_minor: i64,
    /// The provider's id of the payment, once authorized.
    pub provider_reference: Option<String>,
    /// The id of its latest capture (for a card payment at Stripe, the charge `ch_…`).
    pub charge_id: Option<String>,
    /// The provider's failure code, while failed.
    pub failure_code: Option<String>,
    /// The provider's failure message, while failed.
    pub failure_message: Option<String>,
    /// Disputes (chargebacks) opened.
    pub disputes: i64,
    /// Their amounts summed.
    pub disputed_minor: i64,
    /// When it was requested.
    #[serde(with = "crate::table::time")]
    pub requested_at: DateTime<Utc>,
    /// When its last event was recorded.
    #[serde(with = "crate::table::time")]
    pub updated_at: DateTime<Utc>,
    /// The log position this row reflects.
    pub last_position: i64,
}

/// Folds one payment event.
fn step(
    state: &mut Option<PaymentState>,
    requested_at: &mut Option<DateTime<Utc>>,
    recorded: &RecordedEvent,
) -> Result<(), DecodeError> {
    let event = PaymentEvent::decode(
        &recorded.event_type,
        recorded.event_version,
        &recorded.payload,
    )?;
    if let PaymentEvent::PaymentRequested(requested) = &event {
        *requested_at = Some(requested.requested_at);
    }
    Payment::evolve(state, &event);
    Ok(())
}

/// The row of the payment folded in `fold`; `None` before it is requested.
fn row_of(fold: &Fold<Option<PaymentState>>) -> Option<PaymentRow> {
    let (Some(payment), Some(requested_at)) = (&fold.state, fold.started_at) else {
        return None;
    };
    Some(PaymentRow {
        payment_id: payment.payment_id.to_string(),
        order_id: payment.order_id.to_string(),
        provider: payment.provider.as_str().to_owned(),
        status: payment.status().as_str().to_owned(),
        currency: payment.requested.currency.as_str().to_owned(),
        requested_minor: payment.requested.amount_minor,
        authorized_minor: payment.authorized().amount_minor,
        captured_minor: payment.captured.amount_minor,
        refunded_minor: payment.refunded.amount_minor,
        refund_pending_minor: payment.refund_pending().amount_minor,
        capture_pending_minor: payment.capture_pending().amount_minor,
        provider_reference: payment
            .authorization
            .as_ref()
            .map(|a| a.provider_reference.as_str().to_owned()),
        charge_id: payment
            .last_capture_id
            .as_ref()
            .map(|c| c.as_str().to_owned()),
        failure_code: payment.failure.as_ref().map(|f| f.code.as_str().to_owned()),
        failure_message: payment
            .failure
            .as_ref()
            .map(|f| f.message.as_str().to_owned()),
        disputes: i64::try_from(payment.disputes.len()).unwrap_or(i64::MAX),
        disputed_minor: payment.disputes.iter().map(|d| d.amount.amount_minor).sum(),
        requested_at,
        updated_at: fold.updated_at,
        last_position: fold.position,
    })
}

/// The refund approvals of the payment folded in `fold`.
fn approvals_of(fold: &Fold<Option<PaymentState>>) -> Vec<RefundApprovalRow> {
    let Some(payment) = &fold.state else {
        return Vec::new();
    };
    payment
        .refund_approvals
        .iter()
        .map(|(reference, approval)| {
            let decision = approval.decision.as_ref();
            RefundApprovalRow {
                approval_id: format!("{}/{}", payment.payment_id, reference.as_str()),
                payment_id: payment.payment_id.to_string(),
                reference: reference.as_str().to_owned(),
                order_id: payment.order_id.to_string(),
                status: match decision {
                    None => "awaiting",
                    Some(d) if d.approved => "approved",
                    Some(_) => "rejected",
                }
                .to_owned(),
                currency: approval.amount.currency.as_str().to_owned(),
                amount_minor: approval.amount.amount_minor,
                requested_by: approval.requested_by.as_str().to_owned(),
                requested_at: approval.requested_at,
                decided_by: decision.map(|d| d.by.as_str().to_owned()),
                decided_at: decision.map(|d| d.at),
                rejection_reason: decision
                    .and_then(|d| d.reason.as_ref())
                    .map(|r| r.as_str().to_owned()),
                last_position: fold.position,
            }
        })
        .collect()
}

/// Each payment the batch touched, folded and written in one statement, with its refund
/// approvals in another.
pub(crate) async fn writes(batch: &Batch<'_>) -> Result<Writes, HandlerError> {
    let folds = batch.folds.of().of(batch, PAYMENT, step).await?;
    let payments: Vec<PaymentRow> = folds.iter().filter_map(row_of).collect();
    let approvals: Vec<RefundApprovalRow> = folds.iter().flat_map(approvals_of).collect();
    let mut writes = Writes::default();
    writes.upsert(batch, &PAYMENTS, &payments)?;
    writes.upsert(batch, &REFUND_APPROVALS, &approvals)?;
    Ok(writes)
}

/// Filters of the payment list; all optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PaymentFilter {
    /// A payment status.
    pub status: Option<String>,
    /// The order paid.
    pub order_id: Option<String>,
    /// The provider.
    pub provider: Option<String>,
    /// The provider's id of the payment.
    pub provider_reference: Option<String>,
    /// The id of its latest capture (the charge).
    pub charge_id: Option<String>,
    /// Requested at or after.
    pub requested_from: Option<DateTime<Utc>>,
    /// Requested before.
    pub requested_to: Option<DateTime<Utc>>,
}

/// The payment `payment_id`, if the projection has it.
pub async fn get_payment(
    log: &EventLog,
    payment_id: &str,
) -> Result<Option<PaymentRow>, StorageError> {
    let mut found = rows_where(log, &PAYMENTS, "payment_id", payment_id, "payment_id").await?;
    Ok(found.pop())
}

/// A page of at most `limit` (1 to 200) payments matching `filter`, newest first.
pub async fn list_payments(
    log: &EventLog,
    filter: &PaymentFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<PaymentRow>, QueryError> {
    List::new(&PAYMENTS, "requested_at", "payment_id")
        .equal("status", filter.status.as_ref())
        .equal("order_id", filter.order_id.as_ref())
        .equal("provider", filter.provider.as_ref())
        .equal("provider_reference", filter.provider_reference.as_ref())
        .equal("charge_id", filter.charge_id.as_ref())
        .since("requested_at", filter.requested_from)
        .before("requested_at", filter.requested_to)
        .page(log, cursor, limit)
        .await
}

/// Filters of the refund approvals; all optional.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RefundApprovalFilter {
    /// `awaiting`, `approved` or `rejected`.
    pub status: Option<String>,
    /// The payment.
    pub payment_id: Option<String>,
    /// The order.
    pub order_id: Option<String>,
}

/// A page of at most `limit` (1 to 200) refund approvals matching `filter`, newest first.
pub async fn list_refund_approvals(
    log: &EventLog,
    filter: &RefundApprovalFilter,
    cursor: Option<&str>,
    limit: u32,
) -> Result<Page<RefundApprovalRow>, QueryError> {
    List::new(&REFUND_APPROVALS, "requested_at", "approval_id")
        .equal("status", filter.status.as_ref())
        .equal("payment_id", filter.payment_id.as_ref())
        .equal("order_id", filter.order_id.as_ref())
        .page(log, cursor, limit)
        .await
}
