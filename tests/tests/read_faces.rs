//! The read models without commands of their own, through the real router on both backends:
//! the ERP's catalog and the CRM's contacts as their signed webhooks fill them, the daily sales
//! as orders placed and cancelled through the API make them. Content, filters, cursor pages,
//! who may read them, and the problems of a bad filter or an unknown customer.
#![allow(clippy::unwrap_used)]

#[macro_use]
mod support;

use std::collections::BTreeMap;

use api::auth::Role;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::{new_order, read, App};

on_both_backends!(
    the_catalog_lists_products_and_stock_by_key_with_filters_and_cursor_pages,
    a_customer_contact_is_read_by_id_only_by_the_roles_that_reach_customers,
    daily_sales_are_listed_by_day_and_currency_with_filters_and_cursor_pages,
    a_bad_filter_is_a_422_naming_its_parameter,
);

/// GETs `path` with `query` as `role`.
async fn get(app: &App, role: Role, path: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
    let request = app.request(role, Method::GET, path).query(query);
    read(request.send().await.unwrap()).await
}

/// Every item of the list at `path` with `query`, page by page of `limit`, following each
/// `next_cursor` to the end; asserts no page is larger than asked.
async fn every_page(app: &App, path: &str, query: &[(&str, &str)], limit: usize) -> Vec<Value> {
    let limit_text = limit.to_string();
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut params = query.to_vec();
        params.push(("limit", &limit_text));
        if let Some(cursor) = &cursor {
            params.push(("cursor", cursor));
        }
        let (status, page) = get(app, Role::Viewer, path, &params).await;
        assert_eq!(status, StatusCode::OK, "{path} {params:?}: {page}");
        let found = page["items"].as_array().unwrap();
        assert!(found.len() <= limit, "{page}");
        items.extend(found.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
}

/// The values of `field` of `items`, as text.
fn column(items: &[Value], field: &str) -> Vec<String> {
    items
        .iter()
        .map(|item| match &item[field] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// Waits until the webhook worker has finished every one of `count` deliveries of `source`.
async fn deliveries_done(app: &App, source: &str, count: usize) {
    app.eventually(
        &format!("/api/v1/admin/webhooks/deliveries?source={source}&limit=200"),
        |page| {
            let items = page["items"].as_array().unwrap();
            items.len() == count && items.iter().all(|d| d["status"] == "done")
        },
    )
    .await;
}

fn product(sku: &str, price_minor: i64, active: bool, at: &str) -> Value {
    json!({"type": "product.updated", "timestamp": at, "data": {
        "sku": sku, "name": format!("Product {sku}"), "price_minor": price_minor,
        "currency": "EUR", "active": active}})
}

fn stock(sku: &str, warehouse: Option<&str>, available: u32, at: &str) -> Value {
    json!({"type": "stock.updated", "timestamp": at, "data": {
        "sku": sku, "warehouse": warehouse, "available": available}})
}

async fn the_catalog_lists_products_and_stock_by_key_with_filters_and_cursor_pages(app: App) {
    let deliveries = [
        product("a-1", 100, true, "2026-03-01T09:00:00Z"),
        product("B-2", 200, false, "2026-03-01T09:00:00Z"),
        product("A.1", 300, true, "2026-03-01T11:00:00Z"),
        // The newer price, then an older one delivered late: the ERP's latest time wins.
        product("A-2", 450, true, "2026-03-01T12:00:00Z"),
        product("A-2", 400, true, "2026-03-01T10:00:00Z"),
        product("A-10", 500, true, "2026-03-01T08:00:00Z"),
        stock("A-2", None, 7, "2026-03-01T10:00:00Z"),
        stock("A-2", Some("BER-1"), 3, "2026-03-01T10:00:00Z"),
        stock("A-2", Some("Lager~Süd"), 4, "2026-03-01T12:00:00Z"),
        stock("A-10", Some("BER-1"), 0, "2026-03-01T10:00:00Z"),
    ];
    for (i, body) in deliveries.iter().enumerate() {
        let status = app.erp_delivery(&format!("msg_catalog_{i}"), body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    deliveries_done(&app, "erp", deliveries.len()).await;

    // Products by SKU, compared byte by byte on both backends; every field as the ERP sent it.
    let products = every_page(&app, "/api/v1/catalog/products", &[], 2).await;
    assert_eq!(
        column(&products, "sku"),
        ["A-10", "A-2", "A.1", "B-2", "a-1"]
    );
    assert_eq!(
        column(&products, "price_minor"),
        ["500", "450", "300", "200", "100"]
    );
    let a2 = &products[1];
    assert_eq!(a2["name"], "Product A-2");
    assert_eq!(a2["currency"], "EUR");
    assert_eq!(a2["active"], true);
    assert_eq!(a2["updated_at"], "2026-03-01T12:00:00.000000Z");
    assert_eq!(a2["event_id"], "msg_catalog_3");
    assert!(a2["synced_at"].is_string(), "{a2}");
    assert_eq!(products[3]["active"], false);
    let (_, all) = get(&app, Role::Viewer, "/api/v1/catalog/products", &[]).await;
    assert_eq!(all["items"].as_array().unwrap(), &products);
    assert_eq!(all["next_cursor"], Value::Null);

    let skus = |query: &'static [(&'static str, &'static str)]| {
        let app = &app;
        async move {
            let (status, page) = get(app, Role::Viewer, "/api/v1/catalog/products", query).await;
            assert_eq!(status, StatusCode::OK, "{query:?}: {page}");
            column(page["items"].as_array().unwrap(), "sku")
        }
    };
    assert_eq!(skus(&[("sku", "A.1")]).await, ["A.1"]);
    assert_eq!(skus(&[("sku", "NOT-THERE")]).await, Vec::<String>::new());
    assert_eq!(skus(&[("active", "false")]).await, ["B-2"]);
    assert_eq!(
        skus(&[("active", "true")]).await,
        ["A-10", "A-2", "A.1", "a-1"]
    );
    assert_eq!(
        skus(&[("updated_since", "2026-03-01T11:00:00Z")]).await,
        ["A-2", "A.1"]
    );

    // Stock by SKU then warehouse ('' is the overall level); a warehouse's `~` pages too.
    let levels = every_page(&app, "/api/v1/catalog/stock", &[], 1).await;
    let keys: Vec<(String, String, i64)> = levels
        .iter()
        .map(|l| {
            (
                l["sku"].as_str().unwrap().to_owned(),
                l["warehouse"].as_str().unwrap().to_owned(),
                l["available"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("A-10", "BER-1", 0),
        ("A-2", "", 7),
        ("A-2", "BER-1", 3),
        ("A-2", "Lager~Süd", 4),
    ]
    .map(|(s, w, n)| (s.to_owned(), w.to_owned(), n));
    assert_eq!(keys, expected);
    assert_eq!(levels[3]["updated_at"], "2026-03-01T12:00:00.000000Z");
    assert_eq!(levels[3]["event_id"], "msg_catalog_8");
    let warehouses = |query: &'static [(&'static str, &'static str)]| {
        let app = &app;
        async move {
            let (status, page) = get(app, Role::Viewer, "/api/v1/catalog/stock", query).await;
            assert_eq!(status, StatusCode::OK, "{query:?}: {page}");
            let items = page["items"].as_array().unwrap();
            column(items, "sku")
                .into_iter()
                .zip(column(items, "warehouse"))
                .map(|(s, w)| format!("{s}@{w}"))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        warehouses(&[("sku", "A-2")]).await,
        ["A-2@", "A-2@BER-1", "A-2@Lager~Süd"]
    );
    assert_eq!(
        warehouses(&[("warehouse", "BER-1")]).await,
        ["A-10@BER-1", "A-2@BER-1"]
    );
    assert_eq!(warehouses(&[("warehouse", "")]).await, ["A-2@"]);
    assert_eq!(
        warehouses(&[("updated_since", "2026-03-01T11:00:00Z")]).await,
        ["A-2@Lager~Süd"]
    );
    assert_eq!(
        warehouses(&[("sku", "A-10"), ("warehouse", "BER-1")]).await,
        ["A-10@BER-1"]
    );
}

async fn a_customer_contact_is_read_by_id_only_by_the_roles_that_reach_customers(app: App) {
    let customer = "0190e8a0-0000-7000-8000-0000000000c1";
    let contact = |name: &str, phone: Option<&str>, at: &str| {
        json!({"type": "contact.updated", "timestamp": at, "data": {
            "customer_id": customer, "name": name, "email": "jenny.rosen@example.com",
            "phone": phone}})
    };
    let sent = [
        contact("Jenny Rosen", Some("+4930123456"), "2026-03-01T10:00:00Z"),
        // An older contact delivered late changes nothing.
        contact("J. Rosen", None, "2026-03-01T09:00:00Z"),
    ];
    for (i, body) in sent.iter().enumerate() {
        let status = app.crm_delivery(&format!("msg_contact_{i}"), body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    }
    deliveries_done(&app, "crm", sent.len()).await;

    let path = format!("/api/v1/customers/{customer}");
    for role in [Role::Admin, Role::Operator] {
        let (status, found) = get(&app, role, &path, &[]).await;
        assert_eq!(status, StatusCode::OK, "{role}: {found}");
        assert_eq!(found["customer_id"], customer);
        assert_eq!(found["name"], "Jenny Rosen");
        assert_eq!(found["email"], "jenny.rosen@example.com");
        assert_eq!(found["phone"], "+4930123456");
        assert_eq!(found["updated_at"], "2026-03-01T10:00:00.000000Z");
        assert_eq!(found["event_id"], "msg_contact_0");
        assert!(found["synced_at"].is_string(), "{found}");
    }
    // Personal data: not for the roles that never need to reach a customer.
    for role in [Role::Finance, Role::Auditor, Role::Viewer] {
        let (status, refused) = get(&app, role, &path, &[]).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{role}: {refused}");
        assert_eq!(refused["code"], "forbidden");
        assert!(
            refused["detail"]
                .as_str()
                .unwrap()
                .contains("customers.view"),
            "{refused}"
        );
    }

    for unknown in ["0190e8a0-0000-7000-8000-0000000000c2", "nobody"] {
        let (status, missing) = get(
            &app,
            Role::Operator,
            &format!("/api/v1/customers/{unknown}"),
            &[],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(missing["code"], "not_found");
        assert_eq!(missing["detail"], format!("no customer {unknown}"));
    }
}

/// Places `order` as an operator; answers its id and the command's position.
async fn place(app: &App, order: Value) -> (String, i64) {
    let (status, placed) = app.post(Role::Operator, "/api/v1/orders", order).await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");
    (
        placed["id"].as_str().unwrap().to_owned(),
        placed["position"].as_i64().unwrap(),
    )
}

async fn daily_sales_are_listed_by_day_and_currency_with_filters_and_cursor_pages(app: App) {
    let in_currency = |currency: &str| {
        let mut order = new_order();
        order["currency"] = json!(currency);
        order
    };
    let (cancelled, _) = place(&app, new_order()).await;
    place(&app, new_order()).await;
    place(&app, in_currency("USD")).await;
    place(&app, in_currency("GBP")).await;
    let (status, cancel) = app
        .post(
            Role::Operator,
            &format!("/api/v1/orders/{cancelled}/cancel"),
            json!({"reason": "customer asked"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancel}");
    let position = cancel["position"].as_i64().unwrap().to_string();

    // What the figures must say, from the orders as placed and cancelled (each counts on its
    // own UTC day, should the test run across midnight).
    let (_, orders) = get(
        &app,
        Role::Viewer,
        "/api/v1/orders",
        &[("min_position", &position)],
    )
    .await;
    let mut expected: BTreeMap<(String, String), (i64, i64, i64)> = BTreeMap::new();
    for order in orders["items"].as_array().unwrap() {
        let day = |at: &Value| at.as_str().unwrap()[..10].to_owned();
        let currency = order["currency"].as_str().unwrap().to_owned();
        let placed = expected
            .entry((day(&order["placed_at"]), currency.clone()))
            .or_default();
        placed.0 += 1;
        placed.2 += order["total_minor"].as_i64().unwrap();
        if order["status"] == "cancelled" {
            expected
                .entry((day(&order["updated_at"]), currency))
                .or_default()
                .1 += 1;
        }
    }
    let expected: Vec<Value> = expected
        .into_iter()
        .map(|((day, currency), (placed, cancelled, gross))| {
            json!({"day": day, "currency": currency, "orders_placed": placed,
                "orders_cancelled": cancelled, "gross_minor": gross, "refunded_minor": 0,
                "net_minor": gross})
        })
        .collect();
    assert!(expected.len() >= 3, "{expected:?}");

    // Read after the cancel: `min_position` waits for the projection to include it.
    let rows = every_page(
        &app,
        "/api/v1/reports/daily-sales",
        &[("min_position", &position)],
        1,
    )
    .await;
    let figures: Vec<Value> = rows
        .iter()
        .map(|row| {
            assert!(row["through_position"].as_i64().unwrap() > 0, "{row}");
            let mut row = row.clone();
            row.as_object_mut().unwrap().remove("through_position");
            row
        })
        .collect();
    assert_eq!(figures, expected);
    assert_eq!(column(&rows, "currency"), ["EUR", "GBP", "USD"]);

    let days = |query: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (status, page) =
                get(app, Role::Viewer, "/api/v1/reports/daily-sales", &query).await;
            assert_eq!(status, StatusCode::OK, "{query:?}: {page}");
            let items = page["items"].as_array().unwrap();
            column(items, "day")
                .into_iter()
                .zip(column(items, "currency"))
                .map(|(d, c)| format!("{d} {c}"))
                .collect::<Vec<_>>()
        }
    };
    let day = rows[0]["day"].as_str().unwrap().to_owned();
    let next_day = (chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d").unwrap()
        + chrono::Days::new(1))
    .format("%Y-%m-%d")
    .to_string();
    let all: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["day"].as_str().unwrap(),
                r["currency"].as_str().unwrap()
            )
        })
        .collect();
    let (on_day, later): (Vec<String>, Vec<String>) =
        all.iter().cloned().partition(|r| r.starts_with(&day));
    assert_eq!(
        days(vec![("currency", "USD".into())]).await,
        [format!("{day} USD")]
    );
    assert_eq!(days(vec![("from", day.clone())]).await, all);
    assert_eq!(
        days(vec![("from", day.clone()), ("to", day.clone())]).await,
        on_day
    );
    assert_eq!(days(vec![("from", next_day.clone())]).await, later);
    assert_eq!(
        days(vec![("to", "2000-01-01".into())]).await,
        Vec::<String>::new()
    );
    // A range that ends before it starts holds no day.
    assert_eq!(
        days(vec![("from", next_day), ("to", day)]).await,
        Vec::<String>::new()
    );
}

async fn a_bad_filter_is_a_422_naming_its_parameter(app: App) {
    let cases: &[(&str, &str, &str)] = &[
        ("/api/v1/catalog/products", "limit", "0"),
        ("/api/v1/catalog/products", "limit", "201"),
        ("/api/v1/catalog/products", "sku", "not a sku"),
        ("/api/v1/catalog/products", "active", "maybe"),
        ("/api/v1/catalog/products", "updated_since", "yesterday"),
        ("/api/v1/catalog/products", "cursor", "A-1~extra"),
        ("/api/v1/catalog/stock", "sku", "SKU 1"),
        ("/api/v1/catalog/stock", "warehouse", "BER\0"),
        ("/api/v1/catalog/stock", "cursor", "only-one-part"),
        ("/api/v1/catalog/stock", "cursor", "A-1~%zz"),
        ("/api/v1/reports/daily-sales", "from", "2026-1-5"),
        ("/api/v1/reports/daily-sales", "to", "2026-02-30"),
        ("/api/v1/reports/daily-sales", "from", "+12026-01-05"),
        ("/api/v1/reports/daily-sales", "currency", "eur"),
        ("/api/v1/reports/daily-sales", "cursor", "2026-01-05"),
        ("/api/v1/reports/daily-sales", "min_position", "-1"),
    ];
    for (path, parameter, value) in cases {
        let (status, problem) = get(&app, Role::Admin, path, &[(parameter, value)]).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}?{parameter}={value:?}: {problem}"
        );
        assert_eq!(problem["code"], "validation_failed", "{problem}");
        assert_eq!(
            problem["field"], *parameter,
            "{path}?{parameter}={value:?}: {problem}"
        );
    }
}
