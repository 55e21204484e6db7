//! Orders: place, get, list, cancel, allocate a shipment.

use axum::{
    extract::{Path, State},
    response::Response,
    Json,
};
use commands::CommandError;
use domain::{
    order::{
        FulfillmentStatus, Order, OrderCommand, OrderError, OrderEvent, OrderLine,
        OrderPaymentStatus, OrderStatus, PlaceOrder,
    },
    shipment::ShipmentLine,
    Address, Code, Currency, CustomerId, EventCodec as _, ExternalRef, Money, NonEmptyText,
    OrderId, Quantity, ShipmentId, Sku,
};
use projections::{
    orders::{OrderFilter, OrderRow},
    Page, ReadModel,
};
use serde::Deserialize;
use utoipa::ToSchema;

use super::{accepted, page_answer, schema, status_filter, Accepted, Paging};
use crate::{
    auth::{Caller, Permission},
    extract::{CommandContext, JsonBody, MinPosition},
    problem::{Problem, ProblemDetails, QueryParams},
    AppState,
};

/// A new order.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceOrderRequest {
    /// The order's id (a UUID); made by the server if absent. Sending your own makes a retry
    /// safe even without an Idempotency-Key.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub order_id: Option<OrderId>,
    /// The customer (a UUID).
    #[schema(value_type = String, format = Uuid)]
    pub customer_id: CustomerId,
    /// ISO 4217, e.g. `EUR`.
    #[schema(schema_with = schema::currency)]
    pub currency: Currency,
    /// At least one line, each SKU once.
    #[schema(min_items = 1)]
    pub lines: Vec<LineRequest>,
    /// Where the goods go.
    pub shipping_address: AddressRequest,
    /// The id in the system that sent the order.
    #[schema(schema_with = schema::optional_reference)]
    pub external_reference: Option<ExternalRef>,
}

/// An order line.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineRequest {
    /// The product.
    #[schema(schema_with = schema::sku)]
    pub sku: Sku,
    /// Its name, kept as ordered.
    #[schema(schema_with = schema::text_2000)]
    pub name: NonEmptyText,
    /// At least 1.
    #[schema(value_type = u32, minimum = 1)]
    pub quantity: Quantity,
    /// The price per unit in minor units of the order's currency, 0 to 10^15 (and the
    /// order's total at most 10^15).
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub unit_price_minor: i64,
}

/// A postal address.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddressRequest {
    /// Who receives it.
    #[schema(schema_with = schema::text_2000)]
    pub recipient: NonEmptyText,
    /// Street and number.
    #[schema(schema_with = schema::text_2000)]
    pub line1: NonEmptyText,
    /// More of the street address.
    #[schema(schema_with = schema::optional_text_2000)]
    pub line2: Option<NonEmptyText>,
    /// The postal code.
    #[schema(schema_with = schema::optional_text_2000)]
    pub postal_code: Option<NonEmptyText>,
    /// The city.
    #[schema(schema_with = schema::text_2000)]
    pub city: NonEmptyText,
    /// ISO 3166-1 alpha-2, e.g. `DE`.
    #[schema(schema_with = schema::country)]
    pub country: domain::CountryCode,
}

/// Why an order is cancelled.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    /// The reason, kept in the audit trail.
    #[schema(schema_with = schema::text_2000)]
    pub reason: NonEmptyText,
}

/// Goods of the order to put in a new shipment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocateRequest {
    /// The shipment's id (a UUID); made by the server if absent.
    #[schema(value_type = Option<String>, format = Uuid)]
    pub shipment_id: Option<ShipmentId>,
    /// Who carries it (`dhl`).
    #[schema(schema_with = schema::code)]
    pub carrier: Code,
    /// What goes in it: never more of a SKU than ordered and not yet allocated.
    #[schema(min_items = 1)]
    pub lines: Vec<AllocateLine>,
}

/// A quantity of one SKU.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocateLine {
    /// The product.
    #[schema(schema_with = schema::sku)]
    pub sku: Sku,
    /// At least 1.
    #[schema(value_type = u32, minimum = 1)]
    pub quantity: Quantity,
}

/// Filters of the order list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderQuery {
    /// `placed`, `completed` or `cancelled`.
    pub status: Option<String>,
    /// `unpaid`, `partially_paid`, `paid`, `partially_refunded` or `refunded`.
    pub payment_status: Option<String>,
    /// `unfulfilled`, `partially_shipped`, `shipped`, `partially_delivered`, `delivered`, `returned`.
    pub fulfillment_status: Option<String>,
    /// The customer.
    pub customer_id: Option<String>,
    /// Placed at or after (RFC 3339).
    pub placed_from: Option<chrono::DateTime<chrono::Utc>>,
    /// Placed before (RFC 3339).
    pub placed_to: Option<chrono::DateTime<chrono::Utc>>,
    /// The id in the system that sent it, exactly as sent.
    pub external_reference: Option<String>,
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

/// Places an order.
#[utoipa::path(post, path = "/orders", tag = "orders", request_body = PlaceOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe: the same key and body answer the stored response for 24 hours")),
    responses((status = 201, description = "Placed", body = Accepted), (status = 200, description = "Already placed with the same details", body = Accepted),
        (status = 400, body = ProblemDetails), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 409, body = ProblemDetails), (status = 415, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn place(
    State(state): State<AppState>,
    ctx: CommandContext,
    JsonBody(body): JsonBody<PlaceOrderRequest>,
) -> Result<Response, Problem> {
    ctx.caller.require(Permission::OrdersCreate)?;
    // The domain decides the order's rules; the request keeps its lines to name the one a
    // refusal is about.
    let asked: Vec<(Sku, i64, u32)> = body
        .lines
        .iter()
        .map(|line| (line.sku.clone(), line.unit_price_minor, line.quantity.get()))
        .collect();
    let lines = body
        .lines
        .into_iter()
        .map(|line| OrderLine {
            sku: line.sku,
            name: line.name,
            quantity: line.quantity,
            unit_price: Money::new(line.unit_price_minor, body.currency),
        })
        .collect();
    let address = body.shipping_address;
    let order_id: OrderId = ctx.stream_id(&state, body.order_id).await?;
    let command = OrderCommand::PlaceOrder(PlaceOrder {
        order_id,
        customer_id: body.customer_id,
        currency: body.currency,
        lines,
        shipping_address: Address {
            recipient: address.recipient,
            line1: address.line1,
            line2: address.line2,
            postal_code: address.postal_code,
            city: address.city,
            country: address.country,
        },
        external_reference: body.external_reference,
    });
    let id = order_id.to_string();
    let executed = state
        .handler
        .execute::<Order>(&id, command, &ctx.meta)
        .await
        .map_err(|error| match error {
            CommandError::Rejected(refusal) => placing_problem(&refusal, &asked)
                .unwrap_or_else(|| CommandError::<OrderError>::Rejected(refusal).into()),
            other => other.into(),
        })?;
    Ok(accepted(
        &executed,
        &id,
        Some(format!("/api/v1/orders/{id}")),
    ))
}

/// The field a refusal to place an order is about (`lines[1].sku`), as a 422 naming it; `None`
/// for a refusal that is not about a field. The rule is the domain's; this only finds the line.
fn placing_problem(refusal: &OrderError, lines: &[(Sku, i64, u32)]) -> Option<Problem> {
    let line = |find: &dyn Fn(usize) -> bool| (0..lines.len()).find(|&i| find(i));
    let (field, index) = match refusal {
        OrderError::NoLines => return Some(Problem::validation("lines", refusal.to_string())),
        OrderError::DuplicateSku => (
            "sku",
            line(&|i| lines[..i].iter().any(|(sku, ..)| *sku == lines[i].0)),
        ),
        OrderError::NegativePrice => ("unit_price_minor", line(&|i| lines[i].1 < 0)),
        OrderError::TotalTooLarge => {
            // The first line at which the running total passes the limit.
            let mut total: i64 = 0;
            let passes = lines.iter().position(|(_, price, quantity)| {
                match price
                    .checked_mul(i64::from(*quantity))
                    .and_then(|amount| total.checked_add(amount))
                {
                    Some(sum) if sum <= Money::MAX_AMOUNT_MINOR => {
                        total = sum;
                        false
                    }
                    _ => true,
                }
            });
            ("unit_price_minor", passes)
        }
        _ => return None,
    };
    let detail = refusal.to_string();
    Some(match index {
        Some(i) => Problem::validation(format!("lines[{i}].{field}"), detail),
        None => Problem::validation("lines", detail),
    })
}

/// An order with its lines.
#[utoipa::path(get, path = "/orders/{id}", tag = "orders",
    params(("id" = String, Path, description = "The order's id"),
        ("X-Min-Position" = Option<i64>, Header, description = "Wait until the read includes this log position")),
    responses((status = 200, body = OrderRow), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 422, body = ProblemDetails), (status = 503, description = "Not caught up with X-Min-Position", body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    consistency: MinPosition,
    Path(id): Path<String>,
) -> Result<Json<OrderRow>, Problem> {
    caller.require(Permission::OrdersView)?;
    consistency.wait(&state, ReadModel::Orders.name()).await?;
    projections::orders::get_order(&state.log, &id)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("order", &id))
}

/// Orders, newest first.
#[utoipa::path(get, path = "/orders", tag = "orders", params(OrderQuery),
    responses((status = 200, body = Page<OrderRow>), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 422, body = ProblemDetails), (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    consistency: MinPosition,
    QueryParams(query): QueryParams<OrderQuery>,
) -> Result<Json<Page<OrderRow>>, Problem> {
    caller.require(Permission::OrdersView)?;
    consistency.wait(&state, ReadModel::Orders.name()).await?;
    let filter = OrderFilter {
        status: status_filter::<OrderStatus>(query.status, "status")?,
        payment_status: status_filter::<OrderPaymentStatus>(
            query.payment_status,
            "payment_status",
        )?,
        fulfillment_status: status_filter::<FulfillmentStatus>(
            query.fulfillment_status,
            "fulfillment_status",
        )?,
        customer_id: query.customer_id,
        placed_from: query.placed_from,
        placed_to: query.placed_to,
        external_reference: query.external_reference,
    };
    let paging = Paging {
        cursor: query.cursor,
        limit: query.limit,
    };
    let (cursor, limit) = paging.parts()?;
    page_answer(projections::orders::list_orders(&state.log, &filter, cursor, limit).await)
}

/// Cancels an order: captured money is refunded and open payments voided by the process
/// managers; refused once anything is dispatched.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", request_body = CancelRequest,
    params(("id" = String, Path, description = "The order's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
        ("If-Match" = Option<String>, Header, description = "Only if the order is still at this stream version")),
    responses((status = 200, body = Accepted), (status = 400, body = ProblemDetails), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 415, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    ctx: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<CancelRequest>,
) -> Result<Response, Problem> {
    ctx.caller.require(Permission::OrdersCancel)?;
    let command = OrderCommand::CancelOrder {
        reason: body.reason,
    };
    let executed = state
        .handler
        .execute::<Order>(&id, command, &ctx.meta)
        .await?;
    Ok(accepted(&executed, &id, None))
}

/// The shipment the first run of this request's idempotency key allocated, if it ran: its
/// retry answers with that shipment, not a new id.
async fn first_allocation(
    state: &AppState,
    ctx: &CommandContext,
) -> Result<Option<ShipmentId>, Problem> {
    let Some(first) = ctx.first_run(state).await? else {
        return Ok(None);
    };
    for event in &first.events {
        let decoded = OrderEvent::decode(&event.event_type, event.event_version, &event.payload)
            .map_err(|e| Problem::internal(&e))?;
        if let OrderEvent::OrderShipmentAllocated(allocated) = decoded {
            return Ok(Some(allocated.shipment_id));
        }
    }
    Ok(None)
}

/// Allocates goods of the order to a new shipment (the shipment is created by a process
/// manager).
#[utoipa::path(post, path = "/orders/{id}/shipments", tag = "orders", request_body = AllocateRequest,
    params(("id" = String, Path, description = "The order's id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
        ("If-Match" = Option<String>, Header, description = "Only if the order is still at this stream version")),
    responses((status = 200, description = "Allocated; `id` is the shipment's", body = Accepted), (status = 400, body = ProblemDetails),
        (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails), (status = 404, body = ProblemDetails),
        (status = 409, body = ProblemDetails), (status = 415, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn allocate_shipment(
    State(state): State<AppState>,
    ctx: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<AllocateRequest>,
) -> Result<Response, Problem> {
    ctx.caller.require(Permission::OrdersEdit)?;
    if body.lines.is_empty() {
        return Err(Problem::validation(
            "lines",
            "a shipment needs at least one line",
        ));
    }
    let shipment_id = match body.shipment_id {
        Some(id) => id,
        None => first_allocation(&state, &ctx)
            .await?
            .unwrap_or_else(|| ShipmentId::from(uuid::Uuid::now_v7())),
    };
    let command = OrderCommand::AllocateShipment {
        shipment_id,
        carrier: body.carrier,
        lines: body
            .lines
            .into_iter()
            .map(|line| ShipmentLine {
                sku: line.sku,
                quantity: line.quantity,
            })
            .collect(),
    };
    let executed = state
        .handler
        .execute::<Order>(&id, command, &ctx.meta)
        .await?;
    let mut response = accepted(&executed, &shipment_id.to_string(), None);
    if let Ok(location) = format!("/api/v1/shipments/{shipment_id}").parse() {
        response
            .headers_mut()
            .insert(axum::http::header::LOCATION, location);
    }
    Ok(response)
}
