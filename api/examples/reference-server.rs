//! The least the stack can do for `POST /api/v1/orders`: the reference of
//! `scripts/bench-command-path.sh` (issue 16). The same axum and sqlx as the service; the request
//! body parsed into the same shape (serde, every field read), one autocommit INSERT of the order
//! as JSON into a table of its own, and a 201 with the new id. No authentication, no log, no
//! projections: what a hand-written endpoint costs on this machine.
//!
//! `cargo run --release -p api --example reference-server -- <database url> <listen address>`

use std::net::SocketAddr;

use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgPoolOptions;

/// The service's allocator, so that the two differ only in what they do.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct PlaceOrder {
    customer_id: uuid::Uuid,
    currency: String,
    lines: Vec<Line>,
    shipping_address: Address,
    #[serde(default)]
    external_reference: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Line {
    sku: String,
    name: String,
    quantity: u32,
    unit_price_minor: i64,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Address {
    recipient: String,
    line1: String,
    #[serde(default)]
    line2: Option<String>,
    #[serde(default)]
    postal_code: Option<String>,
    city: String,
    country: String,
}

#[derive(Serialize)]
struct Created {
    id: uuid::Uuid,
}

async fn place(
    State(pool): State<sqlx::PgPool>,
    Json(order): Json<PlaceOrder>,
) -> Result<(StatusCode, Json<Created>), (StatusCode, String)> {
    let id = uuid::Uuid::now_v7();
    let body =
        serde_json::to_value(&order).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
    sqlx::query("INSERT INTO reference_orders (id, body) VALUES ($1, $2)")
        .bind(id)
        .bind(body)
        .execute(&pool)
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: <database url> <listen>"))?;
    let listen: SocketAddr = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: <database url> <listen>"))?
        .parse()?;
    let pool = PgPoolOptions::new()
        .max_connections(20)
        .connect(&url)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS reference_orders (id uuid PRIMARY KEY, body jsonb NOT NULL, \
         created_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&pool)
    .await?;
    let app = Router::new()
        .route("/api/v1/orders", post(place))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind(listen).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
