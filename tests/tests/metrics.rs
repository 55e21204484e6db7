//! The metrics address, scraped as Prometheus would while orders are placed, paid, shipped and
//! cancelled and webhooks arrive: every family of `docs/operations.md` is there with its
//! labels, and each figure moves by what was done. Both backends, one after the other in one
//! test: the process's counters are shared, so each step is measured as a difference.
#![allow(clippy::unwrap_used)]

mod support;

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use api::auth::Role;
use reqwest::StatusCode;
use serde_json::json;
use support::{new_order, App};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn figures_move_by_what_is_done_on_both_backends() {
    figures_move(App::sqlite().await).await;
    figures_move(App::postgres().await).await;
}

async fn figures_move(app: App) {
    let url = app.serve_metrics().await;
    let before = scrape(&app, &url).await;

    // Two orders placed and paid; one shipped, the other cancelled (and so refunded).
    let mut orders = Vec::new();
    for reference in ["ch_metrics_1", "ch_metrics_2"] {
        orders.push(app.paid_order(reference).await.0);
    }
    let (status, allocated) = app
        .post(Role::Operator, &format!("/api/v1/orders/{}/shipments", orders[0]), json!({"carrier": "dhl", "lines": [{"sku": "SKU-A", "quantity": 2}, {"sku": "SKU-B", "quantity": 1}]}))
        .await;
    assert_eq!(status, StatusCode::OK, "{allocated}");
    let shipment = allocated["id"].as_str().unwrap().to_owned();
    app.eventually(&format!("/api/v1/shipments/{shipment}"), |s| {
        s["status"] == "pending"
    })
    .await;
    let (status, dispatched) = app
        .post(
            Role::Operator,
            &format!("/api/v1/shipments/{shipment}/dispatch"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{dispatched}");
    let (status, cancelled) = app
        .post(
            Role::Operator,
            &format!("/api/v1/orders/{}/cancel", orders[1]),
            json!({"reason": "customer asked"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    // A payment in a currency the order is not in: the order refuses it.
    let (status, refused) = app
        .post(Role::Operator, "/api/v1/payments", json!({"order_id": orders[0], "amount_minor": 100, "currency": "USD", "provider": "stripe"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");

    // A third order whose payment Stripe declines.
    let (_, placed) = app
        .post(Role::Operator, "/api/v1/orders", new_order())
        .await;
    let (status, declined) = app
        .post(Role::Operator, "/api/v1/payments", json!({"order_id": placed["id"], "amount_minor": 2500, "currency": "EUR", "provider": "stripe"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{declined}");
    let mut failed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            "../adapters/tests/fixtures/webhooks/stripe/evt_payment_intent.payment_failed.json",
        )
        .unwrap(),
    )
    .unwrap();
    failed["id"] = json!("evt_metrics_declined");
    failed["data"]["object"]["metadata"] = json!({"payment_id": declined["id"]});
    assert_eq!(app.stripe_delivery(&failed).await, StatusCode::ACCEPTED);

    // A webhook as Stripe sends it, and one whose signature does not verify.
    let event = json!({"id": "evt_metrics_1", "object": "event", "type": "customer.created", "created": 1_700_000_000, "data": {"object": {}}});
    assert_eq!(app.stripe_delivery(&event).await, StatusCode::ACCEPTED);
    let forged = app
        .client
        .post(format!("{}/webhooks/stripe", app.base))
        .header("content-type", "application/json")
        .header("stripe-signature", "t=1700000000,v1=00")
        .body(event.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);

    // The read models' figures follow the projections: wait until the refund is there, and
    // counted (a projection may show the refund before its process manager counts it).
    let refunds = [("command", "request_refund"), ("outcome", "ok")];
    let after = eventually_scraped(&app, &url, |m| {
        m.sum(
            "backoffice_payments_refunded_minor_total",
            &[("currency", "EUR")],
        ) == 2500.0
            && m.sum("backoffice_commands_total", &refunds)
                > before.sum("backoffice_commands_total", &refunds)
            && m.sum("backoffice_shipments_dispatched_total", &[]) == 1.0
            && m.sum(
                "backoffice_payment_failures_total",
                &[("provider", "stripe")],
            ) == 1.0
    })
    .await;
    let moved =
        |name: &str, labels: &[(&str, &str)]| after.sum(name, labels) - before.sum(name, labels);

    // Business figures, from the read models of this app's database.
    assert_eq!(after.sum("backoffice_orders_placed_total", &[]), 3.0);
    assert_eq!(after.sum("backoffice_orders_cancelled_total", &[]), 1.0);
    assert_eq!(
        after.sum(
            "backoffice_payments_captured_minor_total",
            &[("currency", "EUR")]
        ),
        5000.0
    );
    assert_eq!(after.sum("backoffice_shipments_delivered_total", &[]), 0.0);
    assert_eq!(moved("backoffice_order_dispatch_seconds_count", &[]), 1.0);
    assert!(after.has(
        "backoffice_order_dispatch_seconds_bucket",
        &[("le", "86400")]
    ));
    for kind in ["refused_step", "parked_step", "waiting_step"] {
        assert_eq!(
            after.sum("backoffice_attention_open", &[("kind", kind)]),
            0.0,
            "{kind}"
        );
    }
    let declined_as = after.series("backoffice_payment_failures_total");
    assert!(
        declined_as.iter().any(|s| s.contains("code=\"card_declined\"") || s.contains("code=\"generic_decline\"")),
        "{declined_as:?}"
    );

    // Requests by route template, method and status class; commands by outcome.
    assert_eq!(
        moved(
            "backoffice_http_requests_total",
            &[
                ("route", "/api/v1/orders"),
                ("method", "POST"),
                ("status", "2xx")
            ]
        ),
        3.0
    );
    assert_eq!(
        moved(
            "backoffice_http_requests_total",
            &[
                ("route", "/api/v1/payments"),
                ("method", "POST"),
                ("status", "4xx")
            ]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "backoffice_http_requests_total",
            &[("route", "/api/v1/orders/{id}/cancel"), ("status", "2xx")]
        ),
        1.0
    );
    assert!(
        moved(
            "backoffice_http_request_duration_seconds_count",
            &[("route", "/api/v1/orders"), ("method", "POST")]
        ) >= 2.0
    );
    assert_eq!(
        moved(
            "backoffice_commands_total",
            &[
                ("aggregate", "order"),
                ("command", "place_order"),
                ("outcome", "ok")
            ]
        ),
        3.0
    );
    assert_eq!(
        moved(
            "backoffice_commands_total",
            &[
                ("aggregate", "order"),
                ("command", "cancel_order"),
                ("outcome", "ok")
            ]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "backoffice_commands_total",
            &[("aggregate", "payment"), ("outcome", "refused")]
        ),
        1.0
    );
    // The refund the cancellation caused, decided by its process manager.
    assert!(
        moved(
            "backoffice_commands_total",
            &[
                ("aggregate", "payment"),
                ("command", "request_refund"),
                ("outcome", "ok")
            ]
        ) >= 1.0,
        "{:?}",
        after.series("backoffice_commands_total")
    );
    assert!(
        moved(
            "backoffice_command_duration_seconds_count",
            &[("aggregate", "order")]
        ) >= 3.0
    );
    assert!(moved("backoffice_append_events_count", &[]) >= 7.0);
    assert!(moved("backoffice_append_duration_seconds_count", &[]) >= 7.0);
    assert!(
        after.has("backoffice_group_commit_appends_count", &[])
            || app.log.backend() == eventlog::Backend::Sqlite
    );

    // The inbox: one stored, one refused for its signature.
    assert_eq!(
        moved(
            "backoffice_webhook_received_total",
            &[("source", "stripe"), ("outcome", "stored")]
        ),
        2.0
    );
    assert_eq!(
        moved(
            "backoffice_webhook_received_total",
            &[("source", "stripe"), ("outcome", "refused")]
        ),
        1.0
    );
    assert_eq!(
        moved(
            "backoffice_webhook_signature_failures_total",
            &[("source", "stripe")]
        ),
        1.0
    );
    for status in [
        "pending",
        "failed",
        "dead",
        "unmatched",
        "unmatched_expired",
    ] {
        assert!(
            after.has(
                "backoffice_webhook_deliveries",
                &[("source", "stripe"), ("status", status)]
            ),
            "{status}"
        );
    }
    assert!(after.has(
        "backoffice_webhook_oldest_pending_seconds",
        &[("source", "erp")]
    ));

    // Subscribers: each projection and process manager, its position and lag.
    for subscriber in [
        "orders",
        "payments",
        "shipments",
        "process:order-cancellation",
    ] {
        assert!(
            after.sum(
                "backoffice_subscriber_position",
                &[("subscriber", subscriber)]
            ) > 0.0,
            "{subscriber}"
        );
        for family in [
            "backoffice_subscriber_lag_events",
            "backoffice_subscriber_lag_seconds",
            "backoffice_subscriber_failed",
        ] {
            assert!(
                after.has(family, &[("subscriber", subscriber)]),
                "{family} {subscriber}"
            );
        }
        for state in ["parked", "waiting", "retrying"] {
            assert!(after.has(
                "backoffice_subscriber_steps",
                &[("subscriber", subscriber), ("state", state)]
            ));
        }
        assert!(after.has(
            "backoffice_subscriber_batch_duration_seconds_count",
            &[("subscriber", subscriber)]
        ));
    }
    assert_eq!(after.sum("backoffice_storage_up", &[]), 1.0);

    // No label takes an id: no value anywhere is one of this run's orders.
    for order in &orders {
        assert!(
            !after.text.contains(order.as_str()),
            "an order id is a label value"
        );
    }
}

/// A scrape, parsed: each series' name, labels and value.
struct Scrape {
    text: String,
    series: Vec<(String, BTreeMap<String, String>, f64)>,
}

impl Scrape {
    fn parse(text: String) -> Self {
        let mut series = Vec::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let (head, value) = line.rsplit_once(' ').unwrap();
            let value: f64 = value.parse().unwrap();
            let (name, labels) = match head.split_once('{') {
                None => (head.to_owned(), BTreeMap::new()),
                Some((name, rest)) => {
                    let labels = rest
                        .trim_end_matches('}')
                        .split("\",")
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (key, value) = pair.split_once("=\"").unwrap();
                            (key.to_owned(), value.trim_end_matches('"').to_owned())
                        })
                        .collect();
                    (name.to_owned(), labels)
                }
            };
            series.push((name, labels, value));
        }
        Self { text, series }
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&str, &str)],
    ) -> impl Iterator<Item = f64> + 'a {
        self.series
            .iter()
            .filter(move |(n, l, _)| {
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(_, _, value)| *value)
    }

    /// The sum over the series of `name` that carry `labels` (0 if none).
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.matching(name, labels).sum()
    }

    /// Whether some series of `name` carries `labels`.
    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.matching(name, labels).next().is_some()
    }

    fn series(&self, name: &str) -> Vec<String> {
        self.text
            .lines()
            .filter(|l| l.starts_with(name))
            .map(str::to_owned)
            .collect()
    }
}

async fn scrape(app: &App, url: &str) -> Scrape {
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    Scrape::parse(response.text().await.unwrap())
}

async fn eventually_scraped(app: &App, url: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let scraped = scrape(app, url).await;
        if done(&scraped) {
            return scraped;
        }
        assert!(
            Instant::now() < deadline,
            "never reached:\n{}",
            scraped.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
