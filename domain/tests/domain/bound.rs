//! What a payment or shipment decision asks its order to decide in the same append.

use domain::{
    order::OrderCommand,
    payment::{Payment, PaymentCommand},
    shipment::{Shipment, ShipmentCommand},
    BoundToOrder, Decider,
};

use crate::support::{code, ctx, eur, order_id, payment_id, shipment_id, text};

fn decided<D: Decider>(history: &[D::Event], command: D::Command) -> (D::State, Vec<D::Event>)
where
    D::Error: std::fmt::Debug,
{
    let mut state = D::fold(history);
    let events = D::decide(&state, command, &ctx()).unwrap();
    for event in &events {
        D::evolve(&mut state, event);
    }
    (state, events)
}

#[test]
fn a_payment_request_is_recorded_on_its_order_and_nothing_else_is() {
    let request = PaymentCommand::RequestPayment {
        payment_id: payment_id(1),
        order_id: order_id(),
        amount: eur(5_000),
        provider: code("stripe"),
    };
    let (state, events) = decided::<Payment>(&[], request);
    assert_eq!(
        Payment::order_commands(&state, &events),
        Some((
            order_id(),
            vec![OrderCommand::RecordPaymentRequested {
                payment_id: payment_id(1),
                amount: eur(5_000),
            }]
        ))
    );
    let capture = PaymentCommand::CapturePayment {
        capture_id: domain::ExternalRef::parse("ch_1").unwrap(),
        amount: eur(5_000),
        provider_reference: None,
    };
    let (after, captured) = decided::<Payment>(&events, capture);
    assert_eq!(Payment::order_commands(&after, &captured), None);
}

#[test]
fn a_shipment_leaving_arriving_or_coming_back_is_recorded_on_its_order() {
    let create = ShipmentCommand::CreateShipment {
        shipment_id: shipment_id(1),
        order_id: order_id(),
        carrier: code("dhl"),
        lines: crate::shipment::fixtures::lines(),
    };
    let (state, created) = decided::<Shipment>(&[], create);
    assert_eq!(Shipment::order_commands(&state, &created), None);

    // A delivery seen before the dispatch implies it: both are recorded, in that order.
    let (state, delivered) = decided::<Shipment>(&created, ShipmentCommand::DeliverShipment);
    let s1 = shipment_id(1);
    assert_eq!(
        Shipment::order_commands(&state, &delivered),
        Some((
            order_id(),
            vec![
                OrderCommand::RecordShipmentDispatched { shipment_id: s1 },
                OrderCommand::RecordShipmentDelivered { shipment_id: s1 },
            ]
        ))
    );
    let mut history = created.clone();
    history.extend(delivered);
    let returned = ShipmentCommand::ReturnShipment {
        reason: text("refused at the door"),
    };
    let (state, events) = decided::<Shipment>(&history, returned);
    assert_eq!(
        Shipment::order_commands(&state, &events),
        Some((
            order_id(),
            vec![OrderCommand::RecordShipmentReturned { shipment_id: s1 }]
        ))
    );
}
