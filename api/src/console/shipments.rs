//! The console's shipments: a list with filters (status, order) paged like
//! `GET /api/v1/shipments`, and a shipment's page with its status, carrier, tracking, label
//! and, for roles that may read the audit trail, its timeline. A label (bought at the carrier
//! integration, or recorded by its tracking number) and the dispatch go through the same
//! commands and permission as the REST routes.

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
use domain::{
    shipment::{Shipment, ShipmentCommand, ShipmentStatus},
    ExternalRef,
};
use eventlog::StreamId;
use projections::{shipments::ShipmentFilter, QueryError, ReadModel};
use serde::Deserialize;
use tower_http::request_id::RequestId;

use super::{
    detail::{timeline_of, Happening, Said, Shown},
    orders::TrackingItem,
    page,
    session::{self, Session},
    view::{
        choices, done, given, list_link, money, page_of, refusal, refused_post, request_id,
        status_named, time, unavailable, unless_granted, words, Choice, Refusal, AGAIN, STALE_PAGE,
    },
};
use crate::{
    auth::{Grants, Permission},
    AppState,
};

/// The shipment pages' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/shipments", get(list))
        .route("/console/shipments/{id}", get(shipment))
        .route("/console/shipments/{id}/label", post(label))
        .route("/console/shipments/{id}/dispatch", post(dispatch))
}

/// How many shipments a page of the list shows.
const PAGE_SIZE: u32 = 50;

/// The carrier integration that buys labels (`outbound.easypost`).
const LABEL_SELLER: &str = "easypost";

/// The list's GET form; every field may be empty.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    status: Option<String>,
    order: Option<String>,
    cursor: Option<String>,
}

/// A shipment as a row of the list.
struct ShipmentItem {
    id: String,
    order_id: String,
    created_at: String,
    status: String,
    carrier: String,
    tracking_number: Option<String>,
    quantity: i64,
}

#[derive(Template)]
#[template(path = "console/shipments.html")]
struct ShipmentsPage {
    me: session::Me,
    statuses: Vec<Choice>,
    order: String,
    shipments: Vec<ShipmentItem>,
    first: Option<String>,
    next: Option<String>,
    message: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    if let Some(refused) = unless_granted(&session, Permission::ShipmentsView) {
        return refused;
    }
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let status = given(query.status);
    let order = given(query.order);
    let cursor = given(query.cursor);
    let filters = [("status", &status), ("order", &order)];
    let mut page = ShipmentsPage {
        me: session.me(),
        statuses: choices::<ShipmentStatus>(status.as_deref()),
        order: order.clone().unwrap_or_default(),
        shipments: Vec::new(),
        first: cursor
            .is_some()
            .then(|| list_link("/console/shipments", &filters, None)),
        next: None,
        message: None,
    };
    let filter = match status_named::<ShipmentStatus>(status.clone()) {
        Ok(status) => ShipmentFilter {
            status,
            order_id: order.clone(),
            ..ShipmentFilter::default()
        },
        Err(message) => {
            page.message = Some(message);
            return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    match projections::shipments::list_shipments(&state.log, &filter, cursor.as_deref(), PAGE_SIZE)
        .await
    {
        Ok(found) => {
            page.shipments = found
                .items
                .into_iter()
                .map(|s| ShipmentItem {
                    created_at: time(&s.created_at),
                    status: words(&s.status),
                    carrier: s.carrier,
                    tracking_number: s.tracking_number,
                    quantity: s.quantity,
                    order_id: s.order_id,
                    id: s.shipment_id,
                })
                .collect();
            page.next = found
                .next_cursor
                .map(|next| list_link("/console/shipments", &filters, Some(&next)));
            page::render(StatusCode::OK, &page)
        }
        Err(QueryError::InvalidCursor) => {
            page.message = Some(STALE_PAGE.to_owned());
            page::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(QueryError::Storage(error)) => unavailable(&error),
    }
}

/// A line of the shipment.
struct LineItem {
    sku: String,
    quantity: i64,
}

#[derive(Template)]
#[template(path = "console/shipment.html")]
struct ShipmentPage {
    me: session::Me,
    id: String,
    order_id: String,
    status: String,
    carrier: String,
    tracking_number: Option<String>,
    label_pending: bool,
    /// The bought label's address, only if it is a web address (never a `javascript:` link).
    label_url: Option<String>,
    /// The bought label as the carrier integration describes it: carrier, service, cost.
    label: Option<String>,
    failed_attempts: i64,
    created_at: String,
    dispatched_at: Option<String>,
    delivered_at: Option<String>,
    lines: Vec<LineItem>,
    tracking: Vec<TrackingItem>,
    timeline: Vec<Happening>,
    can_label: bool,
    can_buy: bool,
    can_dispatch: bool,
    label_key: String,
    buy_key: String,
    dispatch_key: String,
    said: Said,
}

const SHIPMENT_NOTICES: &[(&str, &str)] = &[
    ("labelled", "The label is recorded."),
    (
        "label_asked",
        "The label is being bought at the carrier integration: it shows here once bought.",
    ),
    ("dispatched", "The shipment is dispatched."),
];

async fn shipment(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    query: Result<Query<Shown>, QueryRejection>,
) -> Response {
    let said = Shown::said(query, &state, ReadModel::Shipments, SHIPMENT_NOTICES).await;
    show_shipment(&state, &session, &id, StatusCode::OK, said).await
}

/// The shipment's page with `status`.
async fn show_shipment(
    state: &AppState,
    session: &Session,
    id: &str,
    status: StatusCode,
    said: Said,
) -> Response {
    if let Some(refused) = unless_granted(session, Permission::ShipmentsView) {
        return refused;
    }
    let s = match projections::shipments::get_shipment(&state.log, id).await {
        Ok(Some(shipment)) => shipment,
        Ok(None) => {
            return page::error(
                StatusCode::NOT_FOUND,
                &format!("There is no shipment {id}."),
            )
        }
        Err(error) => return unavailable(&error),
    };
    let role = session.role;
    let stream = StreamId::new(domain::shipment::AGGREGATE_TYPE, id);
    let timeline = match timeline_of(state, &[stream]).await {
        Ok(events) => events,
        Err(error) => return unavailable(&error),
    };
    let before_dispatch = [ShipmentStatus::Pending, ShipmentStatus::LabelCreated]
        .iter()
        .any(|&status| s.status == <&str>::from(status));
    let edit = role.grants(Permission::ShipmentsEdit);
    let label = s.label_carrier.as_ref().map(|carrier| {
        let service = s.label_service.as_deref().unwrap_or("");
        let cost = match (s.label_cost_minor, &s.label_currency) {
            (Some(minor), Some(currency)) => format!(", {}", money(minor, currency)),
            _ => String::new(),
        };
        format!("{carrier} {service}{cost}")
    });
    let page = ShipmentPage {
        me: session.me(),
        status: words(&s.status),
        label_url: s
            .label_url
            .filter(|url| url.starts_with("https://") || url.starts_with("http://")),
        label,
        failed_attempts: s.failed_attempts,
        created_at: time(&s.created_at),
        dispatched_at: s.dispatched_at.as_ref().map(time),
        delivered_at: s.delivered_at.as_ref().map(time),
        lines: s
            .lines
            .into_iter()
            .map(|l| LineItem {
                sku: l.sku,
                quantity: l.quantity,
            })
            .collect(),
        tracking: s.tracking.into_iter().map(TrackingItem::from).collect(),
        timeline,
        can_label: edit && before_dispatch && !s.label_pending,
        can_buy: edit
            && before_dispatch
            && !s.label_pending
            && s.tracking_number.is_none()
            && state.outbound.is_configured(LABEL_SELLER),
        can_dispatch: edit && before_dispatch,
        label_key: session::token(),
        buy_key: session::token(),
        dispatch_key: session::token(),
        label_pending: s.label_pending,
        tracking_number: s.tracking_number,
        carrier: s.carrier,
        order_id: s.order_id,
        id: s.shipment_id,
        said,
    };
    page::render(status, &page)
}

/// The label forms' fields: a tracking number records a label printed elsewhere; none buys
/// one at the carrier integration for the configured parcel.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LabelFields {
    csrf: String,
    key: String,
    tracking_number: String,
    buy: String,
}

async fn label(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    request: Option<Extension<RequestId>>,
    form: Result<Form<LabelFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged(AGAIN);
    };
    if let Some(refused) = refused_post(&session, &fields.csrf, Permission::ShipmentsEdit) {
        return refused;
    }
    let again = |message: String| Said {
        message: Some(message),
        form: "label",
        typed: fields.tracking_number.clone(),
        ..Said::default()
    };
    let (command, done_word) = if fields.buy == "yes" {
        if !state.outbound.is_configured(LABEL_SELLER) {
            let said = again(
                "No carrier integration is configured to buy labels (outbound.easypost): record \
                 the tracking number of a label printed elsewhere."
                    .to_owned(),
            );
            return show_shipment(&state, &session, &id, StatusCode::CONFLICT, said).await;
        }
        (
            ShipmentCommand::RequestLabel { parcel: None },
            "label_asked",
        )
    } else {
        match ExternalRef::parse(&fields.tracking_number) {
            Ok(tracking_number) => (ShipmentCommand::RecordLabel { tracking_number }, "labelled"),
            Err(_) => {
                let said = again("Tracking number: one line of up to 255 characters.".to_owned());
                return show_shipment(
                    &state,
                    &session,
                    &id,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    said,
                )
                .await;
            }
        }
    };
    let meta = session.command_meta(request_id(request), Some(&fields.key));
    match state.handler.execute::<Shipment>(&id, command, &meta).await {
        Ok(executed) => done(&page_of("/console/shipments", &id), done_word, &executed),
        Err(error) => match refusal(error) {
            Refusal::Said(status, message) => {
                show_shipment(&state, &session, &id, status, again(message)).await
            }
            Refusal::Failed(failed) => failed,
        },
    }
}

/// The dispatch form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DispatchFields {
    csrf: String,
    key: String,
}

async fn dispatch(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    request: Option<Extension<RequestId>>,
    form: Result<Form<DispatchFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged(AGAIN);
    };
    if let Some(refused) = refused_post(&session, &fields.csrf, Permission::ShipmentsEdit) {
        return refused;
    }
    let meta = session.command_meta(request_id(request), Some(&fields.key));
    let command = ShipmentCommand::DispatchShipment;
    match state.handler.execute::<Shipment>(&id, command, &meta).await {
        Ok(executed) => done(&page_of("/console/shipments", &id), "dispatched", &executed),
        Err(error) => match refusal(error) {
            Refusal::Said(status, message) => {
                let said = Said {
                    message: Some(message),
                    form: "dispatch",
                    ..Said::default()
                };
                show_shipment(&state, &session, &id, status, said).await
            }
            Refusal::Failed(failed) => failed,
        },
    }
}
