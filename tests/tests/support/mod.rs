//! The real app (router, projections, process managers) on a real socket on port 0 against a
//! database of its own, with one user per role.
#![allow(clippy::unwrap_used, dead_code)]

pub mod console;

use std::time::{Duration, Instant};

use api::auth::Role;
use eventlog::testing::TestDatabase;
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

/// Each named test function (taking an [`App`]) as a test on PostgreSQL and one on SQLite
/// (`#[macro_use] mod support;`).
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::App::postgres().await).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::App::sqlite().await).await;
                }
            )*
        }
    };
}

/// The ERP's webhook signing secret (Standard Webhooks).
pub const ERP_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The CRM's webhook signing secret (Standard Webhooks).
pub const CRM_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
/// Stripe's endpoint secret.
pub const STRIPE_SECRET: &str = "whsec_test_e2e_stripe";

/// A running app.
pub struct App {
    pub base: String,
    pub client: reqwest::Client,
    pub log: eventlog::EventLog,
    /// What the router serves from (for the metrics address).
    pub state: api::AppState,
    tokens: Vec<(Role, String)>,
    /// Stopped (dropped) before the database is dropped.
    _workers: tokio::task::JoinSet<()>,
    _db: TestDatabase,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl App {
    /// On PostgreSQL.
    pub async fn postgres() -> Self {
        Self::start(TestDatabase::postgres().await).await
    }

    /// On SQLite, the embedded default.
    pub async fn sqlite() -> Self {
        Self::start(TestDatabase::sqlite()).await
    }

    async fn start(db: TestDatabase) -> Self {
        Self::start_with(db, eventlog::SubscriptionOptions::default()).await
    }

    /// On `db`, its process managers retrying and parking their steps as `options` say.
    pub async fn start_with(db: TestDatabase, options: eventlog::SubscriptionOptions) -> Self {
        Self::start_sending(db, options, adapters::outbound::OutboundConfig::default()).await
    }

    /// As [`App::start_with`], with the outbound destinations `outbound` configures.
    pub async fn start_sending(
        db: TestDatabase,
        options: eventlog::SubscriptionOptions,
        outbound: adapters::outbound::OutboundConfig,
    ) -> Self {
        Self::start_configured(db, options, outbound, |_| {}).await
    }

    /// As [`App::start_sending`], with the rest of its state as `configure` leaves it.
    pub async fn start_configured(
        db: TestDatabase,
        options: eventlog::SubscriptionOptions,
        outbound: adapters::outbound::OutboundConfig,
        configure: impl FnOnce(&mut api::AppState),
    ) -> Self {
        let keys = api::keys::Keys::random();
        let log = db.log().await.with_vault(keys.vault());
        projections::create_tables(&log).await.unwrap();
        let secrets: adapters::inbound::WebhookSecrets = serde_json::from_value(
            json!({ "erp": ERP_SECRET, "crm": CRM_SECRET, "stripe": STRIPE_SECRET }),
        )
        .unwrap();
        let webhooks =
            adapters::inbound::WebhookState::new(log.clone(), secrets.verifiers().unwrap());
        let mut state = api::AppState::with_webhooks(log.clone(), webhooks);
        // A fresh App's projections first claim and catch up; on a busy machine that can take
        // longer than the production wait (and short of the 30 s request time-out, so that a
        // lagging read says so rather than timing out).
        state.consistency_wait = Duration::from_secs(25);
        state.process_options = options;
        state.outbound = std::sync::Arc::new(outbound);
        state.keys = std::sync::Arc::new(keys);
        configure(&mut state);
        let workers = api::spawn_workers(&state).await.unwrap();
        let mut tokens = Vec::new();
        for role in Role::ALL {
            let token = api::users::create_user(&log, role.name(), role, "cli:test")
                .await
                .unwrap();
            tokens.push((role, token));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let router = api::router(state.clone());
        let server = tokio::spawn(async move {
            let limits = api::server::Limits::default();
            api::server::serve(listener, router, limits, std::future::pending())
                .await
                .unwrap();
        });
        Self {
            base,
            client: reqwest::Client::new(),
            log,
            state,
            tokens,
            _workers: workers,
            _db: db,
            server,
        }
    }

    /// Serves this app's metrics address (with the process's recorder) on a port of its own;
    /// answers its `/metrics` URL.
    pub async fn serve_metrics(&self) -> String {
        let handle = api::metrics::install().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/metrics", listener.local_addr().unwrap());
        let router = api::metrics::router(self.state.clone(), handle);
        tokio::spawn(async move {
            let limits = api::server::Limits::default();
            api::server::serve(listener, router, limits, std::future::pending())
                .await
                .unwrap();
        });
        url
    }

    /// A placed order of 2 500 EUR with a payment requested and captured in full (the capture
    /// recorded as `reference`), once the order's read model says it is paid: its id and the
    /// payment's.
    pub async fn paid_order(&self, reference: &str) -> (String, String) {
        let (status, placed) = self
            .post(Role::Operator, "/api/v1/orders", new_order())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{placed}");
        let order = placed["id"].as_str().unwrap().to_owned();
        let (status, payment) = self
            .post(Role::Operator, "/api/v1/payments", json!({"order_id": order, "amount_minor": 2500, "currency": "EUR", "provider": "stripe"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{payment}");
        let payment = payment["id"].as_str().unwrap().to_owned();
        let (status, captured) = self
            .post(
                Role::Finance,
                &format!("/api/v1/payments/{payment}/capture"),
                json!({"amount_minor": 2500, "reference": reference}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{captured}");
        self.eventually(&format!("/api/v1/orders/{order}"), |o| {
            o["payment_status"] == "paid"
        })
        .await;
        (order, payment)
    }

    /// The token of `role`'s user (its name is the role's).
    pub fn token(&self, role: Role) -> &str {
        &self.tokens.iter().find(|(r, _)| *r == role).unwrap().1
    }

    /// A request as `role`.
    pub fn request(&self, role: Role, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token(role))
    }

    /// POSTs `body` as `role`; answers status and JSON body.
    pub async fn post(&self, role: Role, path: &str, body: Value) -> (StatusCode, Value) {
        read(
            self.request(role, Method::POST, path)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// GETs as `role`.
    pub async fn get(&self, role: Role, path: &str) -> (StatusCode, Value) {
        read(self.request(role, Method::GET, path).send().await.unwrap()).await
    }

    /// GETs as admin until `done` holds for the body, bounded.
    pub async fn eventually(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let (status, body) = self.get(Role::Admin, path).await;
            if status == StatusCode::OK && done(&body) {
                return body;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "never: {path} answered {status} {body}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// An audit history's events as (event type, actor) pairs, in order.
pub fn trail(history: &Value) -> Vec<(String, String)> {
    history
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event_type"].as_str().unwrap().to_owned(),
                e["metadata"]["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Status and JSON body (null if none).
pub async fn read(response: Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// An order of 2 × SKU-A at 10.00 and 1 × SKU-B at 5.00 EUR: 25.00.
pub fn new_order() -> Value {
    json!({
        "customer_id": uuid::Uuid::now_v7(),
        "currency": "EUR",
        "lines": [
            {"sku": "SKU-A", "name": "Mug", "quantity": 2, "unit_price_minor": 1000},
            {"sku": "SKU-B", "name": "Tea", "quantity": 1, "unit_price_minor": 500}
        ],
        "shipping_address": {"recipient": "Ana Lima", "line1": "Hauptstrasse 1", "city": "Berlin", "country": "DE"},
        "external_reference": "SHOP-1001"
    })
}

impl App {
    /// Sends `body` (a Stripe event) to `/webhooks/stripe` as Stripe would: signed now.
    pub async fn stripe_delivery(&self, body: &Value) -> StatusCode {
        let body = serde_json::to_vec(body).unwrap();
        let header = adapters::inbound::signature::StripeVerifier::new(STRIPE_SECRET)
            .unwrap()
            .sign(chrono::Utc::now().timestamp(), &body);
        self.client
            .post(format!("{}/webhooks/stripe", self.base))
            .header("content-type", "application/json")
            .header("stripe-signature", header)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// The handler of commands over this app's log, for reading aggregates as the log has them.
    pub fn handler(&self) -> commands::CommandHandler {
        commands::CommandHandler::new(self.log.clone())
    }

    /// Sends `body` to `/webhooks/erp` as the ERP would: signed, with message id `id`.
    pub async fn erp_delivery(&self, id: &str, body: &Value) -> StatusCode {
        self.standard_delivery("erp", ERP_SECRET, id, body).await
    }

    /// Sends `body` to `/webhooks/crm` as the CRM would: signed, with message id `id`.
    pub async fn crm_delivery(&self, id: &str, body: &Value) -> StatusCode {
        self.standard_delivery("crm", CRM_SECRET, id, body).await
    }

    /// Sends `body` to `/webhooks/{source}` signed with Standard Webhooks' scheme.
    async fn standard_delivery(
        &self,
        source: &str,
        secret: &str,
        id: &str,
        body: &Value,
    ) -> StatusCode {
        let body = serde_json::to_vec(body).unwrap();
        let now = chrono::Utc::now().timestamp();
        let signature = adapters::inbound::signature::StandardWebhooksVerifier::new(secret)
            .unwrap()
            .sign(id, now, &body);
        self.client
            .post(format!("{}/webhooks/{source}", self.base))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", now.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    }
}
