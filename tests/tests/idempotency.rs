//! Idempotency-Key on POST: the stored response again for the same key and body (headers
//! included), 422 for another body, two concurrent requests with one key place one order; only
//! decided answers are kept; a retry whose kept response was lost finds its first result.
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
    eventlog::on_readers!(&app.log, |pool, _time| sqlx::query_scalar(sql)
        .fetch_one(pool)
        .await
        .unwrap())
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

/// Runs `sql` with the app's pool (SQLite apps).
async fn execute(app: &App, sql: &str) {
    let eventlog::EventLog::Sqlite(lite) = &app.log else {
        unreachable!("a SQLite app")
    };
    sqlx::query(sql).execute(lite.writer()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replay_repeats_the_location_and_position_of_the_first_response() {
    let app = App::sqlite().await;
    let body = new_order();
    let send = || async {
        app.request(Role::Operator, Method::POST, "/api/v1/orders")
            .header("idempotency-key", "with-headers")
            .json(&body)
            .send()
            .await
            .unwrap()
    };
    let first = send().await;
    let again = send().await;
    assert!(again.headers().contains_key("idempotent-replayed"));
    for name in ["location", "x-position"] {
        assert!(first.headers().contains_key(name), "{name}");
        assert_eq!(
            first.headers().get(name),
            again.headers().get(name),
            "{name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_a_decided_answer_is_kept_so_a_corrected_retry_runs() {
    let app = App::sqlite().await;
    let bytes = serde_json::to_vec(&new_order()).unwrap();
    // Not declared as JSON: a 415, not kept.
    let response = app
        .request(Role::Operator, Method::POST, "/api/v1/orders")
        .header("idempotency-key", "corrected")
        .body(bytes.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let response = app
        .request(Role::Operator, Method::POST, "/api/v1/orders")
        .header("idempotency-key", "corrected")
        .header("content-type", "application/json")
        .body(bytes)
        .send()
        .await
        .unwrap();
    let (status, placed) = read(response).await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    let order = placed["id"].as_str().unwrap();

    // A stale If-Match: a 409 not kept; the same key with the right version runs.
    let cancel = |version: &'static str| {
        app.request(
            Role::Operator,
            Method::POST,
            &format!("/api/v1/orders/{order}/cancel"),
        )
        .header("idempotency-key", "cancel-once")
        .header("if-match", version)
        .json(&json!({"reason": "late"}))
        .send()
    };
    let (status, stale) = read(cancel("\"7\"").await.unwrap()).await;
    assert_eq!(
        (status, stale["code"].as_str()),
        (StatusCode::CONFLICT, Some("version_conflict"))
    );
    let (status, cancelled) = read(cancel("\"1\"").await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refusal_by_a_business_rule_is_kept_and_replayed() {
    let app = App::sqlite().await;
    let (_, placed, _) = place(&app, "order", &new_order()).await;
    let (status, payment) = app
        .post(Role::Operator, "/api/v1/payments", json!({"order_id": placed["id"], "amount_minor": 2500, "currency": "EUR", "provider": "stripe"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    let payment = payment["id"].as_str().unwrap();
    // Nothing is captured: a refund is refused by the rules, and that answer is the decided one.
    let refund = || async {
        let response = app
            .request(
                Role::Finance,
                Method::POST,
                &format!("/api/v1/payments/{payment}/refund"),
            )
            .header("idempotency-key", "refund-too-much")
            .json(&json!({"amount_minor": 100}))
            .send()
            .await
            .unwrap();
        let replayed = response.headers().contains_key("idempotent-replayed");
        let (status, body) = read(response).await;
        (status, body, replayed)
    };
    let (status, refused, replayed) = refund().await;
    assert_eq!(
        (status, refused["code"].as_str(), replayed),
        (StatusCode::CONFLICT, Some("business_rule"), false)
    );
    let (status, again, replayed) = refund().await;
    assert_eq!((status, replayed), (StatusCode::CONFLICT, true));
    assert_eq!(again, refused);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_whose_kept_response_was_lost_answers_the_first_order_not_a_second() {
    let app = App::sqlite().await;
    let body = new_order();
    let (status, first, _) = place(&app, "lost", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    // The first run's response was never kept (a time-out, a crash before it was stored).
    execute(&app, "DELETE FROM idempotent_requests").await;
    let (status, again, _) = place(&app, "lost", &body).await;
    assert!(status.is_success(), "{status}: {again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(orders(&app).await, 1);
    // Once its kept response is gone (after 24 hours), the key with another body is a new
    // request, not the first one's answer.
    execute(&app, "DELETE FROM idempotent_requests").await;
    let mut other = body.clone();
    other["external_reference"] = json!("SHOP-2");
    let (status, second, _) = place(&app, "lost", &other).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_ne!(second["id"], first["id"]);
    assert_eq!(orders(&app).await, 2);

    // The same for a shipment allocated without an id of the caller's.
    let order = first["id"].as_str().unwrap();
    let allocate = || async {
        let response = app
            .request(
                Role::Operator,
                Method::POST,
                &format!("/api/v1/orders/{order}/shipments"),
            )
            .header("idempotency-key", "allocate-lost")
            .json(&json!({"carrier": "dhl", "lines": [{"sku": "SKU-A", "quantity": 1}]}))
            .send()
            .await
            .unwrap();
        read(response).await
    };
    let (status, shipment) = allocate().await;
    assert_eq!(status, StatusCode::OK, "{shipment}");
    execute(&app, "DELETE FROM idempotent_requests").await;
    let (status, again) = allocate().await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], shipment["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_that_is_not_ascii_is_refused_naming_the_header() {
    let app = App::sqlite().await;
    let response = app
        .request(Role::Operator, Method::POST, "/api/v1/orders")
        .header(
            "idempotency-key",
            reqwest::header::HeaderValue::from_bytes("commande-\u{e9}".as_bytes()).unwrap(),
        )
        .json(&new_order())
        .send()
        .await
        .unwrap();
    let (status, problem) = read(response).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "Idempotency-Key");
    assert_eq!(orders(&app).await, 0);
}
