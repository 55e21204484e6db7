//! Every error kind of the API as a problem details body, pinned by insta.
#![allow(clippy::unwrap_used)]

mod support;

use api::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{new_order, read, App};

/// The status, body and the named response headers (empty where absent).
async fn problem(request: reqwest::RequestBuilder) -> (StatusCode, Value, Headers) {
    let (client, request) = request.build_split();
    let request = request.unwrap();
    let sent_body = request.body().is_some();
    let response = client.execute(request).await.unwrap();
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    let headers = Headers {
        content_type: header("content-type"),
        connection: header("connection"),
        sent_body,
    };
    let (status, body) = read(response).await;
    (status, body, headers)
}

#[derive(Debug)]
struct Headers {
    content_type: String,
    connection: String,
    sent_body: bool,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_error_kind_is_a_problem_with_a_stable_code() {
    let app = App::postgres().await;
    let orders = format!("{}/api/v1/orders", app.base);
    let mut seen = Vec::new();

    // 422: a value is invalid, naming the field.
    let mut bad = new_order();
    bad["lines"][1]["quantity"] = json!(0);
    seen.push((
        "validation",
        problem(
            app.request(Role::Operator, Method::POST, "/api/v1/orders")
                .json(&bad),
        )
        .await,
    ));
    // 422: a required field is missing.
    let mut missing = new_order();
    missing.as_object_mut().unwrap().remove("currency");
    seen.push((
        "missing field",
        problem(
            app.request(Role::Operator, Method::POST, "/api/v1/orders")
                .json(&missing),
        )
        .await,
    ));
    // 404.
    seen.push((
        "not found",
        problem(app.request(
            Role::Viewer,
            Method::GET,
            "/api/v1/orders/0190d8a4-0000-7000-8000-000000000000",
        ))
        .await,
    ));
    // 409: a business rule (a refund above what was captured).
    let (_, placed) = app
        .post(Role::Operator, "/api/v1/orders", new_order())
        .await;
    let order = placed["id"].as_str().unwrap().to_owned();
    let (_, payment) = app
        .post(Role::Operator, "/api/v1/payments", json!({"order_id": order, "amount_minor": 2500, "currency": "EUR", "provider": "stripe"}))
        .await;
    let payment = payment["id"].as_str().unwrap().to_owned();
    seen.push((
        "business rule",
        problem(
            app.request(
                Role::Finance,
                Method::POST,
                &format!("/api/v1/payments/{payment}/refund"),
            )
            .json(&json!({"amount_minor": 100})),
        )
        .await,
    ));
    // 409: a version conflict (If-Match of a version the order has left).
    let (_, untouched) = app
        .post(Role::Operator, "/api/v1/orders", new_order())
        .await;
    let untouched = untouched["id"].as_str().unwrap().to_owned();
    seen.push((
        "version conflict",
        problem(
            app.request(
                Role::Operator,
                Method::POST,
                &format!("/api/v1/orders/{untouched}/cancel"),
            )
            .header("if-match", "\"7\"")
            .json(&json!({"reason": "late"})),
        )
        .await,
    ));
    // 401: no token, and an unknown one.
    seen.push(("unauthenticated", problem(app.client.get(&orders)).await));
    seen.push((
        "unknown token",
        problem(app.client.get(&orders).bearer_auth("bo_nope_nope")).await,
    ));
    // 403: a viewer placing an order.
    seen.push((
        "forbidden",
        problem(
            app.request(Role::Viewer, Method::POST, "/api/v1/orders")
                .json(&new_order()),
        )
        .await,
    ));
    // 400: malformed JSON.
    seen.push((
        "malformed json",
        problem(
            app.request(Role::Operator, Method::POST, "/api/v1/orders")
                .header("content-type", "application/json")
                .body("{\"lines\": ["),
        )
        .await,
    ));
    // 415: not JSON.
    seen.push((
        "wrong content type",
        problem(
            app.request(Role::Operator, Method::POST, "/api/v1/orders")
                .header("content-type", "text/plain")
                .body("hello"),
        )
        .await,
    ));
    // 413: too large.
    let huge = format!("{{\"pad\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
    seen.push((
        "too large",
        problem(
            app.request(Role::Operator, Method::POST, "/api/v1/orders")
                .header("content-type", "application/json")
                .body(huge),
        )
        .await,
    ));
    // An unknown route and a wrong method.
    seen.push((
        "no route",
        problem(app.request(Role::Viewer, Method::GET, "/api/v1/nothing")).await,
    ));
    seen.push((
        "wrong method",
        problem(app.request(Role::Viewer, Method::DELETE, "/api/v1/orders")).await,
    ));
    // A status filter no status has, and a page size out of range.
    seen.push((
        "unknown status",
        problem(app.request(Role::Viewer, Method::GET, "/api/v1/orders?status=bogus")).await,
    ));
    seen.push((
        "page too large",
        problem(app.request(Role::Viewer, Method::GET, "/api/v1/payments?limit=1000")).await,
    ));
    // 422: an order whose total would overflow.
    let mut huge_total = new_order();
    huge_total["lines"][0]["unit_price_minor"] = json!(i64::MAX / 2 + 1);
    seen.push((
        "total too large",
        problem(
            app.request(Role::Operator, Method::POST, "/api/v1/orders")
                .json(&huge_total),
        )
        .await,
    ));
    // 422: a payment larger than any amount the back office takes.
    seen.push((
        "amount too large",
        problem(
            app.request(Role::Operator, Method::POST, "/api/v1/payments")
                .json(&json!({"order_id": order, "amount_minor": i64::MAX, "currency": "EUR", "provider": "stripe"})),
        )
        .await,
    ));
    // A bad query parameter.
    seen.push((
        "bad query",
        problem(app.request(Role::Viewer, Method::GET, "/api/v1/orders?limit=lots")).await,
    ));

    for (name, (status, body, headers)) in &seen {
        assert_eq!(
            headers.content_type, "application/problem+json",
            "{name}: {body}"
        );
        // A request whose body the server did not read to its end is answered with
        // `Connection: close` (a 413 and a 415 always are); one without a body keeps its connection.
        if [
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ]
        .contains(status)
        {
            assert_eq!(headers.connection, "close", "{name}");
        }
        if !headers.sent_body {
            assert_ne!(headers.connection, "close", "{name}");
        }
        assert_eq!(
            body["status"].as_u64(),
            Some(u64::from(status.as_u16())),
            "{name}: {body}"
        );
    }
    let pinned: Vec<Value> = seen
        .into_iter()
        .map(|(name, (status, body, _))| json!({"case": name, "status": status.as_u16(), "body": body}))
        .collect();
    insta::assert_json_snapshot!(pinned);
}

/// The domain decides an order's and a payment's rules; the API names the field a refusal is
/// about (the request's own values, `lines[1].sku`), one case per rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_domain_refusal_of_a_request_names_its_field() {
    let app = App::sqlite().await;
    let order = |change: &dyn Fn(&mut Value)| {
        let mut body = new_order();
        change(&mut body);
        body
    };
    let cases = [
        ("no_lines", order(&|o| o["lines"] = json!([])), "lines"),
        (
            "duplicate_sku",
            order(&|o| o["lines"][1]["sku"] = o["lines"][0]["sku"].clone()),
            "lines[1].sku",
        ),
        (
            "negative_price",
            order(&|o| o["lines"][1]["unit_price_minor"] = json!(-1)),
            "lines[1].unit_price_minor",
        ),
        (
            "total_too_large",
            order(&|o| o["lines"][1]["unit_price_minor"] = json!(1_000_000_000_000_000_i64)),
            "lines[1].unit_price_minor",
        ),
    ];
    for (rule, body, field) in cases {
        let (status, problem) = app.post(Role::Operator, "/api/v1/orders", body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{rule}: {problem}"
        );
        assert_eq!(problem["field"], field, "{rule}: {problem}");
        assert_eq!(problem["code"], "validation_failed", "{rule}: {problem}");
    }

    let (_, placed) = app
        .post(Role::Operator, "/api/v1/orders", new_order())
        .await;
    let order = placed["id"].as_str().unwrap();
    for amount in [0, -5, 1_000_000_000_000_001_i64] {
        let request = json!({"order_id": order, "amount_minor": amount, "currency": "EUR",
                             "provider": "stripe"});
        let (status, problem) = app.post(Role::Operator, "/api/v1/payments", request).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{amount}: {problem}"
        );
        assert_eq!(problem["field"], "amount_minor", "{amount}: {problem}");
    }
    let request = json!({"order_id": order, "amount_minor": 2500, "currency": "EUR",
                         "provider": "stripe"});
    let (_, payment) = app.post(Role::Operator, "/api/v1/payments", request).await;
    let payment = payment["id"].as_str().unwrap();
    let (status, problem) = app
        .post(
            Role::Finance,
            &format!("/api/v1/payments/{payment}/capture"),
            json!({"amount_minor": -5}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "amount_minor", "{problem}");

    // A label to buy without a carrier integration configured: which field would do instead.
    let label = format!("/api/v1/shipments/{}/label", uuid::Uuid::now_v7());
    let (status, problem) = app.post(Role::Operator, &label, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(
        (&problem["rule"], &problem["field"]),
        (&json!("label_purchase_off"), &json!("tracking_number")),
        "{problem}"
    );
    // A parcel out of range is named, whatever is configured.
    let (status, problem) = app
        .post(
            Role::Operator,
            &label,
            json!({"parcel": {"length_in": 0, "width_in": 1, "height_in": 1, "weight_oz": 1}}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["field"], "parcel.length_in", "{problem}");
}
