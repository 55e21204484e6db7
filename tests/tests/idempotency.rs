//! Idempotency-Key on POST: the stored response again for the same key and body, 422 for
//! another body, and two concurrent requests with one key place one order.
#![allow(clippy::unwrap_used)]

mod support;

use api::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{new_order, read, App};

async fn place(app: &App, key: &str, body: &Value) -> (StatusCode, Value, bool) {
    let response = app
        .request(Role::Operator, Method::POST, "/api/v1/orders")
        .header("idempotency-key", key)
        .json(body)
        .send()
        .await
        .unwrap();
    let replayed = response.headers().contains_key("idempotent-replayed");
    let (status, body) = read(response).await;
    (status, body, replayed)
}

/// Orders placed: counted in the events table itself (every committed event, whether or not
/// whole-log readers may see it yet).
async fn orders(app: &App) -> i64 {
    let sql = "SELECT count(*) FROM events WHERE event_type = 'OrderPlaced'";
    match &app.log {
        eventlog::EventLog::Postgres(pg) => {
            sqlx::query_scalar(sql).fetch_one(pg.pool()).await.unwrap()
        }
        eventlog::EventLog::Sqlite(lite) => sqlx::query_scalar(sql)
            .fetch_one(lite.readers())
            .await
            .unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_key_and_body_answer_the_stored_response_and_another_body_is_refused() {
    let app = App::postgres().await;
    let body = new_order();
    let (status, first, replayed) = place(&app, "key-1", &body).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, false), "{first}");
    let (status, again, replayed) = place(&app, "key-1", &body).await;
    assert_eq!((status, replayed), (StatusCode::CREATED, true));
    assert_eq!(
        again, first,
        "the stored response, byte for byte the same JSON"
    );

    let mut other = body.clone();
    other["external_reference"] = json!("SHOP-2");
    let (status, refused, _) = place(&app, "key-1", &other).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(refused["code"], "idempotency_key_reused");
    assert_eq!(orders(&app).await, 1);

    // Keys belong to their caller: another user's same key is another request.
    let response = app
        .request(Role::Admin, Method::POST, "/api/v1/orders")
        .header("idempotency-key", "key-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(orders(&app).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_key_place_one_order() {
    let app = App::postgres().await;
    let body = new_order();
    let attempts = futures::future::join_all((0..8).map(|_| place(&app, "same", &body))).await;
    let created: Vec<_> = attempts
        .iter()
        .filter(|(status, _, replayed)| *status == StatusCode::CREATED && !replayed)
        .collect();
    assert_eq!(created.len(), 1, "{attempts:?}");
    for (status, answer, replayed) in &attempts {
        match *status {
            StatusCode::CREATED => assert_eq!(answer["id"], created[0].1["id"]),
            StatusCode::CONFLICT => {
                assert_eq!(answer["code"], "idempotency_key_in_flight");
                assert!(!replayed);
            }
            other => panic!("unexpected {other}: {answer}"),
        }
    }
    assert_eq!(orders(&app).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_whose_first_request_is_still_in_flight_is_a_conflict() {
    use sha2::{Digest, Sha256};
    let app = App::postgres().await;
    let bytes = serde_json::to_vec(&new_order()).unwrap();
    // The first request with this key is running (recorded, no response yet): as the
    // middleware records it, for the operator, with the fingerprint of method, path and body.
    let mut hasher = Sha256::new();
    hasher.update(b"POST /api/v1/orders\n");
    hasher.update(&bytes);
    let fingerprint = hex::encode(hasher.finalize());
    let operator = api::auth::authenticate(&app.log, app.token(Role::Operator))
        .await
        .unwrap()
        .unwrap();
    let sql = "INSERT INTO idempotent_requests (actor, idempotency_key, method, path, request_sha256, created_at_ms) \
               VALUES ($1, 'running', 'POST', '/api/v1/orders', $2, $3)";
    let eventlog::EventLog::Postgres(pg) = &app.log else {
        unreachable!("a PostgreSQL app")
    };
    sqlx::query(sql)
        .bind(&operator.user_id)
        .bind(&fingerprint)
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(pg.pool())
        .await
        .unwrap();
    let response = app
        .request(Role::Operator, Method::POST, "/api/v1/orders")
        .header("idempotency-key", "running")
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let (status, answer) = read(response).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["code"], "idempotency_key_in_flight");
    assert_eq!(orders(&app).await, 0);
}
