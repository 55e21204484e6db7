//! The ERP's catalog pulled (docs/integrations/erp.md, "Catalog pull") against an HTTP mock of
//! the ERP that serves `GET /products` and `GET /stock` as the contract says (`updated_since`
//! `>=`, cursor pages, an `ETag` per listing, `304` to a matching `If-None-Match`, our
//! signature checked), into the inbox the ERP's webhooks fill, through the worker into the
//! catalog.

use adapters::inbound::{
    catalog_pull::{CatalogRuns, ErpCatalogPull},
    pull::PullRun,
};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use eventlog::{testing::TestDatabase, EventLog};
use projections::catalog::{list_products, list_stock, ProductFilter, StockFilter};
use serde_json::{json, Value};
use wiremock::{matchers, Mock, ResponseTemplate};

use crate::support::*;

eventlog::on_both_backends!(
    a_pull_of_three_pages_makes_the_catalog_the_erps,
    an_unchanged_second_pull_sends_if_none_match_and_writes_nothing,
    the_newer_erp_time_wins_between_webhook_and_pull_either_way,
    an_erp_failure_is_recorded_with_the_run_and_shown,
);

mod erp;

use erp::{at, Erp};

fn product(sku: &str, price_minor: i64, updated_at: &str) -> Value {
    json!({"sku": sku, "name": format!("Product {sku}"), "price_minor": price_minor,
           "currency": "EUR", "active": price_minor % 2 == 0, "updated_at": updated_at})
}

fn stock(sku: &str, warehouse: Option<&str>, available: u32, updated_at: &str) -> Value {
    let mut row = json!({"sku": sku, "available": available, "updated_at": updated_at});
    if let Some(warehouse) = warehouse {
        row["warehouse"] = json!(warehouse);
    }
    row
}

/// 10 products (3 pages of 4; two changed in the same second, the newest with milliseconds)
/// and 7 stock levels (2 pages; one overall, without a warehouse).
fn catalog() -> (Vec<Value>, Vec<Value>) {
    let mut products: Vec<Value> = (0..9)
        .map(|i| {
            let second = if i == 4 { 3 } else { i };
            product(
                &format!("SKU-{i:02}"),
                1_000 + i,
                &format!("2024-07-25T10:00:{second:02}Z"),
            )
        })
        .collect();
    products.push(product("SKU-09", 1_009, "2024-07-25T10:00:09.250Z"));
    let stock = vec![
        stock("SKU-00", Some("BER-1"), 5, "2024-07-25T11:00:00Z"),
        stock("SKU-01", Some("BER-1"), 0, "2024-07-25T11:00:01Z"),
        stock("SKU-02", Some("BER-1"), 12, "2024-07-25T11:00:02Z"),
        stock("SKU-03", Some("BER-1"), 7, "2024-07-25T11:00:03Z"),
        stock("SKU-00", Some("HAM-2"), 9, "2024-07-25T11:00:04Z"),
        stock("SKU-01", Some("HAM-2"), 1, "2024-07-25T11:00:05Z"),
        stock("SKU-04", None, 40, "2024-07-25T11:00:05Z"),
    ];
    (products, stock)
}

type ProductLine = (String, String, i64, String, bool, DateTime<Utc>);
type StockLine = (String, String, i64, DateTime<Utc>);

fn product_line(row: &Value) -> ProductLine {
    (
        row["sku"].as_str().unwrap().to_owned(),
        row["name"].as_str().unwrap().to_owned(),
        row["price_minor"].as_i64().unwrap(),
        row["currency"].as_str().unwrap().to_owned(),
        row["active"].as_bool().unwrap(),
        at(row),
    )
}

fn stock_line(row: &Value) -> StockLine {
    (
        row["sku"].as_str().unwrap().to_owned(),
        row["warehouse"].as_str().unwrap_or("").to_owned(),
        row["available"].as_i64().unwrap(),
        at(row),
    )
}

/// The catalog as the back office has it, by SKU (and warehouse).
async fn our_catalog(log: &EventLog) -> (Vec<ProductLine>, Vec<StockLine>) {
    let products = list_products(log, &ProductFilter::default(), None, 200)
        .await
        .unwrap();
    let stock = list_stock(log, &StockFilter::default(), None, 200)
        .await
        .unwrap();
    assert!(products.next_cursor.is_none() && stock.next_cursor.is_none());
    let mut products: Vec<ProductLine> = products
        .items
        .into_iter()
        .map(|p| {
            (
                p.sku,
                p.name,
                p.price_minor,
                p.currency,
                p.active,
                p.updated_at,
            )
        })
        .collect();
    let mut stock: Vec<StockLine> = stock
        .items
        .into_iter()
        .map(|s| (s.sku, s.warehouse, s.available, s.updated_at))
        .collect();
    products.sort();
    stock.sort();
    (products, stock)
}

/// The mock's catalog, in the same shape.
fn erps_catalog(erp: &Erp) -> (Vec<ProductLine>, Vec<StockLine>) {
    let mut products: Vec<ProductLine> = erp.products.rows().iter().map(product_line).collect();
    let mut stock: Vec<StockLine> = erp.stock.rows().iter().map(stock_line).collect();
    products.sort();
    stock.sort();
    (products, stock)
}

fn counts(run: &PullRun) -> (i64, i64, i64, Option<&str>) {
    (
        run.fetched,
        run.stored,
        run.duplicates,
        run.error.as_deref(),
    )
}

/// Everything in the inbox and the log, to see that nothing was written.
async fn written(log: &EventLog) -> (i64, i64, i64) {
    (
        count(log, "SELECT count(*) FROM webhook_inbox").await,
        count(log, "SELECT count(*) FROM events").await,
        count(
            log,
            "SELECT count(*) FROM provider_pulls WHERE etag IS NOT NULL",
        )
        .await,
    )
}

/// The first pull of the whole catalog, applied.
async fn first_pull(app: &App, erp: &Erp, pull: &ErpCatalogPull) -> CatalogRuns {
    let runs = pull.run_once().await.unwrap();
    // Listed: every row, then, from the newest second seen, the row(s) of that second again
    // (already in the inbox).
    assert_eq!(counts(&runs.products), (11, 10, 1, None), "{runs:?}");
    assert_eq!(counts(&runs.stock), (9, 7, 2, None), "{runs:?}");
    assert_eq!(
        runs.products.next_since,
        at(&erp.products.rows()[9]).timestamp(),
        "the newest updated_at, to the second"
    );
    assert_eq!(work(app).await, 17);
    runs
}

/// The mock's 10 products in 3 pages and its 7 stock levels in 2: after one pull and the
/// worker, the catalog is exactly the mock's, each row applied from the inbox like a webhook.
async fn a_pull_of_three_pages_makes_the_catalog_the_erps(_db: &TestDatabase, log: EventLog) {
    let app = app(log).await;
    let (products, stock) = catalog();
    let erp = Erp::start(products, stock).await;
    let pull = erp.pull(&app);
    first_pull(&app, &erp, &pull).await;

    assert_eq!(our_catalog(&app.log).await, erps_catalog(&erp));
    assert_eq!(
        count(
            &app.log,
            "SELECT count(*) FROM webhook_inbox WHERE source = 'erp' AND status = 'done' \
             AND event_id LIKE 'pull:%'"
        )
        .await,
        17
    );
    let product = delivery(&app, "erp", "pull:product:SKU-09:2024-07-25T10:00:09.250Z").await;
    assert_eq!(product["event_type"], "product.updated", "{product}");
    let level = delivery(&app, "erp", "pull:stock:SKU-00@HAM-2:2024-07-25T11:00:04Z").await;
    assert_eq!(level["status"], "done", "{level}");
    assert_eq!(
        count(
            &app.log,
            "SELECT count(*) FROM erp_stock WHERE sku = 'SKU-04' AND warehouse = '' \
             AND available = 40 AND event_id = 'pull:stock:SKU-04:2024-07-25T11:00:05Z'"
        )
        .await,
        1
    );

    // The products: three pages chained by their cursors from the beginning of time, then
    // one listing from the newest second seen; no `If-None-Match` on a first pull.
    let served = erp.products.served();
    let asked: Vec<(&str, Option<&str>, u16)> = served
        .iter()
        .map(|s| (s.since.as_str(), s.cursor.as_deref(), s.status))
        .collect();
    assert_eq!(
        asked,
        [
            ("1970-01-01T00:00:00Z", None, 200),
            ("1970-01-01T00:00:00Z", Some("c4"), 200),
            ("1970-01-01T00:00:00Z", Some("c8"), 200),
            ("2024-07-25T10:00:09Z", None, 200),
        ]
    );
    assert!(served.iter().all(|s| s.if_none_match.is_none()));
    assert_eq!(erp.stock.served().len(), 3);
}

/// After a first pull, nothing changed at the ERP: the second sends the `ETag` it was given
/// for the same `updated_since` as `If-None-Match`, gets `304` and writes nothing. A change at
/// the ERP afterwards is pulled by the next.
async fn an_unchanged_second_pull_sends_if_none_match_and_writes_nothing(
    _db: &TestDatabase,
    log: EventLog,
) {
    let app = app(log).await;
    let (products, stock) = catalog();
    let erp = Erp::start(products, stock).await;
    let pull = erp.pull(&app);
    let first = first_pull(&app, &erp, &pull).await;
    let catalog_before = our_catalog(&app.log).await;
    let synced_before = count(
        &app.log,
        "SELECT count(*) FROM erp_products WHERE synced_at IS NOT NULL",
    )
    .await;
    let written_before = written(&app.log).await;
    let served_before = (erp.products.served().len(), erp.stock.served().len());

    let second = pull.run_once().await.unwrap();
    assert_eq!(counts(&second.products), (0, 0, 0, None));
    assert_eq!(counts(&second.stock), (0, 0, 0, None));
    assert_eq!(second.products.next_since, first.products.next_since);
    assert_eq!(second.stock.next_since, first.stock.next_since);
    for (list, before) in [
        (&erp.products, served_before.0),
        (&erp.stock, served_before.1),
    ] {
        let served = list.served();
        let last_listing = served[..before].last().unwrap().clone();
        assert_eq!(served.len(), before + 1, "one request: {served:?}");
        let asked = &served[before];
        assert_eq!(asked.status, 304, "{asked:?}");
        assert_eq!(asked.since, last_listing.since);
        assert!(asked.if_none_match.is_some());
        assert_eq!(asked.if_none_match, last_listing.etag);
    }
    assert_eq!(work(&app).await, 0);
    assert_eq!(our_catalog(&app.log).await, catalog_before);
    assert_eq!(
        count(
            &app.log,
            "SELECT count(*) FROM erp_products WHERE synced_at IS NOT NULL"
        )
        .await,
        synced_before
    );
    // Two more pull records, each keeping its `ETag`, and nothing else.
    let (inbox, events, etags) = written_before;
    assert_eq!(written(&app.log).await, (inbox, events, etags + 2));

    // A price changed at the ERP: the same `If-None-Match` now gets the listing, and the change
    // is pulled and applied.
    {
        let mut rows = erp.products.rows.lock().unwrap();
        rows[2]["price_minor"] = json!(4_200);
        rows[2]["updated_at"] = json!("2024-07-25T10:05:00Z");
    }
    let third = pull.run_once().await.unwrap();
    assert_eq!(third.products.stored, 1, "{third:?}");
    assert_eq!(third.products.error, None);
    let served = erp.products.served();
    assert_eq!(
        served[served_before.0 + 1].if_none_match,
        served[served_before.0].if_none_match
    );
    assert_eq!(served[served_before.0 + 1].status, 200);
    assert_eq!(work(&app).await, 1);
    assert_eq!(our_catalog(&app.log).await, erps_catalog(&erp));
}

/// A webhook of the ERP's, with message id `id`.
async fn webhook(app: &App, id: &str, event_type: &str, timestamp: &str, data: Value) {
    let body = json!({"type": event_type, "timestamp": timestamp, "data": data}).to_string();
    let (status, answer) = send(&app.router, standard("erp", id, body.as_bytes())).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
}

async fn price_and_source(log: &EventLog, sku: &str) -> (i64, String) {
    let page = list_products(
        log,
        &ProductFilter {
            sku: Some(sku.to_owned()),
            ..ProductFilter::default()
        },
        None,
        10,
    )
    .await
    .unwrap();
    let row = &page.items[0];
    (row.price_minor, row.event_id.clone())
}

/// Whichever of a webhook and a pull brings a product and its stock first, the row with the
/// newer ERP `updated_at` / `timestamp` is the one the catalog keeps.
async fn the_newer_erp_time_wins_between_webhook_and_pull_either_way(
    _db: &TestDatabase,
    log: EventLog,
) {
    let app = app(log).await;
    let (older, newer) = ("2024-07-25T10:00:00Z", "2024-07-25T12:00:00Z");
    let data = |row: &Value| {
        let mut data = row.clone();
        data.as_object_mut().unwrap().remove("updated_at");
        data
    };
    // Webhooks first: A newer than the ERP's list says, B older; the stock level newer.
    webhook(
        &app,
        "msg_a",
        "product.updated",
        newer,
        data(&product("A", 111, newer)),
    )
    .await;
    webhook(
        &app,
        "msg_b",
        "product.updated",
        older,
        data(&product("B", 222, older)),
    )
    .await;
    webhook(
        &app,
        "msg_s",
        "stock.updated",
        newer,
        data(&stock("A", Some("BER-1"), 3, newer)),
    )
    .await;
    assert_eq!(work(&app).await, 3);
    let erp = Erp::start(
        vec![
            product("A", 999, older),
            product("B", 333, newer),
            product("C", 444, newer),
            product("D", 666, older),
        ],
        vec![stock("A", Some("BER-1"), 99, older)],
    )
    .await;
    let runs = erp.pull(&app).run_once().await.unwrap();
    // A (older than the catalog's) is not even stored; B, C and D are.
    assert_eq!(runs.products.stored, 3, "{runs:?}");
    assert_eq!(runs.stock.stored, 0, "{runs:?}");
    assert_eq!(work(&app).await, 3);
    // Then webhooks: C older than what was pulled, D newer.
    webhook(
        &app,
        "msg_c",
        "product.updated",
        older,
        data(&product("C", 555, older)),
    )
    .await;
    webhook(
        &app,
        "msg_d",
        "product.updated",
        newer,
        data(&product("D", 777, newer)),
    )
    .await;
    assert_eq!(work(&app).await, 2);

    assert_eq!(
        price_and_source(&app.log, "A").await,
        (111, "msg_a".to_owned())
    );
    assert_eq!(
        price_and_source(&app.log, "B").await,
        (333, format!("pull:product:B:{newer}"))
    );
    assert_eq!(
        price_and_source(&app.log, "C").await,
        (444, format!("pull:product:C:{newer}"))
    );
    assert_eq!(
        price_and_source(&app.log, "D").await,
        (777, "msg_d".to_owned())
    );
    assert_eq!(
        count(
            &app.log,
            "SELECT available FROM erp_stock WHERE sku = 'A' AND warehouse = 'BER-1'"
        )
        .await,
        3
    );
}

/// The ERP failing (a 500, on the first page or a later one; a body that is no page; a row
/// breaking the contract): each list's run records why, what it stored before stays stored,
/// the status shows it, and the next run lists again from where it was.
async fn an_erp_failure_is_recorded_with_the_run_and_shown(_db: &TestDatabase, log: EventLog) {
    let app = app(log).await;
    let (products, stock) = catalog();
    let erp = Erp::start(products, stock).await;
    let pull = erp.pull(&app);
    let status = || async {
        adapters::outbound::status::destinations(&app.log, &["erp"], |_| true)
            .await
            .unwrap()
            .remove(0)
            .last_pull
            .unwrap()
    };

    // Products: 500 at once. Stock: its first page, then 500.
    erp.server.reset().await;
    Mock::given(matchers::path("/products"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&erp.server)
        .await;
    Mock::given(matchers::path("/stock"))
        .and(matchers::query_param("cursor", "c4"))
        .respond_with(ResponseTemplate::new(500))
        .with_priority(1)
        .mount(&erp.server)
        .await;
    Mock::given(matchers::path("/stock"))
        .respond_with(erp.stock.clone())
        .mount(&erp.server)
        .await;
    let runs = pull.run_once().await.unwrap();
    assert_eq!(
        counts(&runs.products),
        (
            0,
            0,
            0,
            Some("listing the ERP's products: the ERP answered 500 Internal Server Error")
        )
    );
    assert_eq!(
        counts(&runs.stock),
        (
            4,
            4,
            0,
            Some("listing the ERP's stock: the ERP answered 500 Internal Server Error")
        )
    );
    assert_eq!((runs.products.next_since, runs.stock.next_since), (0, 0));
    let shown = status().await;
    assert_eq!(
        (shown.source.as_str(), shown.fetched, shown.stored),
        ("erp", 4, 4)
    );
    assert_eq!(
        shown.error.as_deref(),
        Some(
            "erp.products: listing the ERP's products: the ERP answered 500 Internal Server \
             Error; erp.stock: listing the ERP's stock: the ERP answered 500 Internal Server \
             Error"
        )
    );
    assert_eq!(work(&app).await, 4);

    // Products: a row breaking the contract on the second page. Stock: no page at all.
    erp.server.reset().await;
    {
        let mut rows = erp.products.rows.lock().unwrap();
        rows[5]["price_minor"] = json!(-1);
    }
    Mock::given(matchers::path("/products"))
        .respond_with(erp.products.clone())
        .mount(&erp.server)
        .await;
    Mock::given(matchers::path("/stock"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>maintenance</html>"))
        .mount(&erp.server)
        .await;
    let runs = pull.run_once().await.unwrap();
    assert_eq!(
        (runs.products.fetched, runs.products.stored),
        (8, 5),
        "the first page, and the second up to the bad row: {runs:?}"
    );
    let error = runs.products.error.clone().unwrap();
    assert!(
        error.starts_with("a row of the ERP's products: ") && error.contains("negative"),
        "{error}"
    );
    let error = runs.stock.error.clone().unwrap();
    assert!(
        error.starts_with("listing the ERP's stock: not a page: "),
        "{error}"
    );
    assert_eq!(runs.stock.stored, 0);
    assert!(status().await.error.unwrap().contains("erp.stock: listing"));

    // The ERP mended: the next run lists everything again (from where the failed runs were),
    // storing only what it had not, and the catalog is the ERP's.
    erp.server.reset().await;
    {
        let mut rows = erp.products.rows.lock().unwrap();
        rows[5]["price_minor"] = json!(1_005);
    }
    erp.mount().await;
    let runs = pull.run_once().await.unwrap();
    assert_eq!(counts(&runs.products), (11, 5, 6, None), "{runs:?}");
    assert_eq!(counts(&runs.stock), (9, 3, 6, None), "{runs:?}");
    assert_eq!(work(&app).await, 5 + 5 + 3);
    assert_eq!(our_catalog(&app.log).await, erps_catalog(&erp));
    let shown = status().await;
    assert_eq!((shown.error, shown.stored), (None, 8));
}
