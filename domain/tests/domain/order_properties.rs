//! Property tests of the Order decider over random command sequences.

use domain::{
    order::{self, Order, OrderCommand, OrderState},
    shipment::ShipmentLine,
    Decider,
};
use proptest::prelude::*;

use crate::{
    order::fixtures::place,
    support::{code, ctx, eur, payment_id, qty, shipment_id, sku, text, usd},
};

fn money() -> impl Strategy<Value = domain::Money> {
    prop_oneof![
        3 => prop::sample::select(vec![2_500i64, 5_000, 6_000]).prop_map(eur),
        5 => (-10i64..7_000).prop_map(eur),
        1 => (0i64..7_000).prop_map(usd),
    ]
}

fn command() -> impl Strategy<Value = OrderCommand> {
    let payment = || (1u128..=2).prop_map(payment_id);
    let shipment = || (1u128..=3).prop_map(shipment_id);
    let line = (
        prop::sample::select(vec!["MUG", "MUG", "TEAPOT", "TEAPOT", "SPOON"]),
        1u32..=2,
    )
        .prop_map(|(code, n)| ShipmentLine {
            sku: sku(code),
            quantity: qty(n),
        });
    // Weighted so that many sequences get paid and delivered before anyone cancels.
    prop_oneof![
        1 => Just(OrderCommand::PlaceOrder(place())),
        1 => Just(OrderCommand::CancelOrder {
            reason: text("random")
        }),
        2 => (payment(), money()).prop_map(|(payment_id, amount)| {
            OrderCommand::RecordPaymentRequested { payment_id, amount }
        }),
        4 => (payment(), money()).prop_map(|(payment_id, captured_total)| {
            OrderCommand::RecordPayment {
                payment_id,
                captured_total,
            }
        }),
        2 => (payment(), money()).prop_map(|(payment_id, refunded_total)| {
            OrderCommand::RecordRefund {
                payment_id,
                refunded_total,
            }
        }),
        1 => payment().prop_map(|payment_id| OrderCommand::RecordPaymentClosed { payment_id }),
        5 => (shipment(), prop::collection::vec(line, 0..3))
            .prop_map(|(shipment_id, lines)| OrderCommand::AllocateShipment {
                shipment_id,
                carrier: code("dhl"),
                lines,
            }),
        3 => shipment().prop_map(|shipment_id| OrderCommand::AllocateShipment {
            shipment_id,
            carrier: code("dhl"),
            lines: vec![
                ShipmentLine { sku: sku("MUG"), quantity: qty(2) },
                ShipmentLine { sku: sku("TEAPOT"), quantity: qty(1) },
            ],
        }),
        1 => shipment().prop_map(|shipment_id| OrderCommand::ReleaseAllocation { shipment_id }),
        4 => shipment().prop_map(|shipment_id| OrderCommand::RecordShipmentDispatched { shipment_id }),
        4 => shipment().prop_map(|shipment_id| OrderCommand::RecordShipmentDelivered { shipment_id }),
        1 => shipment().prop_map(|shipment_id| OrderCommand::RecordShipmentReturned { shipment_id }),
        3 => Just(OrderCommand::CompleteOrder),
    ]
}

/// Most sequences start by placing the order, so that the rest has something to act on.
fn commands() -> impl Strategy<Value = Vec<OrderCommand>> {
    (any::<u8>(), prop::collection::vec(command(), 1..30)).prop_map(|(roll, mut commands)| {
        if roll % 8 != 0 {
            commands.insert(0, OrderCommand::PlaceOrder(place()));
        }
        commands
    })
}

fn check_invariants(order: &OrderState) -> Result<(), TestCaseError> {
    for line in &order.lines {
        prop_assert!(
            order.allocated(&line.sku) <= u64::from(line.quantity.get()),
            "over-allocated {}",
            line.sku
        );
    }
    let mut paid = 0i64;
    let mut refunded = 0i64;
    for payment in order.payments.values() {
        prop_assert!(payment.refunded.amount_minor <= payment.captured.amount_minor);
        paid += payment.captured.amount_minor;
        refunded += payment.refunded.amount_minor;
    }
    prop_assert_eq!(order.paid.amount_minor, paid);
    prop_assert_eq!(order.refunded.amount_minor, refunded);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn order_state_rebuilt_from_its_events_equals_the_state_reached_while_deciding(
        commands in commands()
    ) {
        let ctx = ctx();
        let mut state = None;
        let mut history = Vec::new();
        for command in commands {
            // A panic here fails the property: no command in any state may panic.
            if let Ok(events) = Order::decide(&state, command, &ctx) {
                for event in &events {
                    Order::evolve(&mut state, event);
                    let stored = order::encode(event);
                    let decoded = order::decode(stored.event_type, stored.event_version, &stored.payload).unwrap();
                    prop_assert_eq!(&decoded, event);
                }
                history.extend(events);
            }
            if let Some(order) = &state {
                check_invariants(order)?;
            }
        }
        prop_assert_eq!(Order::fold(&history), state);
    }
}
