//! The CRM's customer contacts, read-only (the CRM owns them; ADR 0007). Personal data: one
//! customer at a time, by id, for the roles that must reach a customer; never listed.

use axum::{
    extract::{Path, State},
    Json,
};
use projections::customers::CustomerRow;

use crate::{extract::CommandContext, forget::Forgotten};

use crate::{
    auth::{Caller, Permission},
    problem::{Problem, ProblemDetails},
    AppState,
};

/// A customer's contact data, as the CRM last sent it.
#[utoipa::path(get, path = "/customers/{id}", tag = "customers",
    params(("id" = String, Path, description = "The customer's id (the `customer_id` of their orders)")),
    responses((status = 200, body = CustomerRow), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, description = "The CRM has sent no contact for this customer", body = ProblemDetails),
        (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<CustomerRow>, Problem> {
    caller.require(Permission::CustomersView)?;
    projections::customers::get_customer(&state.log, &id)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("customer", &id))
}

/// Forgets a customer (ADR 0028): destroys the keys sealing their personal data inside the
/// log's events, so that names, addresses, e-mail and phone read as `[erased]` in every answer,
/// read model, rebuild and export from now on, and erases the copies kept beside the log.
/// Orders, payments and shipments keep their amounts, states and times, and the audit chain
/// still verifies. Recorded as `CustomerForgotten` on `customer/{id}`, without the data.
#[utoipa::path(post, path = "/admin/customers/{id}/forget", tag = "admin",
    params(("id" = String, Path, description = "The customer's id (the `customer_id` of their orders)")),
    responses((status = 200, body = Forgotten), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 404, description = "Nothing is known of this customer", body = ProblemDetails),
        (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn forget(
    State(state): State<AppState>,
    ctx: CommandContext,
    Path(id): Path<String>,
) -> Result<Json<Forgotten>, Problem> {
    ctx.caller.require(Permission::Admin)?;
    let customer = id
        .parse()
        .map_err(|_| Problem::not_found("customer", &id))?;
    crate::forget::forget_customer(&state.log, customer, ctx.meta.metadata)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found("customer", &id))
}
