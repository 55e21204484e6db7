//! Two `backoffice serve` processes on one PostgreSQL database, under command and webhook load:
//! the one that holds the subscribers is killed (SIGKILL), the other takes them over within
//! ten seconds, and afterwards no event was applied twice and none is missing: every
//! acknowledged command and delivery took effect once, and the read models equal a rebuild from
//! the log.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use eventlog::{testing::TestDatabase, EventLog};
use projections::ReadModel;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{cli_with, serve, Folder, Served};

const ERP_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Subscribers `serve` runs: five projections and four process managers.
const SUBSCRIBERS: i64 = 9;

async fn advisory_locks(log: &EventLog) -> i64 {
    let EventLog::Postgres(pg) = log else {
        unreachable!("PostgreSQL only")
    };
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_one(pg.pool())
    .await
    .unwrap()
}

/// The lowest checkpoint of the subscribers `serve` runs (0 until each has one).
async fn slowest_checkpoint(log: &EventLog) -> i64 {
    let statuses = log.subscribers().await.unwrap();
    let served: Vec<&str> = api::workers::subscriber_names().collect();
    served
        .iter()
        .map(|name| {
            statuses
                .iter()
                .find(|s| s.name == *name)
                .map_or(0, |s| s.position)
        })
        .min()
        .unwrap_or(0)
}

/// Deliveries not yet processed.
async fn undelivered(log: &EventLog) -> i64 {
    let EventLog::Postgres(pg) = log else {
        unreachable!("PostgreSQL only")
    };
    sqlx::query_scalar("SELECT count(*) FROM webhook_inbox WHERE status IN ('pending', 'failed')")
        .fetch_one(pg.pool())
        .await
        .unwrap()
}

/// What a load client was told had taken effect.
#[derive(Debug, Default)]
struct Acknowledged {
    orders: Vec<String>,
    captures: Vec<(String, String)>,
    invoices: Vec<(String, String)>,
}

struct Client {
    http: reqwest::Client,
    token: String,
}

impl Client {
    async fn post(&self, address: &str, path: &str, body: Value) -> Option<Value> {
        let response = self
            .http
            .post(format!("http://{address}{path}"))
            .bearer_auth(&self.token)
            .json(&body)
            .timeout(Duration::from_secs(30))
            .send()
            .await
            .ok()?;
        response
            .status()
            .is_success()
            .then_some(response.json().await.ok()?)
    }

    async fn invoice(&self, address: &str, order: &str, number: &str) -> bool {
        let body = serde_json::to_vec(&json!({"type": "invoice.issued",
            "timestamp": chrono::Utc::now().to_rfc3339(), "data": {
            "order_id": order, "invoice_number": number,
            "issued_at": chrono::Utc::now().to_rfc3339(), "total_minor": 2500, "currency": "EUR"}}))
        .unwrap();
        let now = chrono::Utc::now().timestamp();
        let signature = adapters::inbound::signature::StandardWebhooksVerifier::new(ERP_SECRET)
            .unwrap()
            .sign(number, now, &body);
        let sent = self
            .http
            .post(format!("http://{address}/webhooks/erp"))
            .header("content-type", "application/json")
            .header("webhook-id", number)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .timeout(Duration::from_secs(30))
            .send()
            .await;
        sent.is_ok_and(|r| r.status() == StatusCode::ACCEPTED)
    }

    /// One order: placed, a payment requested and captured, invoiced by the ERP.
    async fn one_order(&self, address: &str, n: usize, acked: &mut Acknowledged) {
        let order = json!({
            "customer_id": uuid::Uuid::now_v7(), "currency": "EUR",
            "lines": [{"sku": "SKU-A", "name": "Mug", "quantity": 1, "unit_price_minor": 2500}],
            "shipping_address": {"recipient": "Ana Lima", "line1": "Hauptstrasse 1",
                                 "city": "Berlin", "country": "DE"}
        });
        let Some(placed) = self.post(address, "/api/v1/orders", order).await else {
            return;
        };
        let order = placed["id"].as_str().unwrap().to_owned();
        acked.orders.push(order.clone());
        let request = json!({"order_id": order, "amount_minor": 2500, "currency": "EUR",
                             "provider": "stripe"});
        let Some(payment) = self.post(address, "/api/v1/payments", request).await else {
            return;
        };
        let payment = payment["id"].as_str().unwrap().to_owned();
        let captured = self
            .post(
                address,
                &format!("/api/v1/payments/{payment}/capture"),
                json!({"amount_minor": 2500}),
            )
            .await;
        if captured.is_some() {
            acked.captures.push((order.clone(), payment));
        }
        let number = format!("INV-{n}");
        if self.invoice(address, &order, &number).await {
            acked.invoices.push((order, number));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_standby_takes_over_the_subscribers_of_a_killed_process_and_nothing_is_lost_or_doubled()
{
    let db = TestDatabase::postgres().await;
    let log = db.log().await;
    let folder = Folder::new();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("BACKOFFICE_WEBHOOKS__ERP", ERP_SECRET),
    ];
    let (ok, token, err) = cli_with(
        &folder.0,
        &env,
        &["users", "create", "--name", "ops", "--role", "admin"],
    );
    assert!(ok, "{err}");
    let client = Client {
        http: reqwest::Client::new(),
        token: token.trim().to_owned(),
    };

    // A claims every subscriber; B, started after, waits.
    let mut first: Served = serve(&folder.0, &env);
    let deadline = Instant::now() + Duration::from_secs(60);
    while advisory_locks(&log).await < SUBSCRIBERS {
        assert!(Instant::now() < deadline, "the first process never claimed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let second = serve(&folder.0, &env);

    // Load on both; then the holder is killed mid-load, and the load goes on on B.
    let mut acked = Acknowledged::default();
    for n in 0..40 {
        let address = if n % 2 == 0 {
            &first.address
        } else {
            &second.address
        };
        client.one_order(address, n, &mut acked).await;
    }
    let head_at_kill = log.last_position().await.unwrap();
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let killed_at = Instant::now();
    // Watched while the load goes on: when every subscriber has handled an event appended
    // after the kill (which only B can have done).
    let watcher = {
        let log = log.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while slowest_checkpoint(&log).await <= head_at_kill {
                assert!(Instant::now() < deadline, "nobody took over");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            killed_at.elapsed()
        })
    };
    for n in 40..80 {
        client.one_order(&second.address, n, &mut acked).await;
    }
    let took_over = watcher.await.unwrap();
    println!("the standby took every subscriber over {took_over:?} after the kill");
    assert!(
        took_over < Duration::from_secs(10),
        "took over after {took_over:?}"
    );

    // Settled: every delivery processed (one claimed by the killed process waits for its
    // lease), every subscriber at the head, no step set aside.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let head = eventlog::testing::everything_visible(&log).await;
        let pending = !log.set_aside_steps(None).await.unwrap().is_empty();
        if slowest_checkpoint(&log).await >= head && !pending && undelivered(&log).await == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "never settled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Every acknowledged effect once: each capture recorded once on its order, each invoice
    // once, each order in the read model.
    assert_eq!(acked.orders.len(), 80, "every order was acknowledged");
    let handler = commands::CommandHandler::new(log.clone());
    for (order, payment) in &acked.captures {
        let history = log
            .read_stream(&eventlog::StreamId::new("order", order.clone()), 1)
            .await
            .unwrap();
        let recorded = history
            .iter()
            .filter(|e| {
                e.event_type == "OrderPaymentRecorded" && e.payload["payment_id"] == *payment
            })
            .count();
        assert_eq!(
            recorded, 1,
            "order {order}: capture recorded {recorded} times"
        );
    }
    for (order, number) in &acked.invoices {
        let (state, _) = handler.load::<domain::order::Order>(order).await.unwrap();
        let invoices = state.unwrap().invoices;
        let once = invoices.iter().filter(|i| i.as_str() == number).count();
        assert_eq!(once, 1, "order {order}: invoice {number} {once} times");
    }
    let mut listed = BTreeSet::new();
    for order in &acked.orders {
        if projections::orders::get_order(&log, order)
            .await
            .unwrap()
            .is_some()
        {
            listed.insert(order.clone());
        }
    }
    assert_eq!(
        listed.len(),
        acked.orders.len(),
        "every order is in the read model"
    );

    // The read models equal a rebuild from the log.
    let mut before = Vec::new();
    for model in ReadModel::ALL {
        before.push(projections::digest(&log, model).await.unwrap());
    }
    let (ok, _, err) = cli_with(&folder.0, &env, &["projections", "rebuild", "--all"]);
    assert!(ok, "{err}");
    for (model, before) in ReadModel::ALL.into_iter().zip(before) {
        let after = projections::digest(&log, model).await.unwrap();
        assert_eq!(after, before, "{} differs from a rebuild", model.name());
    }
    drop(second);
}
