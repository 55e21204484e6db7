//! `backoffice serve` killed (SIGKILL) while messages are in flight to the CRM (which answers
//! slowly) and to the NATS event stream: after a restart, the messages sent again carry the
//! same idempotency keys, so that the CRM sees each effect once and JetStream holds each event
//! once. On both backends.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use eventlog::{testing::TestDatabase, EventLog};
use serde_json::json;
use support::{cli_with, serve, Folder};
use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};

const ORDERS: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sqlite_a_killed_service_resends_with_the_same_keys_and_no_effect_doubles() {
    a_killed_service_resends_with_the_same_keys_and_no_effect_doubles(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgresql_a_killed_service_resends_with_the_same_keys_and_no_effect_doubles() {
    let db = TestDatabase::postgres().await;
    a_killed_service_resends_with_the_same_keys_and_no_effect_doubles(Some(db)).await;
}

async fn eventually(within: Duration, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !done().await {
        assert!(Instant::now() < deadline, "never came to pass: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn a_killed_service_resends_with_the_same_keys_and_no_effect_doubles(
    db: Option<TestDatabase>,
) {
    let crm = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(201).set_delay(Duration::from_millis(150)))
        .mount(&crm)
        .await;
    let id = uuid::Uuid::now_v7().simple().to_string();
    let (stream, prefix) = (format!("TEST_{id}"), format!("test.{id}"));
    let crm_uri = crm.uri();
    let folder = Folder::new();
    let mut env = vec![
        ("BACKOFFICE_OUTBOUND__CRM__BASE_URL", crm_uri.as_str()),
        ("BACKOFFICE_OUTBOUND__CRM__TOKEN", "crm-token"),
        (
            "BACKOFFICE_OUTBOUND__EVENTS__NATS_URL",
            "nats://127.0.0.1:4222",
        ),
        ("BACKOFFICE_OUTBOUND__EVENTS__STREAM", stream.as_str()),
        (
            "BACKOFFICE_OUTBOUND__EVENTS__SUBJECT_PREFIX",
            prefix.as_str(),
        ),
    ];
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
    for _ in 0..ORDERS {
        let order = json!({
            "customer_id": uuid::Uuid::now_v7(), "currency": "EUR",
            "lines": [{"sku": "SKU-A", "name": "Mug", "quantity": 1, "unit_price_minor": 2500}],
            "shipping_address": {"recipient": "Ana Lima", "line1": "Hauptstrasse 1",
                                 "city": "Berlin", "country": "DE"}
        });
        let response = client
            .post(format!("http://{}/api/v1/orders", first.address))
            .bearer_auth(&token)
            .json(&order)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
    }
    // Killed while the CRM is still answering (150 ms each): some messages are in flight.
    eventually(Duration::from_secs(60), "the first CRM calls", async || {
        crm.received_requests().await.unwrap().len() >= 5
    })
    .await;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let before_restart = crm.received_requests().await.unwrap().len();
    assert!(
        before_restart < ORDERS,
        "killed in the middle: {before_restart}"
    );

    let _second = serve(&folder.0, &env);
    let keys = async || -> Vec<String> {
        crm.received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| {
                r.headers
                    .get("idempotency-key")
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    eventually(
        Duration::from_secs(120),
        "every order's activity",
        async || keys().await.into_iter().collect::<HashSet<_>>().len() == ORDERS,
    )
    .await;

    let log = match &db {
        Some(db) => db.log().await,
        None => {
            let url = format!("sqlite:{}", folder.0.join("data/backoffice.db").display());
            EventLog::connect(&url, &eventlog::ConnectOptions::default())
                .await
                .unwrap()
        }
    };
    let events = log.read_all(0, 10_000).await.unwrap();
    let placed: HashSet<String> = events
        .iter()
        .filter(|e| e.event_type == "OrderPlaced")
        .map(|e| e.event_id.to_string())
        .collect();
    let sent = keys().await;
    let distinct: HashSet<String> = sent.iter().cloned().collect();
    assert_eq!(
        distinct, placed,
        "each key is an order's event, each order's once"
    );
    println!(
        "{} CRM calls for {ORDERS} activities ({} sent again after the kill, same keys)",
        sent.len(),
        sent.len() - distinct.len()
    );

    // JetStream: each event once, whatever was published twice.
    let nats = async_nats::jetstream::new(async_nats::connect("127.0.0.1:4222").await.unwrap());
    let total = events.len() as u64;
    eventually(
        Duration::from_secs(60),
        "every event in the stream",
        async || match nats.get_stream(&stream).await {
            Ok(mut s) => s.info().await.unwrap().state.messages >= total,
            Err(_) => false,
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut info = nats.get_stream(&stream).await.unwrap();
    assert_eq!(info.info().await.unwrap().state.messages, total);
    let _ = nats.delete_stream(&stream).await;
}
