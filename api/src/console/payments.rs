//! The console's payments: a list with filters (status, order) paged like
//! `GET /api/v1/payments`, and a payment's page with its amounts, status and, for roles that
//! may read the audit trail, its timeline. Capture and void go through the same commands and
//! permissions as the REST routes.

use askama::Template;
use axum::{
    extract::{
        rejection::{FormRejection, QueryRejection},
        Path, Query, State,
    },
    http::StatusCode,
    response::Response,
    routing::{get, post},
    Extension, Form, Router,
};
use commands::CommandError;
use domain::{
    payment::{Payment, PaymentCommand, PaymentError, PaymentStatus},
    Currency, ExternalRef, Money, NonEmptyText,
};
use eventlog::StreamId;
use projections::{payments::PaymentFilter, QueryError, ReadModel};
use serde::Deserialize;
use tower_http::request_id::RequestId;

use super::{
    detail::{timeline_of, Happening, Said, Shown},
    page, refunds,
    session::{self, Session},
    view::{
        choices, done, given, list_link, major, minor_units, money, page_of, refusal, refused_post,
        request_id, status_named, time, unavailable, unless_granted, words, Choice, Refusal, AGAIN,
        STALE_PAGE,
    },
};
use crate::{
    auth::{Grants, Permission},
    AppState,
};

/// The payment pages' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/payments", get(list))
        .route("/console/payments/{id}", get(payment))
        .route("/console/payments/{id}/capture", post(capture))
        .route("/console/payments/{id}/void", post(void))
        .route("/console/payments/{id}/refund", post(refunds::refund))
        .route(
            "/console/payments/{id}/refunds/{reference}/approve",
            post(refunds::approve),
        )
        .route(
            "/console/payments/{id}/refunds/{reference}/reject",
            post(refunds::reject),
        )
}

/// How many payments a page of the list shows.
const PAGE_SIZE: u32 = 50;

/// The list's GET form; every field may be empty.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    status: Option<String>,
    order: Option<String>,
    cursor: Option<String>,
}

/// A payment as a row of the list.
struct PaymentItem {
    id: String,
    order_id: String,
    requested_at: String,
    status: String,
    provider: String,
    requested: String,
    captured: String,
    refunded: String,
}

#[derive(Template)]
#[template(path = "console/payments.html")]
struct PaymentsPage {
    me: session::Me,
    statuses: Vec<Choice>,
    order: String,
    payments: Vec<PaymentItem>,
    first: Option<String>,
    next: Option<String>,
    message: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    if let Some(refused) = unless_granted(&session, Permission::PaymentsView) {
        return refused;
    }
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let status = given(query.status);
    let order = given(query.order);
    let cursor = given(query.cursor);
    let filters = [("status", &status), ("order", &order)];
    let mut page = PaymentsPage {
        me: session.me(),
        statuses: choices::<PaymentStatus>(status.as_deref()),
        order: order.clone().unwrap_or_default(),
        payments: Vec::new(),
        first: cursor
            .is_some()
            .then(|| list_link("/console/payments", &filters, None)),
        next: None,
        message: None,
    };
    let filter = match status_named::<PaymentStatus>(status.clone()) {
        Ok(status) => PaymentFilter {
            status,
            order_id: order.clone(),
            ..PaymentFilter::default()
        },
        Err(message) => {
            page.message = Some(message);
            return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    match projections::payments::list_payments(&state.log, &filter, cursor.as_deref(), PAGE_SIZE)
        .await
    {
        Ok(found) => {
            page.payments = found
                .items
                .into_iter()
                .map(|p| PaymentItem {
                    requested_at: time(&p.requested_at),
                    status: words(&p.status),
                    requested: money(p.requested_minor, &p.currency),
                    captured: money(p.captured_minor, &p.currency),
                    refunded: money(p.refunded_minor, &p.currency),
                    provider: p.provider,
                    order_id: p.order_id,
                    id: p.payment_id,
                })
                .collect();
            page.next = found
                .next_cursor
                .map(|next| list_link("/console/payments", &filters, Some(&next)));
            page::render(StatusCode::OK, &page)
        }
        Err(QueryError::InvalidCursor) => {
            page.message = Some(STALE_PAGE.to_owned());
            page::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(QueryError::Storage(error)) => unavailable(&error),
    }
}

#[derive(Template)]
#[template(path = "console/payment.html")]
struct PaymentPage {
    me: session::Me,
    id: String,
    order_id: String,
    status: String,
    provider: String,
    currency: String,
    requested: String,
    authorized: String,
    captured: String,
    capture_pending: String,
    refunded: String,
    refund_pending: String,
    disputes: i64,
    disputed: String,
    provider_reference: Option<String>,
    charge_id: Option<String>,
    failure: Option<String>,
    requested_at: String,
    updated_at: String,
    timeline: Vec<Happening>,
    can_capture: bool,
    can_void: bool,
    capture_key: String,
    void_key: String,
    /// What the capture form offers: what may be captured, in major units.
    capturable: String,
    /// The refunds and their approvals (ADR 0026).
    refunds: refunds::RefundsShown,
    said: Said,
}

const PAYMENT_NOTICES: &[(&str, &str)] = &[
    (
        "refunded",
        "Refund requested: the payment shows it as refunded once done (a provider may take a \
         moment to confirm it).",
    ),
    (
        "refund_awaits",
        "The refund awaits a second person's approval: someone with payments.approve other than \
         you approves or rejects it here.",
    ),
    ("approved", "Refund approved: it is being made."),
    ("rejected", "Refund rejected: nothing is refunded."),
    (
        "captured",
        "Capture requested: the payment shows it as captured once done (a provider may take \
         a moment to confirm it).",
    ),
    (
        "voided",
        "Void requested: the payment shows it as voided once done (a provider may take a \
         moment to confirm it).",
    ),
];

async fn payment(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    query: Result<Query<Shown>, QueryRejection>,
) -> Response {
    let said = Shown::said(query, &state, ReadModel::Payments, PAYMENT_NOTICES).await;
    show_payment(&state, &session, &id, StatusCode::OK, said).await
}

/// The payment's page with `status`.
pub(super) async fn show_payment(
    state: &AppState,
    session: &Session,
    id: &str,
    status: StatusCode,
    said: Said,
) -> Response {
    if let Some(refused) = unless_granted(session, Permission::PaymentsView) {
        return refused;
    }
    let p = match projections::payments::get_payment(&state.log, id).await {
        Ok(Some(payment)) => payment,
        Ok(None) => {
            return page::error(StatusCode::NOT_FOUND, &format!("There is no payment {id}."))
        }
        Err(error) => return unavailable(&error),
    };
    let role = session.role;
    let stream = StreamId::new(domain::payment::AGGREGATE_TYPE, id);
    let timeline = match timeline_of(state, &[stream]).await {
        Ok(events) => events,
        Err(error) => return unavailable(&error),
    };
    // Nothing captured, voided or failed yet: what the domain may still capture or void.
    let open = [PaymentStatus::Pending, PaymentStatus::Authorized]
        .iter()
        .any(|&s| p.status == <&str>::from(s));
    let capturable = if p.authorized_minor > 0 {
        p.authorized_minor
    } else {
        p.requested_minor
    };
    let refunds = match refunds::shown(state, session, &p).await {
        Ok(refunds) => refunds,
        Err(failed) => return failed,
    };
    let page = PaymentPage {
        refunds,
        me: session.me(),
        status: words(&p.status),
        requested: money(p.requested_minor, &p.currency),
        authorized: money(p.authorized_minor, &p.currency),
        captured: money(p.captured_minor, &p.currency),
        capture_pending: money(p.capture_pending_minor, &p.currency),
        refunded: money(p.refunded_minor, &p.currency),
        refund_pending: money(p.refund_pending_minor, &p.currency),
        disputes: p.disputes,
        disputed: money(p.disputed_minor, &p.currency),
        failure: p.failure_code.map(|code| match &p.failure_message {
            Some(message) => format!("{code}: {message}"),
            None => code,
        }),
        requested_at: time(&p.requested_at),
        updated_at: time(&p.updated_at),
        timeline,
        can_capture: open
            && p.capture_pending_minor == 0
            && role.grants(Permission::PaymentsApprove),
        can_void: open && role.grants(Permission::PaymentsCancel),
        capture_key: session::token(),
        void_key: session::token(),
        capturable: Currency::parse(&p.currency)
            .map(|c| major(capturable, c))
            .unwrap_or_default(),
        provider_reference: p.provider_reference,
        charge_id: p.charge_id,
        provider: p.provider,
        currency: p.currency,
        order_id: p.order_id,
        id: p.payment_id,
        said,
    };
    page::render(status, &page)
}

/// The capture form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CaptureFields {
    csrf: String,
    key: String,
    amount: String,
    reference: String,
}

async fn capture(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    request: Option<Extension<RequestId>>,
    form: Result<Form<CaptureFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged(AGAIN);
    };
    if let Some(refused) = refused_post(&session, &fields.csrf, Permission::PaymentsApprove) {
        return refused;
    }
    let again = |message: String| Said {
        message: Some(message),
        form: "capture",
        typed: fields.reference.clone(),
        amount: Some(fields.amount.clone()),
        ..Said::default()
    };
    let unprocessable = |message: String| {
        show_payment(
            &state,
            &session,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            again(message),
        )
    };
    // The currency is the payment's, read as the REST route reads it.
    let currency = match state.handler.load::<Payment>(&id).await {
        Ok((Some(payment), _)) => payment.requested.currency,
        Ok((None, _)) => {
            return page::error(StatusCode::NOT_FOUND, &format!("There is no payment {id}."))
        }
        Err(error) => {
            return match refusal(error) {
                Refusal::Said(status, message) => page::error(status, &message),
                Refusal::Failed(failed) => failed,
            }
        }
    };
    let Some(amount) = minor_units(&fields.amount, currency) else {
        let digits = currency.minor_digits();
        return unprocessable(format!(
            "Amount: in {currency}, with up to {digits} decimal places (such as {}).",
            major(2500, currency)
        ))
        .await;
    };
    let reference = match given(Some(fields.reference.clone())) {
        None => ExternalRef::parse(&format!("capture-{}", uuid::Uuid::now_v7())),
        Some(typed) => ExternalRef::parse(&typed),
    };
    let Ok(reference) = reference else {
        return unprocessable("Reference: one line of up to 255 characters.".to_owned()).await;
    };
    let meta = session.command_meta(request_id(request), Some(&fields.key));
    let command = PaymentCommand::RequestCapture {
        reference,
        amount: Money::new(amount, currency),
    };
    match state.handler.execute::<Payment>(&id, command, &meta).await {
        Ok(executed) => done(&page_of("/console/payments", &id), "captured", &executed),
        Err(CommandError::Rejected(
            refusal @ (PaymentError::NonPositiveAmount | PaymentError::AmountTooLarge),
        )) => unprocessable(format!("Amount: {refusal}.")).await,
        Err(error) => match refusal(error) {
            Refusal::Said(status, message) => {
                show_payment(&state, &session, &id, status, again(message)).await
            }
            Refusal::Failed(failed) => failed,
        },
    }
}

/// The void form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct VoidFields {
    csrf: String,
    key: String,
    reason: String,
}

async fn void(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    request: Option<Extension<RequestId>>,
    form: Result<Form<VoidFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged(AGAIN);
    };
    if let Some(refused) = refused_post(&session, &fields.csrf, Permission::PaymentsCancel) {
        return refused;
    }
    let again = |message: String| Said {
        message: Some(message),
        form: "void",
        typed: fields.reason.clone(),
        ..Said::default()
    };
    let Ok(reason) = NonEmptyText::parse(&fields.reason) else {
        let said = again("Give a reason: one line of up to 2000 characters.".to_owned());
        return show_payment(
            &state,
            &session,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            said,
        )
        .await;
    };
    let meta = session.command_meta(request_id(request), Some(&fields.key));
    let command = PaymentCommand::RequestVoid { reason };
    match state.handler.execute::<Payment>(&id, command, &meta).await {
        Ok(executed) => done(&page_of("/console/payments", &id), "voided", &executed),
        Err(error) => match refusal(error) {
            Refusal::Said(status, message) => {
                show_payment(&state, &session, &id, status, again(message)).await
            }
            Refusal::Failed(failed) => failed,
        },
    }
}
