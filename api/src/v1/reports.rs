//! Reports: the daily sales per UTC day and currency (the `daily_sales` read model), by day.

use axum::{extract::State, Json};
use chrono::NaiveDate;
use domain::Currency;
use projections::{
    daily_sales::{DailySalesFilter, DailySalesRow},
    Page, ReadModel,
};
use serde::{Deserialize, Deserializer};

use super::{page_answer, schema, Paging};
use crate::{
    auth::{Caller, Permission},
    extract::MinPosition,
    problem::{Problem, ProblemDetails, QueryParams},
    AppState,
};

/// Filters of the daily sales.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DailySalesQuery {
    /// From this UTC day on (`YYYY-MM-DD`).
    #[serde(default, deserialize_with = "day")]
    #[param(value_type = Option<String>, schema_with = schema::day)]
    pub from: Option<NaiveDate>,
    /// Up to this UTC day, inclusive (`YYYY-MM-DD`); before `from`: no day.
    #[serde(default, deserialize_with = "day")]
    #[param(value_type = Option<String>, schema_with = schema::day)]
    pub to: Option<NaiveDate>,
    /// One currency (ISO 4217).
    #[param(value_type = Option<String>, schema_with = schema::currency)]
    pub currency: Option<Currency>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// Wait until the figures include this log position (read by `MinPosition`; declared here
    /// for the OpenAPI document).
    #[allow(dead_code)]
    pub min_position: Option<i64>,
}

/// A day written exactly `YYYY-MM-DD`, as the table keys it and the document says (chrono
/// alone would also take `2026-1-5` or `+12026-01-05`).
fn day<'de, D: Deserializer<'de>>(from: D) -> Result<Option<NaiveDate>, D::Error> {
    let Some(text) = Option::<String>::deserialize(from)? else {
        return Ok(None);
    };
    NaiveDate::parse_from_str(&text, "%Y-%m-%d")
        .ok()
        .filter(|day| text.len() == 10 && day.format("%Y-%m-%d").to_string() == text)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("a day is written YYYY-MM-DD"))
}

/// Orders placed and cancelled, gross, refunded and net per UTC day and currency, by day then
/// currency (sum over days for a month; never add different currencies).
#[utoipa::path(get, path = "/reports/daily-sales", tag = "reports", params(DailySalesQuery),
    responses((status = 200, body = Page<DailySalesRow>), (status = 401, body = ProblemDetails), (status = 403, body = ProblemDetails),
        (status = 422, body = ProblemDetails), (status = 503, body = ProblemDetails)),
    security(("bearer" = [])))]
pub async fn daily_sales(
    State(state): State<AppState>,
    caller: Caller,
    consistency: MinPosition,
    QueryParams(query): QueryParams<DailySalesQuery>,
) -> Result<Json<Page<DailySalesRow>>, Problem> {
    caller.require(Permission::ReportsView)?;
    consistency
        .wait(&state, ReadModel::DailySales.name())
        .await?;
    let filter = DailySalesFilter {
        from: query.from,
        to: query.to,
        currency: query.currency.map(String::from),
    };
    let paging = Paging {
        cursor: query.cursor,
        limit: query.limit,
    };
    let (cursor, limit) = paging.parts()?;
    page_answer(
        projections::daily_sales::list_daily_sales(&state.log, &filter, cursor, limit).await,
    )
}
