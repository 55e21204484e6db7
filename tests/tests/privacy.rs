//! Forgetting a customer through the real router (ADR 0028): their personal data is sealed in
//! the log from the start; once forgotten, no API answer, read model, rebuild, audit answer,
//! export or table holds it in clear, while orders and payments keep their amounts and states,
//! and the forget itself is in the audit trail without the data.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod support;

use api::auth::Role;
use eventlog::testing::TestDatabase;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::App;
use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};

on_both_backends!(
    a_forgotten_customer_is_erased_everywhere_and_the_business_stays,
    only_an_admin_forgets_and_an_unknown_customer_is_not_found,
);

/// Personal values no other text of the test contains.
const RECIPIENT: &str = "Zoë Quartermain-Xylo";
const LINE1: &str = "Quokkaweg 77";
const LINE2: &str = "c/o Ypsilon Haus";
const POSTAL: &str = "10999";
const CITY: &str = "Vvvelstadt";
const EMAIL: &str = "zoe.qx@example.org";
const PHONE: &str = "+4930999111";

const PERSONAL: [&str; 7] = [RECIPIENT, LINE1, LINE2, POSTAL, CITY, EMAIL, PHONE];

fn order_of(customer: &str) -> Value {
    json!({
        "customer_id": customer,
        "currency": "EUR",
        "lines": [{"sku": "SKU-A", "name": "Mug", "quantity": 2, "unit_price_minor": 1000}],
        "shipping_address": {"recipient": RECIPIENT, "line1": LINE1, "line2": LINE2,
            "postal_code": POSTAL, "city": CITY, "country": "DE"},
    })
}

/// Every text of every table, but the subject keys' (which hold no personal data in clear).
async fn every_stored_text(log: &eventlog::EventLog) -> String {
    let mut all = String::new();
    match log {
        eventlog::EventLog::Postgres(pg) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()",
            )
            .fetch_all(pg.pool())
            .await
            .unwrap();
            for table in tables {
                let rows: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT CAST(t AS text) FROM \"{table}\" t"))
                        .fetch_all(pg.pool())
                        .await
                        .unwrap();
                all.push_str(&rows.join("\n"));
            }
        }
        eventlog::EventLog::Sqlite(lite) => {
            let tables: Vec<String> =
                sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .fetch_all(lite.readers())
                    .await
                    .unwrap();
            for table in tables {
                let columns: Vec<String> =
                    sqlx::query_scalar(&format!("SELECT name FROM pragma_table_info('{table}')"))
                        .fetch_all(lite.readers())
                        .await
                        .unwrap();
                for column in columns {
                    let values: Vec<Option<Vec<u8>>> = sqlx::query_scalar(&format!(
                        "SELECT CAST(\"{column}\" AS BLOB) FROM \"{table}\""
                    ))
                    .fetch_all(lite.readers())
                    .await
                    .unwrap();
                    for value in values.into_iter().flatten() {
                        all.push_str(&String::from_utf8_lossy(&value));
                        all.push('\n');
                    }
                }
            }
        }
    }
    all
}

/// The texts one query answers, in each backend's SQL.
async fn texts(log: &eventlog::EventLog, postgres: &str, sqlite: &str) -> Vec<String> {
    match log {
        eventlog::EventLog::Postgres(pg) => sqlx::query_scalar(postgres)
            .fetch_all(pg.pool())
            .await
            .unwrap(),
        eventlog::EventLog::Sqlite(lite) => sqlx::query_scalar(sqlite)
            .fetch_all(lite.readers())
            .await
            .unwrap(),
    }
}

fn holds_personal(text: &str) -> Vec<&'static str> {
    let escaped = |v: &str| {
        Value::String(v.to_owned())
            .to_string()
            .trim_matches('"')
            .to_owned()
    };
    PERSONAL
        .into_iter()
        .filter(|v| text.contains(v) || text.contains(&escaped(v)))
        .collect()
}

async fn a_forgotten_customer_is_erased_everywhere_and_the_business_stays(app: App) {
    let customer = uuid::Uuid::now_v7().to_string();
    let placed = app
        .request(Role::Operator, Method::POST, "/api/v1/orders")
        .header("Idempotency-Key", "place-the-order-once")
        .json(&order_of(&customer))
        .send()
        .await
        .unwrap();
    assert_eq!(placed.status(), StatusCode::CREATED);
    let placed: Value = placed.json().await.unwrap();
    let order = placed["id"].as_str().unwrap().to_owned();
    let contact = json!({"type": "contact.updated", "timestamp": "2026-03-01T10:00:00Z",
        "data": {"customer_id": customer, "name": RECIPIENT, "email": EMAIL, "phone": PHONE}});
    assert_eq!(
        app.crm_delivery("msg_contact_zoe", &contact).await,
        StatusCode::ACCEPTED
    );
    let contact_path = format!("/api/v1/customers/{customer}");
    app.eventually(&contact_path, |found| found["email"] == EMAIL)
        .await;
    // Another customer, with a contact of her own: untouched by the forget.
    let other = uuid::Uuid::now_v7().to_string();
    let mut other_order = order_of(&other);
    other_order["shipping_address"] =
        json!({"recipient": "Bea Other", "line1": "Rua 2", "city": "Porto", "country": "PT"});
    let (status, other_placed) = app
        .post(Role::Operator, "/api/v1/orders", other_order)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{other_placed}");
    let other_contact = json!({"type": "contact.updated", "timestamp": "2026-03-01T10:00:00Z",
        "data": {"customer_id": other, "name": "Bea Other", "email": "bea@example.org",
                 "phone": null}});
    assert_eq!(
        app.crm_delivery("msg_contact_bea", &other_contact).await,
        StatusCode::ACCEPTED
    );
    let other_contact_path = format!("/api/v1/customers/{other}");
    app.eventually(&other_contact_path, |found| {
        found["email"] == "bea@example.org"
    })
    .await;
    // Paid and shipped: the payment and the shipment must keep their amounts and states.
    let (status, payment) = app
        .post(Role::Operator, "/api/v1/payments", json!({"order_id": order, "amount_minor": 2000, "currency": "EUR", "provider": "stripe"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{payment}");
    let payment_path = format!("/api/v1/payments/{}", payment["id"].as_str().unwrap());
    let (status, captured) = app
        .post(
            Role::Finance,
            &format!("{payment_path}/capture"),
            json!({"amount_minor": 2000, "reference": "ch_zoe"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{captured}");
    let (status, shipment) = app
        .post(
            Role::Operator,
            &format!("/api/v1/orders/{order}/shipments"),
            json!({"carrier": "dhl", "lines": [{"sku": "SKU-A", "quantity": 2}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{shipment}");
    let shipment_path = format!("/api/v1/shipments/{}", shipment["id"].as_str().unwrap());
    let order_path = format!("/api/v1/orders/{order}");
    let before = app
        .eventually(&order_path, |o| o["payment_status"] == "paid")
        .await;
    let payment_before = app
        .eventually(&payment_path, |p| p["status"].is_string())
        .await;
    let shipment_before = app
        .eventually(&shipment_path, |s| s["status"].is_string())
        .await;

    // Sealed from the start: the log itself never held the address in clear ...
    let placed_row =
        format!("FROM events WHERE event_type = 'OrderPlaced' AND aggregate_id = '{order}'");
    let stored = texts(
        &app.log,
        &format!("SELECT payload::text {placed_row}"),
        &format!("SELECT payload {placed_row}"),
    )
    .await;
    assert_eq!(stored.len(), 1);
    assert!(holds_personal(&stored[0]).is_empty(), "{}", stored[0]);
    assert!(stored[0].contains("$personal"), "{}", stored[0]);
    // ... nor the CRM's copy of the contact.
    let contact_row = texts(
        &app.log,
        &format!("SELECT CAST(c AS text) FROM crm_customers c WHERE customer_id = '{customer}'"),
        &format!("SELECT name || email || coalesce(phone, '') FROM crm_customers WHERE customer_id = '{customer}'"),
    )
    .await;
    assert_eq!(contact_row.len(), 1);
    assert!(
        holds_personal(&contact_row[0]).is_empty(),
        "{}",
        contact_row[0]
    );
    assert!(contact_row[0].contains("$sealed:"), "{}", contact_row[0]);
    // ... while its readers see it, the auditor included.
    let history_path = format!("/api/v1/audit/streams/order/{order}");
    let (status, history) = app.get(Role::Auditor, &history_path).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let address = &history[0]["payload"]["shipping_address"];
    assert_eq!(address["recipient"], RECIPIENT, "{history}");
    assert_eq!(address["line2"], LINE2, "{history}");

    let (status, forgotten) = app
        .post(
            Role::Admin,
            &format!("/api/v1/admin/customers/{customer}/forget"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{forgotten}");
    assert_eq!(forgotten["customer_id"], customer.as_str());
    assert_eq!(forgotten["keys_destroyed"], 1, "{forgotten}");
    // The CRM delivery that carried the contact, and the contact row.
    assert!(
        forgotten["copies_erased"].as_u64().unwrap() >= 2,
        "{forgotten}"
    );

    // The other customer keeps everything: her contact, and her address.
    let (_, other_after) = app.get(Role::Operator, &other_contact_path).await;
    assert_eq!(other_after["email"], "bea@example.org", "{other_after}");
    let other_history = format!(
        "/api/v1/audit/streams/order/{}",
        other_placed["id"].as_str().unwrap()
    );
    let (_, other_events) = app.get(Role::Auditor, &other_history).await;
    let other_address = &other_events[0]["payload"]["shipping_address"];
    assert_eq!(other_address["recipient"], "Bea Other", "{other_events}");
    assert_eq!(other_address["city"], "Porto", "{other_events}");

    // The audit trail: the order's history keeps every event, amount and time; the address
    // reads as erased but for its country.
    let (_, after) = app.get(Role::Auditor, &history_path).await;
    assert_eq!(
        after.as_array().unwrap().len(),
        history.as_array().unwrap().len()
    );
    let address = &after[0]["payload"]["shipping_address"];
    for field in ["recipient", "line1", "line2", "postal_code", "city"] {
        assert_eq!(address[field], "[erased]", "{field}: {after}");
    }
    assert_eq!(address["country"], "DE");
    assert_eq!(after[0]["payload"]["total"], history[0]["payload"]["total"]);
    assert_eq!(after[0]["recorded_at"], history[0]["recorded_at"]);
    // The order read model keeps its state and amounts.
    let (_, order_after) = app.get(Role::Operator, &order_path).await;
    for field in [
        "status",
        "payment_status",
        "total_minor",
        "paid_minor",
        "currency",
        "placed_at",
    ] {
        assert_eq!(order_after[field], before[field], "{field}");
    }
    let (_, payment_after) = app.get(Role::Operator, &payment_path).await;
    assert_eq!(payment_after, payment_before);
    let (_, shipment_after) = app.get(Role::Operator, &shipment_path).await;
    assert_eq!(shipment_after, shipment_before);
    // The CRM's copy reads as erased.
    let (status, contact_after) = app.get(Role::Operator, &contact_path).await;
    assert_eq!(status, StatusCode::OK, "{contact_after}");
    assert_eq!(contact_after["email"], "[erased]");
    assert!(contact_after["phone"].is_null(), "{contact_after}");
    // The forget is in the audit trail: who and when, not what.
    let (_, trail) = app
        .get(
            Role::Auditor,
            &format!("/api/v1/audit/streams/customer/{customer}"),
        )
        .await;
    let event = &trail[0];
    assert_eq!(event["event_type"], "CustomerForgotten", "{trail}");
    assert_eq!(event["metadata"]["actor"], "user:admin", "{trail}");
    assert_eq!(event["payload"], json!({"customer_id": customer}));
    assert!(holds_personal(&trail.to_string()).is_empty());

    // Every answer the API gives about the customer, and every stored text, holds none of it.
    for path in [
        &history_path,
        &contact_path,
        &order_path,
        &payment_path,
        &shipment_path,
        &"/api/v1/audit/events?limit=500".to_owned(),
    ] {
        let (_, body) = app.get(Role::Admin, path).await;
        assert!(
            holds_personal(&body.to_string()).is_empty(),
            "{path}: {body}"
        );
    }
    let replayed = app
        .request(Role::Operator, Method::POST, "/api/v1/orders")
        .header("Idempotency-Key", "place-the-order-once")
        .json(&order_of(&customer))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(holds_personal(&replayed).is_empty(), "{replayed}");
    let left = every_stored_text(&app.log).await;
    assert!(
        holds_personal(&left).is_empty(),
        "left in clear: {:?}",
        holds_personal(&left)
    );

    // A rebuild of every read model from the log brings none of it back.
    projections::rebuild(&app.log, &projections::ReadModel::ALL, &Default::default())
        .await
        .unwrap();
    let left = every_stored_text(&app.log).await;
    assert!(
        holds_personal(&left).is_empty(),
        "after a rebuild: {:?}",
        holds_personal(&left)
    );
    let (_, order_rebuilt) = app.get(Role::Operator, &order_path).await;
    assert_eq!(order_rebuilt["total_minor"], before["total_minor"]);
    assert_eq!(order_rebuilt["status"], before["status"]);
}

async fn only_an_admin_forgets_and_an_unknown_customer_is_not_found(app: App) {
    let customer = uuid::Uuid::now_v7().to_string();
    let (status, _) = app
        .post(Role::Operator, "/api/v1/orders", order_of(&customer))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let path = format!("/api/v1/admin/customers/{customer}/forget");
    for role in [Role::Operator, Role::Finance, Role::Auditor, Role::Viewer] {
        let (status, refused) = app.post(role, &path, json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {refused}");
    }
    let unknown = uuid::Uuid::now_v7();
    let (status, problem) = app
        .post(
            Role::Admin,
            &format!("/api/v1/admin/customers/{unknown}/forget"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    let (status, problem) = app
        .post(
            Role::Admin,
            "/api/v1/admin/customers/not-a-uuid/forget",
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{problem}");
    // Twice: the second finds no key left, and is recorded too.
    let (status, first) = app.post(Role::Admin, &path, json!({})).await;
    assert_eq!(
        (status, &first["keys_destroyed"]),
        (StatusCode::OK, &json!(1)),
        "{first}"
    );
    let (status, second) = app.post(Role::Admin, &path, json!({})).await;
    assert_eq!(
        (status, &second["keys_destroyed"]),
        (StatusCode::OK, &json!(0)),
        "{second}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgresql_an_export_after_the_forget_carries_the_erased_fields() {
    an_export_after_the_forget_carries_the_erased_fields(TestDatabase::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_sqlite_an_export_after_the_forget_carries_the_erased_fields() {
    an_export_after_the_forget_carries_the_erased_fields(TestDatabase::sqlite()).await;
}

/// The ERP refuses the sales order until the customer is forgotten; retried afterwards, the
/// export carries the address as erased, and the amounts as they were.
async fn an_export_after_the_forget_carries_the_erased_fields(db: TestDatabase) {
    let erp = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400).set_body_string("unknown sku"))
        .mount(&erp)
        .await;
    let outbound = serde_json::from_value(json!({"erp": {
        "base_url": erp.uri(), "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "limits": {"attempts": 2, "backoff_base_ms": 5, "backoff_max_ms": 10},
    }}))
    .unwrap();
    let app = App::start_sending(db, eventlog::SubscriptionOptions::default(), outbound).await;
    let customer = uuid::Uuid::now_v7().to_string();
    let (status, placed) = app
        .post(Role::Operator, "/api/v1/orders", order_of(&customer))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    let messages = app
        .eventually("/api/v1/admin/integrations/erp/messages", |body| {
            body.as_array()
                .is_some_and(|m| m.iter().any(|m| m["state"] == "parked"))
        })
        .await;
    let event_id = messages[0]["event_id"].as_str().unwrap().to_owned();
    // Before the forget, the export carried the address (the ERP's copy is the ERP's to erase).
    let sales_orders = |requests: Vec<wiremock::Request>| -> Vec<Value> {
        requests
            .into_iter()
            .filter(|r| r.url.path() == "/sales-orders")
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    };
    let refused = sales_orders(erp.received_requests().await.unwrap());
    assert_eq!(
        refused[0]["data"]["shipping_address"]["recipient"], RECIPIENT,
        "{refused:?}"
    );

    let (status, forgotten) = app
        .post(
            Role::Admin,
            &format!("/api/v1/admin/customers/{customer}/forget"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{forgotten}");
    erp.reset().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(201))
        .mount(&erp)
        .await;
    let retry = format!("/api/v1/admin/integrations/erp/messages/{event_id}/retry");
    let (status, body) = app.post(Role::Operator, &retry, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let sent = loop {
        let received = sales_orders(erp.received_requests().await.unwrap());
        if let Some(request) = received.into_iter().next() {
            break request;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the retried export never arrived"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(holds_personal(&sent.to_string()).is_empty(), "{sent}");
    let address = &sent["data"]["shipping_address"];
    assert_eq!(address["recipient"], "[erased]", "{sent}");
    assert_eq!(address["city"], "[erased]", "{sent}");
    assert_eq!(address["country"], "DE", "{sent}");
    assert_eq!(sent["data"]["total_minor"], 2000, "{sent}");
}
