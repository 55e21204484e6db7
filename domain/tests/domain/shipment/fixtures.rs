//! Builders of shipment commands and events, and the histories that reach each state.

use chrono::{DateTime, Utc};
use domain::{
    shipment::{
        CarrierStatus, Shipment, ShipmentCancelled, ShipmentCommand, ShipmentCreated,
        ShipmentDelivered, ShipmentDeliveryFailed, ShipmentDispatched, ShipmentEvent,
        ShipmentLabelCreated, ShipmentLine, ShipmentOutForDelivery, ShipmentReturned,
        ShipmentStatus, TrackingUpdate,
    },
    Decider,
};

use crate::support::{code, ext, minutes, now, order_id, qty, shipment_id, sku, text, Outcome};

pub type O = Outcome<Shipment>;

// ---- builders -------------------------------------------------------------------------------

pub fn lines() -> Vec<ShipmentLine> {
    vec![ShipmentLine {
        sku: sku("MUG"),
        quantity: qty(2),
    }]
}

pub fn create() -> ShipmentCommand {
    ShipmentCommand::CreateShipment {
        shipment_id: shipment_id(1),
        order_id: order_id(),
        carrier: code("dhl"),
        lines: lines(),
    }
}

pub fn created() -> ShipmentEvent {
    ShipmentEvent::ShipmentCreated(ShipmentCreated {
        shipment_id: shipment_id(1),
        order_id: order_id(),
        carrier: code("dhl"),
        lines: lines(),
        created_at: now(),
    })
}

pub fn label(tracking_number: &str) -> ShipmentEvent {
    ShipmentEvent::ShipmentLabelCreated(ShipmentLabelCreated {
        tracking_number: ext(tracking_number),
        purchase: None,
        created_at: now(),
    })
}

pub fn dispatched(at: DateTime<Utc>) -> ShipmentEvent {
    ShipmentEvent::ShipmentDispatched(ShipmentDispatched {
        order_id: order_id(),
        dispatched_at: at,
    })
}

pub fn update(event_id: &str, status: CarrierStatus, at: DateTime<Utc>) -> TrackingUpdate {
    TrackingUpdate {
        carrier_event_id: ext(event_id),
        carrier_status: status,
        occurred_at: at,
        location: Some(text("Berlin hub")),
        description: None,
    }
}

pub fn tracked(event_id: &str, status: CarrierStatus, at: DateTime<Utc>) -> ShipmentEvent {
    ShipmentEvent::ShipmentTrackingUpdated(update(event_id, status, at))
}

pub fn track(event_id: &str, status: CarrierStatus, at: DateTime<Utc>) -> ShipmentCommand {
    ShipmentCommand::RecordTrackingUpdate(update(event_id, status, at))
}

pub fn out_for_delivery(at: DateTime<Utc>) -> ShipmentEvent {
    ShipmentEvent::ShipmentOutForDelivery(ShipmentOutForDelivery { at })
}

pub fn delivered(at: DateTime<Utc>) -> ShipmentEvent {
    ShipmentEvent::ShipmentDelivered(ShipmentDelivered {
        order_id: order_id(),
        delivered_at: at,
    })
}

pub fn failed(reason: &str, at: DateTime<Utc>) -> ShipmentEvent {
    ShipmentEvent::ShipmentDeliveryFailed(ShipmentDeliveryFailed {
        reason: text(reason),
        failed_at: at,
    })
}

pub fn returned(reason: &str, at: DateTime<Utc>) -> ShipmentEvent {
    ShipmentEvent::ShipmentReturned(ShipmentReturned {
        order_id: order_id(),
        reason: text(reason),
        returned_at: at,
    })
}

pub fn cancelled() -> ShipmentEvent {
    ShipmentEvent::ShipmentCancelled(ShipmentCancelled {
        order_id: order_id(),
        reason: text("order cancelled"),
        cancelled_at: now(),
    })
}

// ---- the states a shipment meets --------------------------------------------------------------

pub fn h_label() -> Vec<ShipmentEvent> {
    vec![created(), label("TRK1")]
}
pub fn h_in_transit() -> Vec<ShipmentEvent> {
    [h_label(), vec![dispatched(now())]].concat()
}
pub fn h_out_for_delivery() -> Vec<ShipmentEvent> {
    let at = minutes(10);
    [
        h_in_transit(),
        vec![
            tracked("ev_1", CarrierStatus::OutForDelivery, at),
            out_for_delivery(at),
        ],
    ]
    .concat()
}
pub fn h_delivered() -> Vec<ShipmentEvent> {
    [h_out_for_delivery(), vec![delivered(now())]].concat()
}
pub fn h_delivery_failed() -> Vec<ShipmentEvent> {
    [h_out_for_delivery(), vec![failed("nobody home", now())]].concat()
}
pub fn h_returned() -> Vec<ShipmentEvent> {
    [h_delivery_failed(), vec![returned("refused", now())]].concat()
}
pub fn h_cancelled() -> Vec<ShipmentEvent> {
    [h_label(), vec![cancelled()]].concat()
}

/// Every status, with the history that reaches it.
pub fn states() -> Vec<(&'static str, Vec<ShipmentEvent>)> {
    vec![
        ("not created", vec![]),
        ("pending", vec![created()]),
        ("label created", h_label()),
        ("in transit", h_in_transit()),
        ("out for delivery", h_out_for_delivery()),
        ("delivered", h_delivered()),
        ("delivery failed", h_delivery_failed()),
        ("returned", h_returned()),
        ("cancelled", h_cancelled()),
    ]
}

/// Pairs each state of `states()` with its expected outcome, in the same order.
pub fn table(outcomes: [O; 9]) -> Vec<(&'static str, Vec<ShipmentEvent>, O)> {
    states()
        .into_iter()
        .zip(outcomes)
        .map(|((name, history), outcome)| (name, history, outcome))
        .collect()
}

#[test]
pub fn each_state_history_reaches_its_status() {
    use ShipmentStatus as S;
    let expected = [
        None,
        Some(S::Pending),
        Some(S::LabelCreated),
        Some(S::InTransit),
        Some(S::OutForDelivery),
        Some(S::Delivered),
        Some(S::DeliveryFailed),
        Some(S::Returned),
        Some(S::Cancelled),
    ];
    for ((name, history), want) in states().into_iter().zip(expected) {
        assert_eq!(Shipment::fold(&history).map(|s| s.status), want, "{name}");
    }
}
