//! Access: the role matrix over a representative endpoint of each permission, a revoked token
//! refused at once, a role change and a deactivated user, and the audit trail naming who did what and tying a request to all it
//! caused.
#![allow(clippy::unwrap_used)]

mod support;

use std::{collections::BTreeMap, time::Duration};

use api::auth::{Grants, Permission, Role};
use reqwest::{Method, StatusCode};
use serde_json::json;
use support::{new_order, read, trail, App};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_role_is_allowed_exactly_what_the_matrix_grants() {
    let app = App::postgres().await;
    let (_, placed) = app.post(Role::Admin, "/api/v1/orders", new_order()).await;
    let order = placed["id"].as_str().unwrap().to_owned();
    let (_, payment) = app
        .post(Role::Admin, "/api/v1/payments", json!({"order_id": order, "amount_minor": 2500, "currency": "EUR", "provider": "stripe"}))
        .await;
    let payment = payment["id"].as_str().unwrap().to_owned();
    let missing = "0190d8a4-0000-7000-8000-0000000000aa";

    // One request per permission; bodies are valid, so a refusal is only ever 403.
    let probes: Vec<(Permission, Method, String, serde_json::Value)> = vec![
        (
            Permission::OrdersView,
            Method::GET,
            format!("/api/v1/orders/{order}"),
            json!(null),
        ),
        (
            Permission::OrdersCreate,
            Method::POST,
            "/api/v1/orders".into(),
            new_order(),
        ),
        (
            Permission::OrdersEdit,
            Method::POST,
            format!("/api/v1/orders/{missing}/shipments"),
            json!({"carrier": "dhl", "lines": [{"sku": "SKU-A", "quantity": 1}]}),
        ),
        (
            Permission::OrdersCancel,
            Method::POST,
            format!("/api/v1/orders/{missing}/cancel"),
            json!({"reason": "test"}),
        ),
        (
            Permission::PaymentsView,
            Method::GET,
            "/api/v1/payments".into(),
            json!(null),
        ),
        (
            Permission::PaymentsCreate,
            Method::POST,
            "/api/v1/payments".into(),
            json!({"order_id": order, "amount_minor": 100, "currency": "EUR", "provider": "stripe"}),
        ),
        (
            Permission::PaymentsApprove,
            Method::POST,
            format!("/api/v1/payments/{payment}/capture"),
            json!({"amount_minor": 1}),
        ),
        (
            Permission::PaymentsCancel,
            Method::POST,
            format!("/api/v1/payments/{missing}/void"),
            json!({"reason": "test"}),
        ),
        (
            Permission::ShipmentsView,
            Method::GET,
            "/api/v1/shipments".into(),
            json!(null),
        ),
        (
            Permission::ShipmentsEdit,
            Method::POST,
            format!("/api/v1/shipments/{missing}/dispatch"),
            json!({}),
        ),
        (
            Permission::AuditView,
            Method::GET,
            format!("/api/v1/audit/streams/order/{order}"),
            json!(null),
        ),
        (
            Permission::CatalogView,
            Method::GET,
            "/api/v1/catalog/products".into(),
            json!(null),
        ),
        (
            Permission::CustomersView,
            Method::GET,
            format!("/api/v1/customers/{missing}"),
            json!(null),
        ),
        (
            Permission::ReportsView,
            Method::GET,
            "/api/v1/reports/daily-sales".into(),
            json!(null),
        ),
    ];
    let mut matrix = BTreeMap::new();
    for role in Role::ALL {
        for (permission, method, path, body) in &probes {
            let mut request = app.request(role, method.clone(), path);
            if method == Method::POST {
                request = request.json(body);
            }
            let (status, answer) = read(request.send().await.unwrap()).await;
            let allowed = status != StatusCode::FORBIDDEN;
            assert!(
                !status.is_server_error(),
                "{role} {path}: {status} {answer}"
            );
            assert_eq!(
                allowed,
                role.grants(*permission),
                "{role} on {} ({path}) answered {status} {answer}",
                permission.name()
            );
            matrix.insert(format!("{role} {}", permission.name()), allowed);
        }
    }
    // The matrix of ADR 0008, spelled out.
    let granted: Vec<&String> = matrix
        .iter()
        .filter(|(_, ok)| **ok)
        .map(|(k, _)| k)
        .collect();
    let expected_counts = [
        ("admin", 14),
        ("operator", 11),
        ("finance", 8),
        ("auditor", 6),
        ("viewer", 5),
    ];
    for (role, count) in expected_counts {
        let n = granted
            .iter()
            .filter(|k| k.starts_with(&format!("{role} ")))
            .count();
        assert_eq!(n, count, "{role}: {granted:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_token_is_refused_at_once() {
    let app = App::postgres().await;
    let token = api::users::create_user(&app.log, "temp", Role::Viewer, "cli:test")
        .await
        .unwrap();
    let url = format!("{}/api/v1/orders", app.base);
    let status = app
        .client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::OK);
    let token_id = token
        .strip_prefix("bo_")
        .unwrap()
        .split('_')
        .next()
        .unwrap();
    assert!(api::auth::revoke_token(&app.log, token_id).await.unwrap());
    // A serving process that remembered the token forgets it when PostgreSQL's notification of
    // the change arrives (`api::callers`), in this test's process as in another's.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app.state.callers.remembers(token_id) {
        assert!(std::time::Instant::now() < deadline, "never forgotten");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let (status, body) = read(
        app.client
            .get(&url)
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthenticated");
    let listed = api::auth::list_tokens(&app.log).await.unwrap();
    assert!(listed
        .iter()
        .any(|t| t.token_id == token_id && t.revoked_at_ms.is_some()));
}

/// On PostgreSQL a serving process remembers the callers of tokens it has seen, and forgets
/// them when PostgreSQL tells it a token or user changed (`api::callers`): a revocation, a
/// new role and a deactivation reach it without a restart, and a request after that is
/// answered as the database says.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgresql_a_remembered_token_is_forgotten_when_its_user_or_token_changes() {
    let app = App::postgres().await;
    let token = api::users::create_user(&app.log, "temp", Role::Viewer, "cli:test")
        .await
        .unwrap();
    let token_id = token
        .strip_prefix("bo_")
        .unwrap()
        .split('_')
        .next()
        .unwrap();
    let place = || async {
        app.client
            .post(format!("{}/api/v1/orders", app.base))
            .bearer_auth(&token)
            .json(&new_order())
            .send()
            .await
            .unwrap()
            .status()
    };
    let read_orders = || async {
        app.client
            .get(format!("{}/api/v1/orders", app.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .status()
    };
    let remembered = async |wanted: bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while app.state.callers.remembers(token_id) != wanted {
            assert!(
                std::time::Instant::now() < deadline,
                "remembered stays {}",
                !wanted
            );
            // Until the listener listens, nothing is remembered: ask again.
            if wanted {
                assert_eq!(read_orders().await, StatusCode::OK);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    remembered(true).await;
    assert_eq!(
        place().await,
        StatusCode::FORBIDDEN,
        "a viewer, from memory"
    );

    assert!(
        api::users::set_role(&app.log, "temp", Role::Operator, "cli:test")
            .await
            .unwrap()
    );
    remembered(false).await;
    assert_eq!(place().await, StatusCode::CREATED, "the new role");
    remembered(true).await;

    assert!(api::users::deactivate_user(&app.log, "temp", "cli:test")
        .await
        .unwrap());
    remembered(false).await;
    assert_eq!(place().await, StatusCode::UNAUTHORIZED, "deactivated");
    assert!(
        !app.state.callers.remembers(token_id),
        "a refusal is not remembered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_role_holds_from_the_next_request_and_a_deactivated_user_is_refused_at_once() {
    let app = App::sqlite().await;
    let first = api::users::create_user(&app.log, "temp", Role::Viewer, "cli:test")
        .await
        .unwrap();
    let place = |token: String| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/api/v1/orders", app.base))
                .bearer_auth(token)
                .json(&new_order())
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(place(first.clone()).await, StatusCode::FORBIDDEN);
    assert!(
        api::users::set_role(&app.log, "temp", Role::Operator, "cli:test")
            .await
            .unwrap()
    );
    assert_eq!(place(first.clone()).await, StatusCode::CREATED);
    assert!(
        !api::users::set_role(&app.log, "nobody", Role::Admin, "cli:test")
            .await
            .unwrap()
    );

    // A second token (a lost one replaced), then the user deactivated: both refused.
    let second = api::auth::issue_token(&app.log, "temp")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(place(second.clone()).await, StatusCode::CREATED);
    assert!(api::users::deactivate_user(&app.log, "temp", "cli:test")
        .await
        .unwrap());
    assert_eq!(place(first).await, StatusCode::UNAUTHORIZED);
    assert_eq!(place(second).await, StatusCode::UNAUTHORIZED);
    assert!(api::auth::issue_token(&app.log, "temp")
        .await
        .unwrap()
        .is_none());
    assert!(!api::users::deactivate_user(&app.log, "temp", "cli:test")
        .await
        .unwrap());
    // The events they caused still name them.
    eventlog::testing::everything_visible(&app.log).await;
    let placed = app.log.read_all(0, 1000).await.unwrap();
    assert!(placed
        .iter()
        .any(|e| e.metadata.actor.as_deref() == Some("user:temp")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_trail_names_each_actor_and_ties_a_request_to_all_it_caused() {
    let app = App::postgres().await;
    let (_, placed) = app
        .post(Role::Operator, "/api/v1/orders", new_order())
        .await;
    let order = placed["id"].as_str().unwrap().to_owned();
    let response = app
        .request(Role::Operator, Method::POST, "/api/v1/payments")
        .header("x-request-id", "req-pay-1")
        .json(&json!({"order_id": order, "amount_minor": 2500, "currency": "EUR", "provider": "stripe"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "req-pay-1", "echoed");
    let (_, payment) = read(response).await;
    let payment = payment["id"].as_str().unwrap().to_owned();
    app.post(
        Role::Finance,
        &format!("/api/v1/payments/{payment}/capture"),
        json!({"amount_minor": 2500}),
    )
    .await;
    app.eventually(&format!("/api/v1/orders/{order}"), |o| {
        o["payment_status"] == "paid"
    })
    .await;

    let (status, history) = app
        .get(
            Role::Auditor,
            &format!("/api/v1/audit/streams/order/{order}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    assert_eq!(
        trail(&history),
        [
            ("OrderPlaced".to_owned(), "user:operator".to_owned()),
            // The order decides a payment request in the same append as the payment.
            (
                "OrderPaymentRequested".to_owned(),
                "user:operator".to_owned()
            ),
            (
                "OrderPaymentRecorded".to_owned(),
                "process:order-payments".to_owned()
            ),
        ]
    );
    for (i, event) in history.as_array().unwrap().iter().enumerate() {
        assert_eq!(event["version"], i + 1);
        assert!(event["position"].as_i64().unwrap() > 0 && event["recorded_at"].is_string());
    }

    // Everything request req-pay-1 caused: the payment request and the order's record of it.
    let (status, caused) = app
        .get(
            Role::Auditor,
            "/api/v1/audit/events?correlation_id=req-pay-1",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{caused}");
    assert_eq!(
        trail(&caused["events"]),
        [
            ("PaymentRequested".to_owned(), "user:operator".to_owned()),
            // The order decides a payment request in the same append as the payment.
            (
                "OrderPaymentRequested".to_owned(),
                "user:operator".to_owned()
            ),
        ]
    );
    // The ERP attaches an invoice through its webhook: the history names the webhook source.
    let invoice = json!({"type": "invoice.issued", "timestamp": "2026-11-29T10:00:00Z", "data": {
        "order_id": order, "invoice_number": "INV-1", "issued_at": "2026-11-29T10:00:00Z",
        "total_minor": 2500, "currency": "EUR"}});
    assert_eq!(
        app.erp_delivery("msg_invoice_1", &invoice).await,
        StatusCode::ACCEPTED
    );
    let path = format!("/api/v1/audit/streams/order/{order}");
    let start = std::time::Instant::now();
    let invoiced = loop {
        let (_, history) = app.get(Role::Auditor, &path).await;
        let found = history
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["event_type"] == "OrderInvoiced")
            .cloned();
        if let Some(event) = found {
            break event;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "never invoiced: {history}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(invoiced["metadata"]["actor"], "webhook:erp");

    let (_, by_finance) = app
        .get(Role::Auditor, "/api/v1/audit/events?actor=user:finance")
        .await;
    let types: Vec<&str> = by_finance["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    // A capture before the provider authorized implies the authorization (the domain's rule).
    assert_eq!(types, ["PaymentAuthorized", "PaymentCaptured"]);
}
