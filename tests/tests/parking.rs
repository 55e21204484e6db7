//! A step that keeps failing is parked and holds back only its own order, while a thousand
//! other orders flow through the same process manager; retried from the API once its cause is
//! fixed, it is applied once (ADR 0010). The failure is real: the database itself refuses any
//! write to the poisoned order's stream (a trigger), as a broken dependency would.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

mod support;

use std::time::{Duration, Instant};

use api::auth::Role;
use commands::{CommandHandler, CommandMeta};
use domain::{
    order::{Order, OrderCommand, OrderLine, PlaceOrder},
    payment::{Payment, PaymentCommand},
    Address, Code, CountryCode, Currency, CustomerId, ExternalRef, Money, NonEmptyText, OrderId,
    PaymentId, Quantity, Sku,
};
use eventlog::{testing::TestDatabase, Backend, EventLog, StreamId, SubscriptionOptions};
use reqwest::StatusCode;
use serde_json::json;
use support::App;

const OTHERS: usize = 1_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_step_parks_while_a_thousand_orders_flow_on_postgres() {
    poison_step_parks(TestDatabase::postgres().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_step_parks_while_a_thousand_orders_flow_on_sqlite() {
    poison_step_parks(TestDatabase::sqlite()).await;
}

fn quick() -> SubscriptionOptions {
    SubscriptionOptions {
        max_attempts: 3,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(50),
        ..SubscriptionOptions::default()
    }
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::parse("EUR").unwrap())
}

fn text(s: &str) -> NonEmptyText {
    NonEmptyText::parse(s).unwrap()
}

fn meta(key: String) -> CommandMeta {
    CommandMeta {
        idempotency_key: Some(key),
        ..CommandMeta::default()
    }
}

/// Order `order` placed and its payment of 10.00 EUR requested.
async fn placed_and_requested(handler: &CommandHandler, order: OrderId, payment: PaymentId) {
    let place = PlaceOrder {
        order_id: order,
        customer_id: CustomerId::from(uuid::Uuid::now_v7()),
        currency: Currency::parse("EUR").unwrap(),
        lines: vec![OrderLine {
            sku: Sku::parse("SKU-A").unwrap(),
            name: text("Mug"),
            quantity: Quantity::parse(1).unwrap(),
            unit_price: eur(1000),
        }],
        shipping_address: Address {
            recipient: text("Ana Lima"),
            line1: text("Hauptstrasse 1"),
            line2: None,
            postal_code: None,
            city: text("Berlin"),
            country: CountryCode::parse("DE").unwrap(),
        },
        external_reference: None,
    };
    handler
        .execute::<Order>(
            &order.to_string(),
            OrderCommand::PlaceOrder(place),
            &meta(format!("place-{order}")),
        )
        .await
        .unwrap();
    let request = PaymentCommand::RequestPayment {
        payment_id: payment,
        order_id: order,
        amount: eur(1000),
        provider: Code::parse("stripe").unwrap(),
    };
    handler
        .execute::<Payment>(&payment.to_string(), request, &meta(format!("pay-{order}")))
        .await
        .unwrap();
}

async fn capture(handler: &CommandHandler, payment: PaymentId) {
    let capture = PaymentCommand::CapturePayment {
        capture_id: ExternalRef::parse(&format!("ch-{payment}")).unwrap(),
        amount: eur(1000),
        provider_reference: None,
    };
    handler
        .execute::<Payment>(
            &payment.to_string(),
            capture,
            &meta(format!("capture-{payment}")),
        )
        .await
        .unwrap();
}

/// Makes the database refuse every write to order `order`'s stream (`true`), or stop refusing.
async fn poison(log: &EventLog, order: OrderId, on: bool) {
    let statements: Vec<String> = match (log.backend(), on) {
        (Backend::Postgres, true) => vec![
            "CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'injected fault: the order store is down'; END $$"
                .to_owned(),
            format!(
                "CREATE TRIGGER injected_fault BEFORE INSERT ON events FOR EACH ROW \
                 WHEN (NEW.aggregate_id = '{order}') EXECUTE FUNCTION injected_fault()"
            ),
        ],
        (Backend::Postgres, false) => vec!["DROP TRIGGER injected_fault ON events".to_owned()],
        (Backend::Sqlite, true) => vec![format!(
            "CREATE TRIGGER injected_fault BEFORE INSERT ON events \
             WHEN NEW.aggregate_id = '{order}' \
             BEGIN SELECT RAISE(ABORT, 'injected fault: the order store is down'); END"
        )],
        (Backend::Sqlite, false) => vec!["DROP TRIGGER injected_fault".to_owned()],
    };
    for sql in statements {
        eventlog::on_writer!(log, |pool, _time| sqlx::query(&sql)
            .execute(pool)
            .await
            .map(|_| ()))
        .unwrap();
    }
}

async fn recorded_payments(log: &EventLog, order: OrderId) -> usize {
    log.read_stream(&StreamId::new("order", order.to_string()), 1)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type == "OrderPaymentRecorded")
        .count()
}

async fn poison_step_parks(db: TestDatabase) {
    let app = App::start_with(db, quick()).await;
    let handler = app.handler();
    let poisoned = OrderId::from(uuid::Uuid::now_v7());
    let poisoned_payment = PaymentId::from(uuid::Uuid::now_v7());
    placed_and_requested(&handler, poisoned, poisoned_payment).await;
    poison(&app.log, poisoned, true).await;
    // Its capture is recorded on the payment; recording it on the order fails, every time.
    capture(&handler, poisoned_payment).await;

    let started = Instant::now();
    let others: Vec<(OrderId, PaymentId)> = (0..OTHERS)
        .map(|_| {
            (
                OrderId::from(uuid::Uuid::now_v7()),
                PaymentId::from(uuid::Uuid::now_v7()),
            )
        })
        .collect();
    let sent = others.chunks(OTHERS / 8).map(|chunk| {
        let (handler, chunk) = (handler.clone(), chunk.to_vec());
        tokio::spawn(async move {
            for (order, payment) in chunk {
                placed_and_requested(&handler, order, payment).await;
                capture(&handler, payment).await;
            }
        })
    });
    for task in futures::future::join_all(sent).await {
        task.unwrap();
    }
    println!("sent in {:?}", started.elapsed());
    // Every other order's capture flows through the same process manager.
    let deadline = Instant::now() + Duration::from_secs(120);
    for (order, _) in &others {
        while recorded_payments(&app.log, *order).await == 0 {
            assert!(
                Instant::now() < deadline,
                "order {order} never recorded its payment"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    println!(
        "{OTHERS} orders placed, paid and recorded in {:?} beside the parked step",
        started.elapsed()
    );

    // The poisoned step is parked, an attention item, holding back only its order.
    let list = app
        .eventually("/api/v1/attention?kind=parked_step", |page| {
            page["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
        })
        .await;
    let item = &list["items"][0];
    assert_eq!(item["order_id"], poisoned.to_string(), "{item}");
    assert_eq!(item["process"], "process:order-payments", "{item}");
    assert!(
        item["detail"].as_str().unwrap().contains("injected fault"),
        "{item}"
    );
    assert_eq!(recorded_payments(&app.log, poisoned).await, 0);
    let (_, ready) = app.get(Role::Admin, "/health/ready").await;
    assert_eq!(ready["checks"]["workflows"], "degraded", "{ready}");

    // Fixed, and retried from the API: applied once.
    poison(&app.log, poisoned, false).await;
    let id = item["attention_id"].as_str().unwrap();
    let (status, retried) = app
        .post(
            Role::Operator,
            &format!("/api/v1/attention/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{retried}");
    app.eventually(&format!("/api/v1/attention/{id}"), |i| {
        i["status"] == "resolved"
    })
    .await;
    assert_eq!(recorded_payments(&app.log, poisoned).await, 1);
    // Retried again, nothing more happens.
    let (status, again) = app
        .post(
            Role::Operator,
            &format!("/api/v1/attention/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(recorded_payments(&app.log, poisoned).await, 1);
    let steps = app.log.set_aside_steps(None).await.unwrap();
    assert!(steps.is_empty(), "{steps:?}");
}
