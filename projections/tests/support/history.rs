//! Realistic histories for tests and the rebuild benchmark: order lifecycles decided by the
//! domain's own deciders (so every event is one the system could have recorded), appended to
//! the log many streams at a time.
#![allow(clippy::unwrap_used, dead_code)]

use chrono::{DateTime, Duration, TimeZone, Utc};
use domain::{
    order::{Order, OrderCommand, OrderLine, PlaceOrder},
    payment::{Payment, PaymentCommand},
    shipment::{CarrierStatus, Shipment, ShipmentCommand, ShipmentLine, TrackingUpdate},
    Address, Code, Context, CountryCode, Currency, CustomerId, Decider, EventCodec, ExternalRef,
    Money, NonEmptyText, OrderId, PaymentId, Quantity, ShipmentId, Sku,
};
use eventlog::{Append, EventLog, ExpectedVersion, Metadata, StreamId};
use futures::{stream, StreamExt};

pub fn id(kind: u128, n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | (kind << 32) | n)
}

fn text(s: &str) -> NonEmptyText {
    NonEmptyText::parse(s).unwrap()
}

fn ext(s: &str) -> ExternalRef {
    ExternalRef::parse(s).unwrap()
}

fn money(minor: i64, currency: &str) -> Money {
    Money::new(minor, Currency::parse(currency).unwrap())
}

/// Decides `commands` in turn against the state they build, at time `at`.
fn decide<D>(commands: Vec<D::Command>, at: DateTime<Utc>) -> Vec<D::Event>
where
    D: Decider,
    D::Error: std::fmt::Debug,
{
    let ctx = Context::deterministic(at);
    let mut state = D::State::default();
    let mut events = Vec::new();
    for command in commands {
        for event in D::decide(&state, command, &ctx).unwrap() {
            D::evolve(&mut state, &event);
            events.push(event);
        }
    }
    events
}

fn append<E: EventCodec>(id: impl ToString, events: &[E]) -> Append {
    Append::new(
        StreamId::new(E::AGGREGATE_TYPE, id.to_string()),
        ExpectedVersion::NoStream,
        commands::new_events(events, &Metadata::default()),
    )
}

/// Order `n`'s lifecycle as appends of its order, payment and shipment streams: placed, paid
/// by card, shipped with a tracking update and delivered, completed. Every tenth order is
/// cancelled after payment instead, and refunded. About 15 events per order.
pub fn lifecycle(n: u128) -> Vec<Append> {
    let base = Utc.with_ymd_and_hms(2026, 11, 1, 8, 0, 0).unwrap();
    let at = base + Duration::minutes(i64::try_from(n).unwrap() * 7);
    let currency = if n.is_multiple_of(3) { "USD" } else { "EUR" };
    let (order, payment, shipment) = (
        OrderId::from(id(1, n)),
        PaymentId::from(id(2, n)),
        ShipmentId::from(id(3, n)),
    );
    let total = money(2500, currency);
    let place = OrderCommand::PlaceOrder(PlaceOrder {
        order_id: order,
        customer_id: CustomerId::from(id(4, n % 50)),
        currency: Currency::parse(currency).unwrap(),
        lines: vec![
            OrderLine {
                sku: Sku::parse("SKU-A").unwrap(),
                name: text("Mug"),
                quantity: Quantity::parse(2).unwrap(),
                unit_price: money(1000, currency),
            },
            OrderLine {
                sku: Sku::parse("SKU-B").unwrap(),
                name: text("Tea"),
                quantity: Quantity::parse(1).unwrap(),
                unit_price: money(500, currency),
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
        external_reference: Some(ext(&format!("SHOP-{n}"))),
    });
    let paid = [
        OrderCommand::RecordPaymentRequested {
            payment_id: payment,
            amount: total,
        },
        OrderCommand::RecordPayment {
            payment_id: payment,
            captured_total: total,
        },
    ];
    let mut payment_commands = vec![
        PaymentCommand::RequestPayment {
            payment_id: payment,
            order_id: order,
            amount: total,
            provider: Code::parse("stripe").unwrap(),
        },
        PaymentCommand::RecordAuthorization {
            provider_reference: ext(&format!("pi_{n}")),
            amount: total,
        },
        PaymentCommand::CapturePayment {
            capture_id: ext(&format!("ch_{n}")),
            amount: total,
            provider_reference: None,
        },
    ];
    if n.is_multiple_of(10) {
        let order_events = decide::<Order>(
            [place]
                .into_iter()
                .chain(paid)
                .chain([
                    OrderCommand::CancelOrder {
                        reason: text("changed mind"),
                    },
                    OrderCommand::RecordRefund {
                        payment_id: payment,
                        refunded_total: total,
                    },
                ])
                .collect(),
            at,
        );
        payment_commands.push(PaymentCommand::RefundPayment {
            refund_id: ext(&format!("re_{n}")),
            amount: total,
            request: None,
        });
        let payment_events = decide::<Payment>(payment_commands, at);
        return vec![
            append(order, &order_events),
            append(payment, &payment_events),
        ];
    }
    let lines = vec![
        ShipmentLine {
            sku: Sku::parse("SKU-A").unwrap(),
            quantity: Quantity::parse(2).unwrap(),
        },
        ShipmentLine {
            sku: Sku::parse("SKU-B").unwrap(),
            quantity: Quantity::parse(1).unwrap(),
        },
    ];
    let carrier = Code::parse("dhl").unwrap();
    let order_events = decide::<Order>(
        [place]
            .into_iter()
            .chain(paid)
            .chain([
                OrderCommand::AllocateShipment {
                    shipment_id: shipment,
                    carrier: carrier.clone(),
                    lines: lines.clone(),
                },
                OrderCommand::RecordShipmentDispatched {
                    shipment_id: shipment,
                },
                OrderCommand::RecordShipmentDelivered {
                    shipment_id: shipment,
                },
                OrderCommand::CompleteOrder,
            ])
            .collect(),
        at,
    );
    let shipment_events = decide::<Shipment>(
        vec![
            ShipmentCommand::CreateShipment {
                shipment_id: shipment,
                order_id: order,
                carrier,
                lines,
            },
            ShipmentCommand::RecordLabel {
                tracking_number: ext(&format!("TRK{n}")),
            },
            ShipmentCommand::DispatchShipment,
            ShipmentCommand::RecordTrackingUpdate(TrackingUpdate {
                carrier_event_id: ext(&format!("trk_{n}_1")),
                carrier_status: CarrierStatus::InTransit,
                occurred_at: at + Duration::hours(5),
                location: Some(text("Leipzig")),
                description: None,
            }),
            ShipmentCommand::DeliverShipment,
        ],
        at,
    );
    vec![
        append(order, &order_events),
        append(payment, &decide::<Payment>(payment_commands, at)),
        append(shipment, &shipment_events),
    ]
}

/// Appends the lifecycles of orders `from..to` as they would happen: in chunks of 500 orders,
/// each order's, payment's and shipment's events one at a time, the first events of every
/// stream of the chunk, then the second ones, and so on; so that a stream's events lie
/// thousands of positions apart, as in a log of real traffic. Many appends are in flight at
/// once (they share commits). Answers the number of events.
pub async fn append_lifecycles(log: &EventLog, from: u128, to: u128) -> usize {
    let mut events = 0;
    let mut start = from;
    while start < to {
        let end = (start + 500).min(to);
        let streams: Vec<Append> = (start..end).flat_map(lifecycle).collect();
        events += streams.iter().map(|a| a.events.len()).sum::<usize>();
        let longest = streams.iter().map(|a| a.events.len()).max().unwrap_or(0);
        for step in 0..longest {
            let wave: Vec<Append> = streams
                .iter()
                .filter_map(|stream| {
                    let event = stream.events.get(step)?.clone();
                    let expected = match step {
                        0 => ExpectedVersion::NoStream,
                        n => ExpectedVersion::Exact(n as u64),
                    };
                    Some(Append::new(stream.stream.clone(), expected, vec![event]))
                })
                .collect();
            stream::iter(wave)
                .for_each_concurrent(64, |append| async move {
                    log.append(append).await.unwrap();
                })
                .await;
        }
        start = end;
    }
    events
}
