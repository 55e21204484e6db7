//! The ERP's catalog, read-only (the ERP owns products, prices and stock; ADR 0007): products
//! and stock levels, each listed by its key.

use axum::{extract::State, Json};
use domain::Sku;
use projections::{
    catalog::{ProductFilter, ProductRow, StockFilter, StockRow},
    Page,
};
use serde::Deserialize;

use super::{page_answer, schema, Paging};
use crate::{
    auth::{Caller, Permission},
    problem::{Problem, ProblemDetails, QueryParams},
    AppState,
};

/// Filters of the product list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProductQuery {
    /// One product.
    #[param(schema_with = schema::sku)]
    pub sku: Option<Sku>,
    /// `true`: only products that may be sold; `false`: only those that may not.
    pub active: Option<bool>,
    /// Changed in the ERP at or after (RFC 3339).
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// Filters of the stock list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StockQuery {
    /// One product.
    #[param(schema_with = schema::sku)]
    pub sku: Option<Sku>,
    /// One warehouse; empty: the levels the ERP reports overall.
    pub warehouse: Option<String>,
    /// Changed in the ERP at or after (RFC 3339).
    pub updated_since: Option<chrono::DateTime<chrono::Utc>>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// The ERP's products, by SKU.
#[utoipa::path(get, path = "/catalog/products", tag = "catalog", params(ProductQuery),
    responses((status = 200, body = Page<ProductRow>), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 422, body = ProblemDetails), (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn products(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<ProductQuery>,
) -> Result<Json<Page<ProductRow>>, Problem> {
    caller.require(Permission::CatalogView)?;
    let filter = ProductFilter {
        sku: query.sku.map(String::from),
        active: query.active,
        updated_since: query.updated_since,
    };
    let paging = Paging {
        cursor: query.cursor,
        limit: query.limit,
    };
    let (cursor, limit) = paging.parts()?;
    page_answer(projections::catalog::list_products(&state.log, &filter, cursor, limit).await)
}

/// The ERP's stock levels, by SKU then warehouse.
#[utoipa::path(get, path = "/catalog/stock", tag = "catalog", params(StockQuery),
    responses((status = 200, body = Page<StockRow>), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 422, body = ProblemDetails), (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn stock(
    State(state): State<AppState>,
    caller: Caller,
    QueryParams(query): QueryParams<StockQuery>,
) -> Result<Json<Page<StockRow>>, Problem> {
    caller.require(Permission::CatalogView)?;
    let filter = StockFilter {
        sku: query.sku.map(String::from),
        warehouse: query.warehouse,
        updated_since: query.updated_since,
    };
    let paging = Paging {
        cursor: query.cursor,
        limit: query.limit,
    };
    let (cursor, limit) = paging.parts()?;
    page_answer(projections::catalog::list_stock(&state.log, &filter, cursor, limit).await)
}
