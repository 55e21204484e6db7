//! Verified-and-stored webhook deliveries per second through the real router over a real
//! socket, on PostgreSQL: 16 concurrent senders, with 0 % and 50 % duplicates.
//!
//! Run: `cargo bench -p adapters` (env `BENCH_DELIVERIES`, default 20 000 per run). Each
//! delivery is a Stripe event signed with the current time; a duplicate repeats an event id
//! already sent (answered 200, not stored again). The worker does not run: this measures
//! the receiving half (read, verify, insert, answer).
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::{sync::Arc, time::Instant};

use adapters::inbound::{routes, signature::StripeVerifier, WebhookSecrets, WebhookState};
use chrono::Utc;
use eventlog::{testing::TestDatabase, ConnectOptions};

const SECRET: &str = "whsec_bench_secret";
const SENDERS: usize = 16;

fn main() {
    let deliveries: usize = std::env::var("BENCH_DELIVERIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        for duplicates in [0, 50] {
            let db = TestDatabase::postgres().await;
            let options = ConnectOptions {
                max_connections: 20,
                ..ConnectOptions::default()
            };
            let log = db.log_with(&options).await;
            let secrets: WebhookSecrets =
                serde_json::from_value(serde_json::json!({ "stripe": SECRET })).unwrap();
            let state = WebhookState::new(log, secrets.verifiers().unwrap());
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}/webhooks/stripe", listener.local_addr().unwrap());
            let server = tokio::spawn(async move {
                axum::serve(listener, routes(state)).await.unwrap();
            });
            let rate = run(&url, deliveries, duplicates).await;
            println!(
                "PostgreSQL, {SENDERS} senders, {duplicates:>2} % duplicates: \
                 {rate:>7.0} deliveries/s ({deliveries} deliveries)"
            );
            server.abort();
        }
    });
}

/// Sends `total` signed deliveries from 16 tasks; every other one repeats an earlier id when
/// `duplicates` is 50.
async fn run(url: &str, total: usize, duplicates: usize) -> f64 {
    let client = reqwest::Client::new();
    let verifier = Arc::new(StripeVerifier::new(SECRET).unwrap());
    let started = Instant::now();
    let tasks: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let (client, verifier, url) = (client.clone(), verifier.clone(), url.to_owned());
            tokio::spawn(async move {
                for n in (sender..total).step_by(SENDERS) {
                    let id = if duplicates > 0 && n % 2 == 1 { n - 1 } else { n };
                    let body = format!(
                        r#"{{"id":"evt_bench_{id}","object":"event","type":"customer.created","created":1721950000,"data":{{"object":{{"id":"cus_{id}"}}}}}}"#
                    );
                    let signature = verifier.sign(Utc::now().timestamp(), body.as_bytes());
                    let response = client
                        .post(&url)
                        .header("stripe-signature", signature)
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert!(response.status().is_success(), "{}", response.status());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}
