//! REST `/api/v1`: commands answer with the resource id, its stream version and the log
//! position of their last event; reads come from the read models and accept that position
//! (`X-Min-Position` or `min_position`) to wait, bounded, for their own write. Audit reads
//! come from the log. Every route is registered with its OpenAPI description, so the document
//! covers the router by construction.

mod attention;
mod audit;
mod catalog;
mod customers;
mod integrations;
mod orders;
mod payments;
pub mod refund_approvals;
mod reports;
pub mod schema;
mod shipments;

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use commands::Executed;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{problem::Problem, AppState};

/// The `/api/v1` routes with their OpenAPI descriptions.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(orders::place, orders::list))
        .routes(routes!(orders::get))
        .routes(routes!(orders::cancel))
        .routes(routes!(orders::allocate_shipment))
        .routes(routes!(payments::request, payments::list))
        .routes(routes!(payments::get))
        .routes(routes!(payments::capture))
        .routes(routes!(payments::refund))
        .routes(routes!(payments::void))
        .routes(routes!(refund_approvals::approve))
        .routes(routes!(refund_approvals::reject))
        .routes(routes!(refund_approvals::list))
        .routes(routes!(shipments::list))
        .routes(routes!(shipments::get))
        .routes(routes!(shipments::label))
        .routes(routes!(shipments::dispatch))
        .routes(routes!(shipments::deliver))
        .routes(routes!(catalog::products))
        .routes(routes!(catalog::stock))
        .routes(routes!(customers::get))
        .routes(routes!(customers::forget))
        .routes(routes!(reports::daily_sales))
        .routes(routes!(attention::list))
        .routes(routes!(attention::get))
        .routes(routes!(attention::retry))
        .routes(routes!(attention::dismiss))
        .routes(routes!(audit::stream_history))
        .routes(routes!(audit::query))
        .routes(routes!(audit::proof))
        .routes(routes!(integrations::list))
        .routes(routes!(integrations::messages))
        .routes(routes!(integrations::attempts))
        .routes(routes!(integrations::retry))
}

/// What a command answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// The resource's id.
    pub id: String,
    /// Its stream version after the command (send it as `If-Match` to change it only if
    /// nothing changed since).
    pub stream_version: i64,
    /// The log position of the command's last event (none if it changed nothing); send it as
    /// `X-Min-Position` on a read to see this write.
    pub position: Option<i64>,
    /// Whether the command changed anything (false: it had already happened).
    pub changed: bool,
}

/// A command's answer: 201 with `Location` for a creation, 200 otherwise, and the position
/// also as header `X-Position`.
pub(crate) fn accepted(executed: &Executed, id: &str, created_at: Option<String>) -> Response {
    let body = Accepted {
        id: id.to_owned(),
        stream_version: executed.stream_version,
        position: executed.position,
        changed: !executed.events.is_empty() && !executed.replayed,
    };
    let status = if created_at.is_some() && body.changed {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (status, Json(body)).into_response();
    if let Some(location) = created_at.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if let Some(position) = executed.position {
        if let Ok(value) = HeaderValue::from_str(&position.to_string()) {
            response.headers_mut().insert("x-position", value);
        }
    }
    response
}

/// Paging parameters of the lists.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

impl Paging {
    /// The page size asked for (50 if none); outside 1 to 200, a 422 naming `limit` rather than
    /// a page of another size than asked.
    pub(crate) fn limit(&self) -> Result<u32, Problem> {
        problem::page_size(self.limit, 50, 200)
    }

    /// The cursor and the checked page size, as a list query takes them.
    pub(crate) fn parts(&self) -> Result<(Option<&str>, u32), Problem> {
        Ok((self.cursor.as_deref(), self.limit()?))
    }
}

/// A list's page as the answer: a cursor the list did not give out is a 422 naming `cursor`.
pub(crate) fn page_answer<T>(
    page: Result<projections::Page<T>, projections::QueryError>,
) -> Result<Json<projections::Page<T>>, Problem> {
    page.map(Json).map_err(query_problem)
}

/// A status filter: one of the names of `S` (the domain's status, in snake case), else a 422
/// naming `field` rather than an empty page.
pub(crate) fn status_filter<S: serde::de::DeserializeOwned>(
    value: Option<String>,
    field: &str,
) -> Result<Option<String>, Problem> {
    if let Some(name) = &value {
        serde_json::from_value::<S>(serde_json::Value::String(name.clone()))
            .map_err(|error| Problem::validation(field, error.to_string()))?;
    }
    Ok(value)
}

pub(crate) fn query_problem(error: projections::QueryError) -> Problem {
    match error {
        projections::QueryError::InvalidCursor => {
            Problem::validation("cursor", "not a cursor this list gave out")
        }
        projections::QueryError::Storage(error) => error.into(),
    }
}
