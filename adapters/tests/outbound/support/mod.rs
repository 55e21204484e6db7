//! What the outbound tests share: orders, payments and shipments made through the command
//! handler on a test database, the CRM's contact copy, and running a destination over the log
//! until something holds.
#![allow(dead_code)]

use std::time::Duration;

use adapters::outbound::{Destination, Limits, Outbound};
use commands::{CommandHandler, CommandMeta};
use domain::{
    order::{Order, OrderCommand, OrderLine, PlaceOrder},
    shipment::{CarrierStatus, Shipment, ShipmentCommand, ShipmentLine, TrackingUpdate},
    Address, Code, CountryCode, Currency, ExternalRef, Money, NonEmptyText, Quantity, Sku,
};
use eventlog::{EventLog, RecordedEvent};

/// The customer of every order here.
pub const CUSTOMER: &str = "0190e8a0-0000-7000-8000-0000000000c1";

/// The id of order `n`.
pub fn order_id(n: u32) -> String {
    format!("0190e8a0-0000-7000-8000-{n:012}")
}

/// The id of payment `n`.
pub fn payment_id(n: u32) -> String {
    format!("0190e8a0-0000-7000-8001-{n:012}")
}

/// The id of shipment `n`.
pub fn shipment_id(n: u32) -> String {
    format!("0190e8a0-0000-7000-8002-{n:012}")
}

pub fn meta(key: &str) -> CommandMeta {
    CommandMeta {
        idempotency_key: Some(key.to_owned()),
        ..CommandMeta::default()
    }
}

fn text(s: &str) -> NonEmptyText {
    NonEmptyText::parse(s).unwrap()
}

fn eur(minor: i64) -> Money {
    Money::new(minor, Currency::EUR)
}

/// Order `n`: 2 × Mug at 12.50 and 1 × Teapot at 34.99 (59.99 EUR), reference `WEB-<n>`.
pub async fn place(handler: &CommandHandler, n: u32) -> String {
    let id = order_id(n);
    let place = PlaceOrder {
        order_id: id.parse().unwrap(),
        customer_id: CUSTOMER.parse().unwrap(),
        currency: Currency::EUR,
        lines: vec![
            OrderLine {
                sku: Sku::parse("MUG").unwrap(),
                name: text("Mug"),
                quantity: Quantity::parse(2).unwrap(),
                unit_price: eur(1_250),
            },
            OrderLine {
                sku: Sku::parse("TEAPOT").unwrap(),
                name: text("Teapot"),
                quantity: Quantity::parse(1).unwrap(),
                unit_price: eur(3_499),
            },
        ],
        shipping_address: Address {
            recipient: text("Ana Lima"),
            line1: text("Hauptstrasse 1"),
            line2: None,
            postal_code: Some(text("10115")),
            city: text("Berlin"),
            country: CountryCode::parse("DE").unwrap(),
        },
        external_reference: Some(ExternalRef::parse(&format!("WEB-{n}")).unwrap()),
    };
    handler
        .execute::<Order>(
            &id,
            OrderCommand::PlaceOrder(place),
            &meta(&format!("place-{n}")),
        )
        .await
        .unwrap();
    id
}

/// Cancels order `n`.
pub async fn cancel(handler: &CommandHandler, n: u32) {
    let command = OrderCommand::CancelOrder {
        reason: text("customer changed their mind"),
    };
    handler
        .execute::<Order>(&order_id(n), command, &meta(&format!("cancel-{n}")))
        .await
        .unwrap();
}

/// How far shipment `n` of order `n` goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ShipTo {
    /// Labelled and dispatched.
    Dispatched,
    /// Then out for delivery.
    OutForDelivery,
    /// Then a failed delivery attempt.
    DeliveryFailed,
    /// Then delivered.
    Delivered,
}

/// Shipment `n` of order `n` (all its lines, by DHL, tracking `TRACK-<n>`), as far as `to`.
pub async fn ship(handler: &CommandHandler, n: u32, to: ShipTo) {
    let id = shipment_id(n);
    let lines = vec![
        ShipmentLine {
            sku: Sku::parse("MUG").unwrap(),
            quantity: Quantity::parse(2).unwrap(),
        },
        ShipmentLine {
            sku: Sku::parse("TEAPOT").unwrap(),
            quantity: Quantity::parse(1).unwrap(),
        },
    ];
    let allocate = OrderCommand::AllocateShipment {
        shipment_id: id.parse().unwrap(),
        carrier: Code::parse("dhl").unwrap(),
        lines: lines.clone(),
    };
    handler
        .execute::<Order>(&order_id(n), allocate, &meta(&format!("allocate-{n}")))
        .await
        .unwrap();
    let tracking = |status: CarrierStatus, minute: i64| {
        ShipmentCommand::RecordTrackingUpdate(TrackingUpdate {
            carrier_event_id: ExternalRef::parse(&format!("trk-{n}-{minute}")).unwrap(),
            carrier_status: status,
            occurred_at: chrono::Utc::now() + chrono::Duration::minutes(minute),
            location: None,
            description: None,
        })
    };
    let mut commands = vec![
        ShipmentCommand::CreateShipment {
            shipment_id: id.parse().unwrap(),
            order_id: order_id(n).parse().unwrap(),
            carrier: Code::parse("dhl").unwrap(),
            lines,
        },
        ShipmentCommand::RecordLabel {
            tracking_number: ExternalRef::parse(&format!("TRACK-{n}")).unwrap(),
        },
        ShipmentCommand::DispatchShipment,
    ];
    if to >= ShipTo::OutForDelivery {
        commands.push(tracking(CarrierStatus::OutForDelivery, 1));
    }
    if to >= ShipTo::DeliveryFailed {
        commands.push(ShipmentCommand::RecordDeliveryFailure {
            reason: text("nobody at home"),
        });
    }
    if to >= ShipTo::Delivered {
        commands.push(ShipmentCommand::DeliverShipment);
    }
    for (i, command) in commands.into_iter().enumerate() {
        handler
            .execute::<Shipment>(&id, command, &meta(&format!("ship-{n}-{i}")))
            .await
            .unwrap();
    }
}

/// The CRM's copy of `CUSTOMER`'s contact (named Ana Lima), as its webhooks write it.
pub async fn contact(log: &EventLog, email: &str, phone: Option<&str>) {
    contact_named(log, "Ana Lima", email, phone).await;
}

/// The CRM's copy of `CUSTOMER`'s contact under `name`.
pub async fn contact_named(log: &EventLog, name: &str, email: &str, phone: Option<&str>) {
    let sql = "INSERT INTO crm_customers \
         (customer_id, name, email, phone, updated_at, event_id, synced_at) \
         VALUES ($1, $2, $3, $4, $5, 'evt_test', $5)";
    let now = chrono::Utc::now();
    eventlog::on_writer!(log, |pool, time| sqlx::query(sql)
        .bind(CUSTOMER)
        .bind(name)
        .bind(email)
        .bind(phone)
        .bind(time(now))
        .execute(pool)
        .await
        .map(|_| ()))
    .unwrap();
}

/// Waits until readers of the whole log see everything appended so far.
pub async fn visible(log: &EventLog) {
    let last = log.last_position().await.unwrap();
    assert!(log
        .wait_until_visible(last, Duration::from_secs(30))
        .await
        .unwrap());
}

/// Every event in the log.
pub async fn events(log: &EventLog) -> Vec<RecordedEvent> {
    visible(log).await;
    log.read_all(0, 100_000).await.unwrap()
}

/// Asserts that `events` hold the attention item a partner's refusal raises (a refused step,
/// rule `refused_by_partner`), shown to a person.
pub fn shown_to_a_person(events: &[RecordedEvent]) {
    let raised = events
        .iter()
        .find(|e| e.event_type == "AttentionRaised")
        .expect("the refusal is an attention item");
    assert_eq!(raised.payload["kind"], "refused_step");
    assert_eq!(raised.payload["rule"], "refused_by_partner");
}

/// Limits for tests: no waiting between attempts beyond a few milliseconds.
pub fn quick_limits() -> Limits {
    Limits {
        timeout_ms: 5_000,
        attempts: 3,
        backoff_base_ms: 5,
        backoff_max_ms: 20,
        circuit_failures: 3,
        circuit_open_ms: 300,
        ..Limits::default()
    }
}

/// `destination` as a subscriber of `log`.
pub fn outbound<D: Destination>(log: &EventLog, destination: D, limits: Limits) -> Outbound<D> {
    Outbound::new(CommandHandler::new(log.clone()), destination, limits)
}

/// Catches `outbound` up again and again (set-aside messages come due, pauses end) until
/// `done` holds; fails after `within`.
pub async fn run_until<D: Destination>(
    log: &EventLog,
    outbound: &Outbound<D>,
    limits: &Limits,
    within: Duration,
    mut done: impl FnMut() -> bool,
) {
    let deadline = std::time::Instant::now() + within;
    let options = limits.subscription();
    visible(log).await;
    loop {
        log.catch_up(outbound, &options).await.unwrap();
        if done() {
            return;
        }
        if std::time::Instant::now() > deadline {
            let steps = log.set_aside_steps(None).await.unwrap();
            let circuits = eventlog::on_readers!(log, |pool, _time| sqlx::query_as::<
                _,
                (String, String, Option<String>),
            >(
                "SELECT destination, state, last_error FROM outbound_circuits"
            )
            .fetch_all(pool)
            .await
            .unwrap());
            panic!("never came to pass; set aside: {steps:#?}; circuits: {circuits:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

mod payments;
mod servers;

pub use payments::*;
pub use servers::*;
