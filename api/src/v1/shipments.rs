//! Shipments: get, list, record the label, dispatch, record delivery.

use axum::{
    extract::{Path, State},
    response::Response,
    Json,
};
use domain::{
    shipment::{Parcel, Shipment, ShipmentCommand, ShipmentStatus},
    ExternalRef,
};
use projections::{
    shipments::{ShipmentFilter, ShipmentRow},
    Page, ReadModel,
};
use serde::Deserialize;
use utoipa::{
    openapi::{
        schema::{AdditionalProperties, OneOfBuilder, Schema, Type},
        ObjectBuilder, Ref, RefOr,
    },
    PartialSchema as _, ToSchema,
};

use super::{accepted, page_answer, schema, status_filter, Accepted, Paging};
use crate::{
    auth::{Caller, Permission},
    extract::{CommandContext, JsonBody, MinPosition},
    problem::{Problem, ProblemDetails, QueryParams},
    AppState,
};

/// The carrier's label: a tracking number recorded by hand, or (without one) a label bought at
/// the carrier integration for the parcel given or the configured one; not both (its schema
/// says so: one of the two shapes).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelRequest {
    /// The carrier's tracking number, for a label printed elsewhere.
    pub tracking_number: Option<ExternalRef>,
    /// The parcel to buy a label for (whole inches and ounces, each at least 1), when it is not
    /// the configured default; only without `tracking_number`.
    pub parcel: Option<ParcelBody>,
}

impl utoipa::PartialSchema for LabelRequest {
    fn schema() -> RefOr<Schema> {
        let by_hand = ObjectBuilder::new()
            .description(Some("A label printed elsewhere: its tracking number."))
            .property("tracking_number", schema::reference())
            .required("tracking_number")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let parcel = OneOfBuilder::new()
            .item(Ref::from_schema_name(ParcelBody::name()))
            .item(ObjectBuilder::new().schema_type(Type::Null));
        let bought = ObjectBuilder::new()
            .description(Some(
                "A label bought at the carrier integration, for this parcel or the configured one.",
            ))
            .property("parcel", parcel)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)));
        OneOfBuilder::new().item(by_hand).item(bought).into()
    }
}

impl ToSchema for LabelRequest {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((ParcelBody::name().into_owned(), ParcelBody::schema()));
    }
}

/// A parcel's size and weight, in whole inches and ounces.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParcelBody {
    /// Length, inches.
    #[schema(minimum = 1, maximum = 1000)]
    pub length_in: u32,
    /// Width, inches.
    #[schema(minimum = 1, maximum = 1000)]
    pub width_in: u32,
    /// Height, inches.
    #[schema(minimum = 1, maximum = 1000)]
    pub height_in: u32,
    /// Weight, ounces.
    #[schema(minimum = 1, maximum = 100000)]
    pub weight_oz: u32,
}

impl ParcelBody {
    /// The parcel, or the first value out of range and why.
    fn parcel(self) -> Result<Parcel, Problem> {
        for (field, value, most) in [
            ("parcel.length_in", self.length_in, 1000),
            ("parcel.width_in", self.width_in, 1000),
            ("parcel.height_in", self.height_in, 1000),
            ("parcel.weight_oz", self.weight_oz, 100_000),
        ] {
            if !(1..=most).contains(&value) {
                return Err(Problem::validation(
                    field,
                    format!("must be from 1 to {most}"),
                ));
            }
        }
        Ok(Parcel {
            length_in: self.length_in,
            width_in: self.width_in,
            height_in: self.height_in,
            weight_oz: self.weight_oz,
        })
    }
}

/// Filters of the shipment list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ShipmentQuery {
    /// A shipment status.
    pub status: Option<String>,
    /// The order.
    pub order_id: Option<String>,
    /// The carrier.
    pub carrier: Option<String>,
    /// The carrier's tracking number.
    pub tracking_number: Option<String>,
    /// Created at or after (RFC 3339).
    pub created_from: Option<chrono::DateTime<chrono::Utc>>,
    /// Created before (RFC 3339).
    pub created_to: Option<chrono::DateTime<chrono::Utc>>,
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

async fn run(
    state: &AppState,
    ctx: &CommandContext,
    id: &str,
    command: ShipmentCommand,
) -> Result<Response, Problem> {
    ctx.caller.require(Permission::ShipmentsEdit)?;
    let executed = state
        .handler
        .execute::<Shipment>(id, command, &ctx.meta)
        .await?;
    Ok(accepted(&executed, id, None))
}

/// Records the carrier label and tracking number, or buys a label at the carrier integration
/// (without `tracking_number`): the answer comes before the purchase, which the shipment shows
/// as `label_pending` and then as its label (ADR 0013).
#[utoipa::path(post, path = "/shipments/{id}/label", tag = "shipments", request_body = LabelRequest,
    params(("id" = String, Path, description = "The shipment's id"), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
        ("If-Match" = Option<String>, Header, description = "Only if the shipment is still at this stream version")),
    responses((status = 200, body = Accepted), (status = 400, body = ProblemDetails), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 415, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn label(
    State(state): State<AppState>,
    ctx: CommandContext,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<LabelRequest>,
) -> Result<Response, Problem> {
    let command = match (body.tracking_number, body.parcel) {
        (Some(_), Some(_)) => {
            return Err(Problem::validation(
                "parcel",
                "a parcel is for buying a label: leave it out with tracking_number",
            ))
        }
        (Some(tracking_number), None) => ShipmentCommand::RecordLabel { tracking_number },
        (None, parcel) => {
            let parcel = parcel.map(ParcelBody::parcel).transpose()?;
            if !state.outbound.is_configured("easypost") {
                let mut problem = Problem::business_rule(
                    "label_purchase_off".to_owned(),
                    "no carrier integration is configured to buy labels (outbound.easypost): \
                     give the tracking_number of a label printed elsewhere",
                );
                problem.field = Some("tracking_number".to_owned());
                return Err(problem);
            }
            ShipmentCommand::RequestLabel { parcel }
        }
    };
    run(&state, &ctx, &id, command).await
}

/// Records that the parcel left the warehouse.
#[utoipa::path(post, path = "/shipments/{id}/dispatch", tag = "shipments",
    params(("id" = String, Path, description = "The shipment's id"), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
        ("If-Match" = Option<String>, Header, description = "Only if the shipment is still at this stream version")),
    responses((status = 200, body = Accepted), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn dispatch(
    State(state): State<AppState>,
    ctx: CommandContext,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    run(&state, &ctx, &id, ShipmentCommand::DispatchShipment).await
}

/// Records that the parcel was delivered.
#[utoipa::path(post, path = "/shipments/{id}/delivery", tag = "shipments",
    params(("id" = String, Path, description = "The shipment's id"), ("Idempotency-Key" = Option<String>, Header, description = "Makes a retry safe"),
        ("If-Match" = Option<String>, Header, description = "Only if the shipment is still at this stream version")),
    responses((status = 200, body = Accepted), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 409, body = ProblemDetails), (status = 422, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn deliver(
    State(state): State<AppState>,
    ctx: CommandContext,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    run(&state, &ctx, &id, ShipmentCommand::DeliverShipment).await
}

/// A shipment with its lines and tracking timeline.
#[utoipa::path(get, path = "/shipments/{id}", tag = "shipments",
    params(("id" = String, Path, description = "The shipment's id"),
        ("X-Min-Position" = Option<i64>, Header, description = "Wait until the read includes this log position")),
    responses((status = 200, body = ShipmentRow), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, body = ProblemDetails), (status = 422, body = ProblemDetails), (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    consistency: MinPosition,
    Path(id): Path<String>,
) -> Result<Json<ShipmentRow>, Problem> {
    caller.require(Permission::ShipmentsView)?;
    consistency
        .wait(&state, ReadModel::Shipments.name())
        .await?;
    projections::shipments::get_shipment(&state.log, &id)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("shipment", &id))
}

/// Shipments, newest first.
#[utoipa::path(get, path = "/shipments", tag = "shipments", params(ShipmentQuery),
    responses((status = 200, body = Page<ShipmentRow>), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 422, body = ProblemDetails), (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    consistency: MinPosition,
    QueryParams(query): QueryParams<ShipmentQuery>,
) -> Result<Json<Page<ShipmentRow>>, Problem> {
    caller.require(Permission::ShipmentsView)?;
    consistency
        .wait(&state, ReadModel::Shipments.name())
        .await?;
    let filter = ShipmentFilter {
        status: status_filter::<ShipmentStatus>(query.status, "status")?,
        order_id: query.order_id,
        carrier: query.carrier,
        tracking_number: query.tracking_number,
        created_from: query.created_from,
        created_to: query.created_to,
    };
    let paging = Paging {
        cursor: query.cursor,
        limit: query.limit,
    };
    let (cursor, limit) = paging.parts()?;
    page_answer(projections::shipments::list_shipments(&state.log, &filter, cursor, limit).await)
}
