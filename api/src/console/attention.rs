//! The attention list and an item's page with its cause chain (`attention.view`); a person with
//! `attention.resolve` retries the item's step or dismisses it with a reason, through the same
//! commands as `POST /api/v1/attention/{id}/retry` and `…/dismiss`. Also the small helpers the
//! console's operational pages share (a refusal for want of a permission, times as shown).

use askama::Template;
use axum::{
    extract::{
        rejection::{FormRejection, QueryRejection},
        Path, Query, State,
    },
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Extension, Form, Router,
};
use domain::{
    attention::{AttentionKind, AttentionStatus},
    AttentionId, NonEmptyText,
};
use projections::{
    attention::{AttentionFilter, AttentionRow},
    ReadModel,
};
use serde::Deserialize;
use tower_http::request_id::RequestId;

use super::{
    page, session,
    session::{Session, Unavailable},
    view::{action_refusal, forbidden, given, query_string, request_id, time},
};
use crate::{
    auth::{Grants, Permission},
    AppState,
};

/// The attention routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/attention", get(list))
        .route("/console/attention/{id}", get(item))
        .route("/console/attention/{id}/retry", post(retry))
        .route("/console/attention/{id}/dismiss", post(dismiss))
}

/// An item as listed.
struct Listed {
    id: String,
    raised_at: String,
    kind: String,
    status: String,
    process: String,
    cause: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/attention.html")]
struct ListPage<'a> {
    me: session::Me,
    kinds: Vec<&'static str>,
    statuses: Vec<&'static str>,
    kind: &'a str,
    status: &'a str,
    items: Vec<Listed>,
    next: Option<String>,
    message: Option<&'a str>,
    /// Refunds awaiting a second person's approval (ADR 0026), to roles that see payments.
    approvals: Vec<Awaiting>,
}

/// A refund awaiting approval, as the attention page lists it.
struct Awaiting {
    payment_id: String,
    reference: String,
    amount: String,
    requested_by: String,
    requested_at: String,
}

/// The refunds awaiting approval, oldest first, as `GET /api/v1/refund-approvals` lists them.
async fn awaiting_approval(
    state: &AppState,
    session: &Session,
) -> Result<Vec<Awaiting>, projections::QueryError> {
    if !session.role.grants(Permission::PaymentsView) {
        return Ok(Vec::new());
    }
    let filter = projections::payments::RefundApprovalFilter {
        status: Some("awaiting".to_owned()),
        ..Default::default()
    };
    let page = projections::payments::list_refund_approvals(&state.log, &filter, None, 200).await?;
    Ok(page
        .items
        .into_iter()
        .rev()
        .map(|a| Awaiting {
            amount: super::view::money(a.amount_minor, &a.currency),
            requested_at: time(&a.requested_at),
            payment_id: a.payment_id,
            reference: a.reference,
            requested_by: a.requested_by,
        })
        .collect())
}

/// The list's filters, as the GET form sends them.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    kind: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
}

/// How many items a page of the list shows.
const PAGE_SIZE: u32 = 50;

async fn list(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    if !session.role.grants(Permission::AttentionView) {
        return forbidden(&session, Permission::AttentionView);
    }
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let kind = given(query.kind);
    let status = given(query.status);
    let kinds: Vec<&'static str> = <AttentionKind as strum::VariantArray>::VARIANTS
        .iter()
        .map(AttentionKind::as_str)
        .collect();
    let statuses: Vec<&'static str> = <AttentionStatus as strum::VariantArray>::VARIANTS
        .iter()
        .map(AttentionStatus::as_str)
        .collect();
    let approvals = match awaiting_approval(&state, &session).await {
        Ok(approvals) => approvals,
        Err(error) => return super::view::query_failed(error),
    };
    let mut page = ListPage {
        approvals,
        me: session.me(),
        kind: kind.as_deref().unwrap_or_default(),
        status: status.as_deref().unwrap_or_default(),
        kinds,
        statuses,
        items: Vec::new(),
        next: None,
        message: None,
    };
    let unknown_kind = kind.as_deref().is_some_and(|k| !page.kinds.contains(&k));
    let unknown_status = status
        .as_deref()
        .is_some_and(|s| !page.statuses.contains(&s));
    if unknown_kind || unknown_status {
        page.message = Some("Choose a kind and a status from the lists.");
        return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
    }
    let filter = AttentionFilter {
        kind: kind.clone(),
        status: status.clone(),
        ..AttentionFilter::default()
    };
    let cursor = given(query.cursor);
    let found =
        projections::attention::list_items(&state.log, &filter, cursor.as_deref(), PAGE_SIZE).await;
    let found = match found {
        Ok(found) => found,
        Err(projections::QueryError::InvalidCursor) => {
            page.message = Some("That page of the list no longer exists; start again.");
            return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
        Err(projections::QueryError::Storage(_)) => return Unavailable.into_response(),
    };
    page.next = found.next_cursor.as_deref().map(|next| {
        format!(
            "/console/attention{}",
            query_string(&[
                ("kind", kind.as_deref()),
                ("status", status.as_deref()),
                ("cursor", Some(next)),
            ])
        )
    });
    page.items = found
        .items
        .into_iter()
        .map(|row| Listed {
            id: row.attention_id,
            raised_at: time(&row.raised_at),
            kind: row.kind,
            status: row.status,
            process: row.process,
            cause: row.cause_event_type,
            detail: row.detail,
        })
        .collect();
    page::render(StatusCode::OK, &page)
}

/// One event of a cause chain, as shown.
struct Link {
    recorded_at: String,
    stream: String,
    stream_query: String,
    event_type: String,
    actor: String,
    source: String,
}

#[derive(Template)]
#[template(path = "console/attention_item.html")]
struct ItemPage<'a> {
    me: session::Me,
    item: AttentionRow,
    raised_at: String,
    updated_at: String,
    chain: Vec<Link>,
    audit: Option<String>,
    audit_view: bool,
    can_retry: bool,
    can_dismiss: bool,
    retry_key: String,
    dismiss_key: String,
    reason: &'a str,
    notice: Option<&'static str>,
    message: Option<&'a str>,
}

/// An item page's query: what was just done, and the log position to wait for.
#[derive(Debug, Default, Deserialize)]
struct ItemQuery {
    done: Option<String>,
    at: Option<i64>,
}

/// How many links of a cause chain are followed at most (as the API does).
const CHAIN_LIMIT: usize = 20;

/// The longest the page waits for the attention read model to show an action just taken.
const OWN_WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn item(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    query: Result<Query<ItemQuery>, QueryRejection>,
) -> Response {
    if !session.role.grants(Permission::AttentionView) {
        return forbidden(&session, Permission::AttentionView);
    }
    let query = query.map(|Query(q)| q).unwrap_or_default();
    if let Some(at) = query.at {
        wait_for_attention(&state, at).await;
    }
    let notice = match query.done.as_deref() {
        Some("retried") => Some("A retry was asked for: the step is tried again."),
        Some("dismissed") => Some("The item was dismissed."),
        _ => None,
    };
    item_page(&state, &session, &id, StatusCode::OK, notice, "", None).await
}

/// Waits, bounded, until the attention read model has reached `position` (a position past
/// the log's end was not given out by an action: not waited for).
async fn wait_for_attention(state: &AppState, position: i64) {
    let Ok(last) = state.log.last_position().await else {
        return;
    };
    if position <= last {
        let wait = state.consistency_wait.min(OWN_WRITE_WAIT);
        let name = ReadModel::Attention.name();
        // Not caught up in time: the page shows what the read model has.
        let _ = projections::wait_for(&state.log, name, position, wait).await;
    }
}

/// The item's page, or 404 if there is none.
async fn item_page(
    state: &AppState,
    session: &Session,
    id: &str,
    status: StatusCode,
    notice: Option<&'static str>,
    reason: &str,
    message: Option<&str>,
) -> Response {
    let item = match projections::attention::get_item(&state.log, id).await {
        Ok(Some(item)) => item,
        Ok(None) => return page::error(StatusCode::NOT_FOUND, "There is no such attention item."),
        Err(_) => return Unavailable.into_response(),
    };
    let Ok(chain) = cause_chain(state, &item).await else {
        return Unavailable.into_response();
    };
    let open = item.status == AttentionStatus::Open.as_str();
    let resolve = session.role.grants(Permission::AttentionResolve);
    let audit_view = session.role.grants(Permission::AuditView);
    let audit = item
        .correlation_id
        .as_deref()
        .filter(|_| audit_view)
        .map(|id| {
            format!(
                "/console/audit{}",
                query_string(&[("correlation_id", Some(id))])
            )
        });
    let page = ItemPage {
        me: session.me(),
        raised_at: time(&item.raised_at),
        updated_at: time(&item.updated_at),
        can_retry: resolve && open,
        can_dismiss: resolve && open,
        item,
        chain,
        audit,
        audit_view,
        retry_key: session::token(),
        dismiss_key: session::token(),
        reason,
        notice,
        message,
    };
    page::render(status, &page)
}

/// The events that led to `item`, its cause first (as `GET /api/v1/attention/{id}` follows
/// them: each event's causation id, at most [`CHAIN_LIMIT`]).
async fn cause_chain(
    state: &AppState,
    item: &AttentionRow,
) -> Result<Vec<Link>, eventlog::StorageError> {
    let mut chain = Vec::new();
    let mut next = item.cause_event_id.parse::<uuid::Uuid>().ok();
    while let Some(event_id) = next.filter(|_| chain.len() < CHAIN_LIMIT) {
        let Some(event) = state.log.event_by_id(event_id).await? else {
            break;
        };
        next = event
            .metadata
            .causation_id
            .as_deref()
            .and_then(|id| id.parse().ok());
        let stream = event.stream.to_string();
        chain.push(Link {
            recorded_at: time(&event.recorded_at),
            stream_query: format!(
                "/console/audit{}",
                query_string(&[("stream", Some(&stream))])
            ),
            stream,
            event_type: event.event_type,
            actor: event.metadata.actor.unwrap_or_default(),
            source: event.metadata.source.unwrap_or_default(),
        });
    }
    Ok(chain)
}

fn item_id(id: &str) -> Option<AttentionId> {
    id.parse().ok()
}

/// A retry form's fields.
#[derive(Debug, Deserialize)]
struct RetryFields {
    csrf: String,
    key: Option<String>,
}

async fn retry(
    State(state): State<AppState>,
    session: Session,
    request: Option<Extension<RequestId>>,
    Path(id): Path<String>,
    form: Result<Form<RetryFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged("Open the item again.");
    };
    if !session.csrf_matches(&fields.csrf) {
        return page::forged("Open the item again.");
    }
    if !session.role.grants(Permission::AttentionResolve) {
        return forbidden(&session, Permission::AttentionResolve);
    }
    let Some(item) = item_id(&id) else {
        return page::error(StatusCode::NOT_FOUND, "There is no such attention item.");
    };
    let meta = session.command_meta(request_id(request), fields.key.as_deref());
    match commands::attention::retry(&state.handler, item, &meta, crate::workers::lane_of).await {
        Ok(executed) => done(item, "retried", executed.position),
        Err(error) => action_refusal(error),
    }
}

/// A dismissal form's fields.
#[derive(Debug, Deserialize)]
struct DismissFields {
    csrf: String,
    key: Option<String>,
    reason: String,
}

async fn dismiss(
    State(state): State<AppState>,
    session: Session,
    request: Option<Extension<RequestId>>,
    Path(id): Path<String>,
    form: Result<Form<DismissFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged("Open the item again.");
    };
    if !session.csrf_matches(&fields.csrf) {
        return page::forged("Open the item again.");
    }
    if !session.role.grants(Permission::AttentionResolve) {
        return forbidden(&session, Permission::AttentionResolve);
    }
    let Some(item) = item_id(&id) else {
        return page::error(StatusCode::NOT_FOUND, "There is no such attention item.");
    };
    let Ok(reason) = NonEmptyText::parse(&fields.reason) else {
        let message = "Give a reason: 1 to 2000 characters, on one line.";
        return item_page(
            &state,
            &session,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            &fields.reason,
            Some(message),
        )
        .await;
    };
    let meta = session.command_meta(request_id(request), fields.key.as_deref());
    match commands::attention::dismiss(&state.handler, item, reason, &meta).await {
        Ok(executed) => done(item, "dismissed", executed.position),
        Err(error) => action_refusal(error),
    }
}

/// 303 to the item's page, saying what was done and the position to wait for.
fn done(id: AttentionId, what: &str, position: Option<i64>) -> Response {
    let at = position.map(|p| p.to_string());
    let query = query_string(&[("done", Some(what)), ("at", at.as_deref())]);
    Redirect::to(&format!("/console/attention/{id}{query}")).into_response()
}
