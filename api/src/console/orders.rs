//! The console's orders: a list with filters (status, customer, day placed, external reference)
//! paged like `GET /api/v1/orders`, and an order's page with its lines, payments, shipments
//! and its timeline from the log. Cancelling and
//! allocating a shipment go through the same commands and permissions as the REST routes.
//!
//! What the business pages (orders, payments, shipments) share is at the end of this file.

use std::collections::HashMap;

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
use chrono::{DateTime, NaiveDate, Utc};
use domain::{
    order::{Order, OrderCommand, OrderStatus},
    shipment::ShipmentLine,
    Code, NonEmptyText, Quantity, ShipmentId, Sku,
};
use eventlog::StreamId;
use projections::{
    orders::OrderFilter, payments::PaymentFilter, shipments::ShipmentFilter, QueryError, ReadModel,
};
use serde::Deserialize;
use tower_http::request_id::RequestId;

use super::{
    detail::{timeline_of, Happening, Said, Shown},
    page,
    session::{self, Session},
    view::{
        choices, done, given, list_link, money, page_of, query_failed, refusal, refused_post,
        request_id, status_named, time, unavailable, unless_granted, words, Choice, Refusal, AGAIN,
        STALE_PAGE,
    },
};
use crate::{
    auth::{Grants, Permission},
    AppState,
};

/// The order pages' routes.
pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/console/orders", get(list))
        .route("/console/orders/{id}", get(order))
        .route("/console/orders/{id}/cancel", post(cancel))
        .route("/console/orders/{id}/shipments", post(allocate))
}

/// How many orders a page of the list shows.
const PAGE_SIZE: u32 = 50;

/// The list's GET form; every field may be empty.
#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    status: Option<String>,
    customer: Option<String>,
    placed_from: Option<String>,
    placed_to: Option<String>,
    reference: Option<String>,
    cursor: Option<String>,
}

/// An order as a row of the list.
struct OrderItem {
    id: String,
    placed_at: String,
    status: String,
    payment_status: String,
    fulfillment_status: String,
    total: String,
    customer_id: String,
    external_reference: Option<String>,
}

#[derive(Template)]
#[template(path = "console/orders.html")]
struct OrdersPage {
    me: session::Me,
    statuses: Vec<Choice>,
    customer: String,
    placed_from: String,
    placed_to: String,
    reference: String,
    orders: Vec<OrderItem>,
    first: Option<String>,
    next: Option<String>,
    message: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    session: Session,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    if let Some(refused) = unless_granted(&session, Permission::OrdersView) {
        return refused;
    }
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let status = given(query.status);
    let customer = given(query.customer);
    let reference = given(query.reference);
    let (from_text, to_text) = (given(query.placed_from), given(query.placed_to));
    let cursor = given(query.cursor);
    let filters = [
        ("status", &status),
        ("customer", &customer),
        ("placed_from", &from_text),
        ("placed_to", &to_text),
        ("reference", &reference),
    ];
    let mut page = OrdersPage {
        me: session.me(),
        statuses: choices::<OrderStatus>(status.as_deref()),
        customer: customer.clone().unwrap_or_default(),
        placed_from: from_text.clone().unwrap_or_default(),
        placed_to: to_text.clone().unwrap_or_default(),
        reference: reference.clone().unwrap_or_default(),
        orders: Vec::new(),
        first: cursor
            .is_some()
            .then(|| list_link("/console/orders", &filters, None)),
        next: None,
        message: None,
    };
    let filter = (|| {
        Ok::<_, String>(OrderFilter {
            status: status_named::<OrderStatus>(status.clone())?,
            customer_id: customer.clone(),
            placed_from: day_start(from_text.as_deref(), "Placed from", 0)?,
            placed_to: day_start(to_text.as_deref(), "Placed to", 1)?,
            external_reference: reference.clone(),
            ..OrderFilter::default()
        })
    })();
    let filter = match filter {
        Ok(filter) => filter,
        Err(message) => {
            page.message = Some(message);
            return page::render(StatusCode::UNPROCESSABLE_ENTITY, &page);
        }
    };
    match projections::orders::list_orders(&state.log, &filter, cursor.as_deref(), PAGE_SIZE).await
    {
        Ok(found) => {
            page.orders = found
                .items
                .into_iter()
                .map(|o| OrderItem {
                    placed_at: time(&o.placed_at),
                    status: words(&o.status),
                    payment_status: words(&o.payment_status),
                    fulfillment_status: words(&o.fulfillment_status),
                    total: money(o.total_minor, &o.currency),
                    customer_id: o.customer_id,
                    external_reference: o.external_reference,
                    id: o.order_id,
                })
                .collect();
            page.next = found
                .next_cursor
                .map(|next| list_link("/console/orders", &filters, Some(&next)));
            page::render(StatusCode::OK, &page)
        }
        Err(QueryError::InvalidCursor) => {
            page.message = Some(STALE_PAGE.to_owned());
            page::render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
        Err(QueryError::Storage(error)) => unavailable(&error),
    }
}

/// The start of the UTC day `text` names (`YYYY-MM-DD`) plus `days`; `field` names it in the
/// message when it is not a day.
fn day_start(text: Option<&str>, field: &str, days: u64) -> Result<Option<DateTime<Utc>>, String> {
    let Some(text) = text else {
        return Ok(None);
    };
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|day| day.checked_add_days(chrono::Days::new(days)))
        .and_then(|day| day.and_hms_opt(0, 0, 0))
        .map(|at| Some(at.and_utc()))
        .ok_or_else(|| format!("{field}: give a day as YYYY-MM-DD."))
}

/// An order line as its page shows it.
struct LineItem {
    index: usize,
    sku: String,
    name: String,
    unit_price: String,
    amount: String,
    ordered: i64,
    allocated: i64,
    shipped: i64,
    delivered: i64,
    returned: i64,
    /// Ordered and not in any shipment yet.
    open: i64,
}

/// A payment of the order.
struct PaymentItem {
    id: String,
    status: String,
    requested: String,
    captured: String,
    refunded: String,
}

/// A shipment of the order, with its carrier's tracking updates.
struct ShipmentItem {
    id: String,
    status: String,
    carrier: String,
    tracking_number: Option<String>,
    tracking: Vec<TrackingItem>,
}

/// A carrier's tracking update.
pub(super) struct TrackingItem {
    pub at: String,
    pub status: String,
    pub location: Option<String>,
    pub description: Option<String>,
}

impl From<projections::shipments::TrackingRow> for TrackingItem {
    fn from(row: projections::shipments::TrackingRow) -> Self {
        Self {
            at: time(&row.occurred_at),
            status: words(&row.carrier_status),
            location: row.location,
            description: row.description,
        }
    }
}

#[derive(Template)]
#[template(path = "console/order.html")]
struct OrderPage {
    me: session::Me,
    id: String,
    status: String,
    payment_status: String,
    fulfillment_status: String,
    total: String,
    paid: String,
    refunded: String,
    customer_id: String,
    external_reference: Option<String>,
    invoice_number: Option<String>,
    placed_at: String,
    updated_at: String,
    lines: Vec<LineItem>,
    payments: Vec<PaymentItem>,
    shipments: Vec<ShipmentItem>,
    timeline: Vec<Happening>,
    can_cancel: bool,
    can_allocate: bool,
    cancel_key: String,
    allocate_key: String,
    said: Said,
}

const ORDER_NOTICES: &[(&str, &str)] = &[
    ("cancelled", "The order is cancelled."),
    (
        "allocated",
        "The goods are allocated to a new shipment; it is listed here once it is created.",
    ),
];

async fn order(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    query: Result<Query<Shown>, QueryRejection>,
) -> Response {
    let said = Shown::said(query, &state, ReadModel::Orders, ORDER_NOTICES).await;
    show_order(&state, &session, &id, StatusCode::OK, said).await
}

/// The order's page with `status`.
async fn show_order(
    state: &AppState,
    session: &Session,
    id: &str,
    status: StatusCode,
    said: Said,
) -> Response {
    if let Some(refused) = unless_granted(session, Permission::OrdersView) {
        return refused;
    }
    let log = &state.log;
    let order = match projections::orders::get_order(log, id).await {
        Ok(Some(order)) => order,
        Ok(None) => return page::error(StatusCode::NOT_FOUND, &format!("There is no order {id}.")),
        Err(error) => return unavailable(&error),
    };
    let role = session.role;
    let payments = if role.grants(Permission::PaymentsView) {
        let filter = PaymentFilter {
            order_id: Some(order.order_id.clone()),
            ..PaymentFilter::default()
        };
        match projections::payments::list_payments(log, &filter, None, 200).await {
            Ok(found) => found.items,
            Err(error) => return query_failed(error),
        }
    } else {
        Vec::new()
    };
    let mut shipments = Vec::new();
    if role.grants(Permission::ShipmentsView) {
        let filter = ShipmentFilter {
            order_id: Some(order.order_id.clone()),
            ..ShipmentFilter::default()
        };
        let found = match projections::shipments::list_shipments(log, &filter, None, 200).await {
            Ok(found) => found.items,
            Err(error) => return query_failed(error),
        };
        // The list leaves out the tracking updates: each shipment's own read has them.
        for listed in found {
            match projections::shipments::get_shipment(log, &listed.shipment_id).await {
                Ok(Some(shipment)) => shipments.push(shipment),
                Ok(None) => {}
                Err(error) => return unavailable(&error),
            }
        }
    }
    // The order's own story is open to whoever may see the order (the audit search is not).
    let mut streams = vec![StreamId::new(domain::order::AGGREGATE_TYPE, id)];
    streams.extend(
        payments
            .iter()
            .map(|p| StreamId::new(domain::payment::AGGREGATE_TYPE, &p.payment_id)),
    );
    streams.extend(
        shipments
            .iter()
            .map(|s| StreamId::new(domain::shipment::AGGREGATE_TYPE, &s.shipment_id)),
    );
    let timeline = match timeline_of(state, &streams).await {
        Ok(events) => events,
        Err(error) => return unavailable(&error),
    };
    let open = order.status == <&str>::from(OrderStatus::Placed);
    let lines: Vec<LineItem> = order
        .lines
        .iter()
        .enumerate()
        .map(|(index, line)| LineItem {
            index,
            sku: line.sku.clone(),
            name: line.name.clone(),
            unit_price: money(line.unit_price_minor, &order.currency),
            amount: money(
                line.unit_price_minor.saturating_mul(line.ordered),
                &order.currency,
            ),
            ordered: line.ordered,
            allocated: line.allocated,
            shipped: line.shipped,
            delivered: line.delivered,
            returned: line.returned,
            open: (line.ordered - line.allocated).max(0),
        })
        .collect();
    let page = OrderPage {
        me: session.me(),
        status: words(&order.status),
        payment_status: words(&order.payment_status),
        fulfillment_status: words(&order.fulfillment_status),
        total: money(order.total_minor, &order.currency),
        paid: money(order.paid_minor, &order.currency),
        refunded: money(order.refunded_minor, &order.currency),
        placed_at: time(&order.placed_at),
        updated_at: time(&order.updated_at),
        can_cancel: open && role.grants(Permission::OrdersCancel),
        can_allocate: open
            && role.grants(Permission::OrdersEdit)
            && lines.iter().any(|line| line.open > 0),
        lines,
        payments: payments
            .into_iter()
            .map(|p| PaymentItem {
                status: words(&p.status),
                requested: money(p.requested_minor, &p.currency),
                captured: money(p.captured_minor, &p.currency),
                refunded: money(p.refunded_minor, &p.currency),
                id: p.payment_id,
            })
            .collect(),
        shipments: shipments
            .into_iter()
            .map(|s| ShipmentItem {
                status: words(&s.status),
                carrier: s.carrier,
                tracking_number: s.tracking_number,
                tracking: s.tracking.into_iter().map(TrackingItem::from).collect(),
                id: s.shipment_id,
            })
            .collect(),
        timeline,
        cancel_key: session::token(),
        allocate_key: session::token(),
        customer_id: order.customer_id,
        external_reference: order.external_reference,
        invoice_number: order.invoice_number,
        id: order.order_id,
        said,
    };
    page::render(status, &page)
}

/// The cancel form's fields.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CancelFields {
    csrf: String,
    key: String,
    reason: String,
}

async fn cancel(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    request: Option<Extension<RequestId>>,
    form: Result<Form<CancelFields>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged(AGAIN);
    };
    if let Some(refused) = refused_post(&session, &fields.csrf, Permission::OrdersCancel) {
        return refused;
    }
    let again = |message: String| Said {
        message: Some(message),
        form: "cancel",
        typed: fields.reason.clone(),
        ..Said::default()
    };
    let Ok(reason) = NonEmptyText::parse(&fields.reason) else {
        let said = again("Give a reason: one line of up to 2000 characters.".to_owned());
        return show_order(
            &state,
            &session,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            said,
        )
        .await;
    };
    let meta = session.command_meta(request_id(request), Some(&fields.key));
    let command = OrderCommand::CancelOrder { reason };
    match state.handler.execute::<Order>(&id, command, &meta).await {
        Ok(executed) => done(&page_of("/console/orders", &id), "cancelled", &executed),
        Err(error) => match refusal(error) {
            Refusal::Said(status, message) => {
                show_order(&state, &session, &id, status, again(message)).await
            }
            Refusal::Failed(failed) => failed,
        },
    }
}

async fn allocate(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    request: Option<Extension<RequestId>>,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let Ok(Form(fields)) = form else {
        return page::forged(AGAIN);
    };
    // A line's SKU and units are `sku_{i}` and `quantity_{i}`, one pair per line of the order.
    let fields: HashMap<String, String> = fields.into_iter().collect();
    let field = |name: &str| fields.get(name).map_or("", String::as_str);
    if let Some(refused) = refused_post(&session, field("csrf"), Permission::OrdersEdit) {
        return refused;
    }
    let carrier_typed = field("carrier").to_owned();
    let mut lines = Vec::new();
    let mut bad = None;
    for index in 0.. {
        let sku = field(&format!("sku_{index}"));
        if sku.is_empty() {
            break;
        }
        let units = field(&format!("quantity_{index}")).trim();
        match (Sku::parse(sku), units.parse::<u32>()) {
            (Ok(_), Ok(0)) => {}
            (Ok(sku), Ok(units)) => match Quantity::parse(units) {
                Ok(quantity) => lines.push(ShipmentLine { sku, quantity }),
                Err(_) => bad = Some(format!("Units of {sku}: a whole number from 0.")),
            },
            _ if units.is_empty() => {}
            _ => bad = Some(format!("Units of {sku}: a whole number from 0.")),
        }
    }
    let carrier = Code::parse(&carrier_typed);
    let problem = match (&carrier, bad) {
        (Err(_), _) => Some("Carrier: a code such as dhl (letters, digits, - _ .).".to_owned()),
        (_, Some(message)) => Some(message),
        _ if lines.is_empty() => Some("Put at least one unit in the shipment.".to_owned()),
        _ => None,
    };
    let again = |message: String| Said {
        message: Some(message),
        form: "allocate",
        typed: carrier_typed.clone(),
        ..Said::default()
    };
    let (Ok(carrier), None) = (carrier, &problem) else {
        let said = again(problem.unwrap_or_default());
        return show_order(
            &state,
            &session,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            said,
        )
        .await;
    };
    let meta = session.command_meta(request_id(request), Some(field("key")));
    let command = OrderCommand::AllocateShipment {
        shipment_id: ShipmentId::from(uuid::Uuid::now_v7()),
        carrier,
        lines,
    };
    match state.handler.execute::<Order>(&id, command, &meta).await {
        Ok(executed) => done(&page_of("/console/orders", &id), "allocated", &executed),
        Err(error) => match refusal(error) {
            Refusal::Said(status, message) => {
                show_order(&state, &session, &id, status, again(message)).await
            }
            Refusal::Failed(failed) => failed,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_day_range_covers_whole_utc_days() {
        let from = day_start(Some("2024-05-01"), "from", 0).unwrap().unwrap();
        let to = day_start(Some("2024-05-01"), "to", 1).unwrap().unwrap();
        assert_eq!(from.to_rfc3339(), "2024-05-01T00:00:00+00:00");
        assert_eq!(to.to_rfc3339(), "2024-05-02T00:00:00+00:00");
        assert_eq!(
            day_start(Some("1 May"), "Placed from", 0).unwrap_err(),
            "Placed from: give a day as YYYY-MM-DD."
        );
        assert_eq!(day_start(None, "from", 0).unwrap(), None);
    }

    #[test]
    fn a_status_filter_takes_only_the_domains_names() {
        assert_eq!(
            status_named::<OrderStatus>(Some("cancelled".into())).unwrap(),
            Some("cancelled".to_owned())
        );
        assert!(status_named::<OrderStatus>(Some("gone".into())).is_err());
        let options = choices::<OrderStatus>(Some("placed"));
        assert!(options.iter().any(|c| c.value == "placed" && c.selected));
        assert_eq!(options.iter().filter(|c| c.selected).count(), 1);
    }
}
