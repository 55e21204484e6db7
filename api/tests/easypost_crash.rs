//! A label bought at EasyPost, with `backoffice serve` killed (SIGKILL) twice: while EasyPost is
//! still answering the shipment it made, and while it is still answering the purchase. EasyPost
//! has no idempotency keys; the mock below keeps its shipments as EasyPost does, so a second
//! `POST /v2/shipments` or `/buy` would show. After each restart the request finds what the
//! attempt before it did (the shipment by its `reference`, the purchase on the shipment), and
//! the label is bought once and recorded with its tracking code, label URL, carrier, service
//! and cost (the cheapest rate of the allowed carrier). On both backends.
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use eventlog::testing::TestDatabase;
use serde_json::{json, Value};
use support::{cli_with, serve, Folder};
use wiremock::{matchers::any, Mock, MockServer, Request, Respond, ResponseTemplate};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_label_is_bought_once_across_two_kills() {
    bought_once_across_two_kills(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_label_is_bought_once_across_two_kills() {
    bought_once_across_two_kills(Some(TestDatabase::postgres().await)).await;
}

/// EasyPost's shipments API as far as labels go, keeping its shipments; the first answer to a
/// create and to a buy comes late (what it did is done at once, as at EasyPost).
#[derive(Clone, Default)]
struct EasyPost {
    state: Arc<Mutex<Shipments>>,
}

#[derive(Default)]
struct Shipments {
    all: Vec<Value>,
    creates: usize,
    buys: usize,
}

const LATE: Duration = Duration::from_secs(4);

fn rates(shipment: &str) -> Value {
    json!([
        {"id": format!("rate_{shipment}_ups"), "object": "Rate", "carrier": "UPS",
         "service": "Ground", "rate": "3.99", "currency": "USD", "shipment_id": shipment},
        {"id": format!("rate_{shipment}_prio"), "object": "Rate", "carrier": "USPS",
         "service": "Priority", "rate": "7.58", "currency": "USD", "shipment_id": shipment},
        {"id": format!("rate_{shipment}_ground"), "object": "Rate", "carrier": "USPS",
         "service": "GroundAdvantage", "rate": "5.49", "currency": "USD", "shipment_id": shipment},
    ])
}

impl Respond for EasyPost {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.state.lock().unwrap();
        let path = request.url.path().to_owned();
        let parts: Vec<&str> = path
            .trim_start_matches("/v2/shipments")
            .split('/')
            .collect();
        match (request.method.as_str(), parts.as_slice()) {
            ("POST", [""]) => {
                state.creates += 1;
                let body: Value = serde_json::from_slice(&request.body).unwrap();
                let id = format!("shp_{}", state.creates);
                let mut shipment = body["shipment"].clone();
                shipment["id"] = json!(id);
                shipment["object"] = json!("Shipment");
                shipment["rates"] = rates(&id);
                shipment["postage_label"] = Value::Null;
                shipment["tracking_code"] = Value::Null;
                shipment["selected_rate"] = Value::Null;
                state.all.push(shipment.clone());
                let late = if state.creates == 1 {
                    LATE
                } else {
                    Duration::ZERO
                };
                ResponseTemplate::new(201)
                    .set_body_json(shipment)
                    .set_delay(late)
            }
            ("GET", [""]) => {
                let unbought: Vec<&Value> = state
                    .all
                    .iter()
                    .filter(|s| s["postage_label"].is_null())
                    .collect();
                ResponseTemplate::new(200)
                    .set_body_json(json!({"shipments": unbought, "has_more": false}))
            }
            ("GET", ["", id]) => match state.all.iter().find(|s| s["id"] == *id) {
                Some(shipment) => ResponseTemplate::new(200).set_body_json(shipment),
                None => ResponseTemplate::new(404),
            },
            ("POST", ["", id, "buy"]) => {
                state.buys += 1;
                let buys = state.buys;
                let body: Value = serde_json::from_slice(&request.body).unwrap();
                let shipment = state.all.iter_mut().find(|s| s["id"] == *id).unwrap();
                if !shipment["postage_label"].is_null() {
                    return ResponseTemplate::new(422).set_body_json(json!({"error": {
                        "code": "SHIPMENT.POSTAGE.EXISTS", "message": "already bought"}}));
                }
                let rate = shipment["rates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["id"] == body["rate"]["id"])
                    .unwrap()
                    .clone();
                shipment["selected_rate"] = rate;
                shipment["tracking_code"] = json!("9400100000000000000001");
                shipment["postage_label"] = json!({"object": "PostageLabel",
                    "label_url": format!("https://easypost-files.test/{id}.png")});
                let late = if buys == 1 { LATE } else { Duration::ZERO };
                ResponseTemplate::new(200)
                    .set_body_json(shipment.clone())
                    .set_delay(late)
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

async fn eventually(within: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < deadline, "never came to pass: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn bought_once_across_two_kills(db: Option<TestDatabase>) {
    let easypost = EasyPost::default();
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(easypost.clone())
        .mount(&server)
        .await;
    let folder = Folder::new();
    std::fs::write(
        folder.0.join("backoffice.toml"),
        format!(
            r#"
[outbound.easypost]
base_url = "{}"
api_key = "EZTK_crash"
carriers = ["USPS"]
parcel = {{ length_in = 10, width_in = 8, height_in = 4, weight_oz = 16 }}
from_address = {{ name = "Shop Warehouse", street1 = "1 Dock Rd", city = "Austin", state = "TX", zip = "78701", country = "US" }}
limits = {{ backoff_base_ms = 200, backoff_max_ms = 1000 }}
"#,
            server.uri()
        ),
    )
    .unwrap();
    let mut env = vec![];
    if let Some(db) = &db {
        env.push(("DATABASE_URL", db.url.as_str()));
    }
    let (ok, token, stderr) = cli_with(
        &folder.0,
        &env,
        &["users", "create", "--name", "ops", "--role", "admin"],
    );
    assert!(ok, "{stderr}");
    let token = token.trim().to_owned();
    let mut first = serve(&folder.0, &env);
    let client = reqwest::Client::new();
    let base = format!("http://{}", first.address);
    let post = async |path: &str, body: Value| -> Value {
        let response = client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    };
    let order = post(
        "/api/v1/orders",
        json!({
            "customer_id": uuid::Uuid::now_v7(), "currency": "USD",
            "lines": [{"sku": "SKU-A", "name": "Mug", "quantity": 1, "unit_price_minor": 2500}],
            "shipping_address": {"recipient": "Ana Lima", "line1": "417 Montgomery St",
                                 "postal_code": "94104", "city": "San Francisco", "country": "US"}
        }),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shipment = post(
        &format!("/api/v1/orders/{order}/shipments"),
        json!({"carrier": "usps", "lines": [{"sku": "SKU-A", "quantity": 1}]}),
    )
    .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The shipment is made by the fulfillment process: wait for it, then ask for a label.
    eventually(Duration::from_secs(30), "the shipment", async || {
        let response = client
            .post(format!("{base}/api/v1/shipments/{shipment}/label"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        response.status().is_success()
    })
    .await;

    // Killed while EasyPost answers the shipment it made.
    let counts = || {
        let state = easypost.state.lock().unwrap();
        (state.creates, state.buys)
    };
    eventually(Duration::from_secs(30), "the shipment made", async || {
        counts().0 == 1
    })
    .await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();

    // Started again: the shipment is found by its reference and bought; killed while EasyPost
    // answers the purchase.
    let mut second = serve(&folder.0, &env);
    eventually(Duration::from_secs(60), "the label bought", async || {
        counts().1 == 1
    })
    .await;
    second.child.kill().unwrap();
    second.child.wait().unwrap();

    // Started again: the purchase is found on the shipment and recorded.
    let third = serve(&folder.0, &env);
    let base = format!("http://{}", third.address);
    let mut row = Value::Null;
    eventually(Duration::from_secs(60), "the label recorded", async || {
        row = client
            .get(format!("{base}/api/v1/shipments/{shipment}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        row["status"] == "label_created"
    })
    .await;
    assert_eq!(
        counts(),
        (1, 1),
        "one shipment made and one label bought at EasyPost"
    );
    assert_eq!(row["tracking_number"], "9400100000000000000001");
    assert_eq!(row["label_url"], "https://easypost-files.test/shp_1.png");
    assert_eq!(row["label_carrier"], "USPS");
    assert_eq!(
        row["label_service"], "GroundAdvantage",
        "the cheapest USPS rate"
    );
    assert_eq!(row["label_cost_minor"], 549);
    assert_eq!(row["label_currency"], "USD");
    assert_eq!(row["provider_shipment_id"], "shp_1");
    assert_eq!(row["label_pending"], false);

    // What EasyPost was asked to make: the order's address, the warehouse, the parcel, and the
    // request as its reference.
    let made = easypost.state.lock().unwrap().all[0].clone();
    assert_eq!(made["to_address"]["name"], "Ana Lima");
    assert_eq!(made["to_address"]["zip"], "94104");
    assert_eq!(made["from_address"]["street1"], "1 Dock Rd");
    assert_eq!(
        made["parcel"],
        json!({"length": 10, "width": 8, "height": 4, "weight": 16})
    );
    assert!(made["reference"].as_str().is_some_and(|r| !r.is_empty()));
}
