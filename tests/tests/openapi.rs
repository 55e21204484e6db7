//! The OpenAPI document covers the router: every documented operation is a route of the live
//! server, and every route of `/api/v1` is documented.
#![allow(clippy::unwrap_used)]

mod support;

use api::auth::Role;
use reqwest::{Method, StatusCode};
use support::{read, App};

/// Every route the router serves but health and the document itself.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/v1/orders"),
    ("POST", "/api/v1/orders"),
    ("GET", "/api/v1/orders/{id}"),
    ("POST", "/api/v1/orders/{id}/cancel"),
    ("POST", "/api/v1/orders/{id}/shipments"),
    ("GET", "/api/v1/payments"),
    ("POST", "/api/v1/payments"),
    ("GET", "/api/v1/payments/{id}"),
    ("POST", "/api/v1/payments/{id}/capture"),
    ("POST", "/api/v1/payments/{id}/refund"),
    ("POST", "/api/v1/payments/{id}/void"),
    ("GET", "/api/v1/shipments"),
    ("GET", "/api/v1/shipments/{id}"),
    ("POST", "/api/v1/shipments/{id}/label"),
    ("POST", "/api/v1/shipments/{id}/dispatch"),
    ("POST", "/api/v1/shipments/{id}/delivery"),
    ("GET", "/api/v1/catalog/products"),
    ("GET", "/api/v1/catalog/stock"),
    ("GET", "/api/v1/customers/{id}"),
    ("GET", "/api/v1/reports/daily-sales"),
    ("GET", "/api/v1/attention"),
    ("GET", "/api/v1/attention/{id}"),
    ("POST", "/api/v1/attention/{id}/retry"),
    ("POST", "/api/v1/attention/{id}/dismiss"),
    ("GET", "/api/v1/audit/streams/{stream_type}/{stream_id}"),
    ("GET", "/api/v1/audit/events"),
    ("GET", "/api/v1/audit/proof/{event_id}"),
    ("GET", "/api/v1/admin/webhooks/deliveries"),
    (
        "GET",
        "/api/v1/admin/webhooks/deliveries/{source}/{event_id}",
    ),
    (
        "POST",
        "/api/v1/admin/webhooks/deliveries/{source}/{event_id}/retry",
    ),
    ("GET", "/api/v1/admin/integrations"),
    ("GET", "/api/v1/admin/integrations/{destination}/messages"),
    (
        "GET",
        "/api/v1/admin/integrations/{destination}/messages/{event_id}/attempts",
    ),
    (
        "POST",
        "/api/v1/admin/integrations/{destination}/messages/{event_id}/retry",
    ),
    ("GET", "/api/v1/refund-approvals"),
    ("POST", "/api/v1/payments/{id}/refunds/{reference}/approve"),
    ("POST", "/api/v1/payments/{id}/refunds/{reference}/reject"),
    ("POST", "/api/v1/admin/customers/{id}/forget"),
    ("POST", "/webhooks/stripe"),
    ("POST", "/webhooks/easypost"),
    ("POST", "/webhooks/erp"),
    ("POST", "/webhooks/crm"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_is_in_the_openapi_document_and_every_documented_operation_is_served() {
    let app = App::postgres().await;
    let (status, document) = read(
        app.client
            .get(format!("{}/api/v1/openapi.json", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let mut documented = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    documented.sort();
    let mut routes: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    routes.sort();
    assert_eq!(documented, routes);

    // Each documented operation answers as a route (never "no such route" nor 405).
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "0190d8a4-0000-7000-8000-000000000001")
            .replace("{stream_type}", "order")
            .replace("{stream_id}", "0190d8a4-0000-7000-8000-000000000001")
            .replace("{source}", "stripe")
            .replace("{event_id}", "evt_1");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = app.request(Role::Admin, method.clone(), &concrete);
        if method == Method::POST {
            request = request.json(&serde_json::json!({}));
        }
        let (status, body) = read(request.send().await.unwrap()).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{path}");
        assert_ne!(body["detail"], "no such route", "{path}");
        // Webhook sources without a secret answer 503 by design (none is configured here).
        let disabled = path.starts_with("/webhooks/") && body["code"] == "source_disabled";
        assert!(
            !status.is_server_error() || disabled,
            "{path}: {status} {body}"
        );
    }

    let (status, _) = read(
        app.client
            .get(format!("{}/api/v1/docs", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}
