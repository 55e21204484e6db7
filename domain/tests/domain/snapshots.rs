//! The stored JSON of every event type and version, pinned by insta snapshots, and the
//! upcasters of old versions tested against stored old payloads (the files in `stored/`, written
//! as the old code wrote them and never regenerated).

use domain::{
    attention::{self, AttentionEvent},
    order::{
        self, OrderCancelled, OrderCompleted, OrderEvent, OrderInvoiced, OrderOverpaid,
        OrderPaymentClosed, OrderPaymentRecorded, OrderPaymentRequested, OrderRefundRecorded,
        OrderSalesOrderRecorded, OrderShipmentAllocated, PaymentDue, ShipmentRef,
    },
    payment::{
        self, PaymentAuthorized, PaymentCaptured, PaymentDisputed, PaymentEvent, PaymentFailed,
        PaymentRefunded, PaymentRequested, PaymentVoided,
    },
    shipment::{
        self, CarrierStatus, ShipmentCancelled, ShipmentCreated, ShipmentDelivered,
        ShipmentDeliveryFailed, ShipmentDispatched, ShipmentEvent, ShipmentLabelCreated,
        ShipmentLine, ShipmentOutForDelivery, ShipmentReturned, TrackingUpdate,
    },
    user::{self, UserEvent},
    DecodeError, EventCodec, StoredEvent,
};
use serde_json::json;

use crate::support::{
    code, eur, ext, minutes, now, order_id, payment_id, qty, shipment_id, sku, text,
};

fn lines() -> Vec<ShipmentLine> {
    vec![ShipmentLine {
        sku: sku("MUG"),
        quantity: qty(2),
    }]
}

fn order_samples() -> Vec<OrderEvent> {
    let s1 = || ShipmentRef {
        shipment_id: shipment_id(1),
    };
    vec![
        crate::order::fixtures::placed(),
        OrderEvent::OrderCancelled(OrderCancelled {
            reason: text("customer changed their mind"),
            refunds_due: vec![PaymentDue {
                payment_id: payment_id(1),
                amount: eur(2_500),
            }],
            voids_due: vec![payment_id(2)],
            shipments_to_cancel: vec![shipment_id(1)],
            cancelled_at: now(),
        }),
        OrderEvent::OrderPaymentRequested(OrderPaymentRequested {
            payment_id: payment_id(1),
            amount: eur(5_000),
        }),
        OrderEvent::OrderPaymentRecorded(OrderPaymentRecorded {
            payment_id: payment_id(1),
            amount: eur(2_000),
            captured_total: eur(5_000),
        }),
        OrderEvent::OrderRefundRecorded(OrderRefundRecorded {
            payment_id: payment_id(1),
            amount: eur(500),
            refunded_total: eur(500),
        }),
        OrderEvent::OrderPaymentClosed(OrderPaymentClosed {
            payment_id: payment_id(2),
        }),
        OrderEvent::OrderOverpaid(OrderOverpaid {
            paid: eur(6_200),
            due: eur(5_000),
            excess: eur(1_200),
        }),
        OrderEvent::OrderShipmentAllocated(OrderShipmentAllocated {
            shipment_id: shipment_id(1),
            carrier: code("dhl"),
            lines: lines(),
        }),
        OrderEvent::OrderAllocationReleased(s1()),
        OrderEvent::OrderShipmentDispatched(s1()),
        OrderEvent::OrderShipmentDelivered(s1()),
        OrderEvent::OrderShipmentReturned(s1()),
        OrderEvent::OrderCompleted(OrderCompleted {
            completed_at: now(),
        }),
        OrderEvent::OrderInvoiced(OrderInvoiced {
            invoice_number: ext("INV-2024-000123"),
            issued_at: now(),
            total: eur(4_998),
        }),
        OrderEvent::OrderSalesOrderRecorded(OrderSalesOrderRecorded {
            sales_order_number: ext("SO-2024-004711"),
            recorded_at: now(),
        }),
    ]
}

fn payment_samples() -> Vec<PaymentEvent> {
    vec![
        PaymentEvent::PaymentRequested(PaymentRequested {
            payment_id: payment_id(1),
            order_id: order_id(),
            amount: eur(10_000),
            provider: code("stripe"),
            requested_at: now(),
        }),
        PaymentEvent::PaymentAuthorized(PaymentAuthorized {
            provider_reference: ext("pi_1"),
            amount: eur(10_000),
            implied: false,
            authorized_at: now(),
        }),
        PaymentEvent::PaymentCaptured(PaymentCaptured {
            order_id: order_id(),
            capture_id: ext("ch_1"),
            amount: eur(4_000),
            captured_total: eur(4_000),
            captured_at: now(),
        }),
        PaymentEvent::PaymentFailed(PaymentFailed {
            code: code("card_declined"),
            message: text("Your card was declined."),
            failed_at: now(),
        }),
        PaymentEvent::PaymentRefunded(PaymentRefunded {
            order_id: order_id(),
            refund_id: ext("re_1"),
            amount: eur(1_000),
            refunded_total: eur(1_000),
            refunded_at: now(),
            request: Some(ext("refund-1")),
        }),
        PaymentEvent::PaymentRefundRequested(payment::PaymentRefundRequested {
            order_id: order_id(),
            reference: ext("refund-1"),
            amount: eur(1_000),
            provider_reference: ext("pi_1"),
            provider: code("stripe"),
            requested_at: now(),
        }),
        PaymentEvent::PaymentRefundFailed(payment::PaymentRefundFailed {
            order_id: order_id(),
            reference: ext("refund-2"),
            amount: eur(500),
            code: code("charge_already_refunded"),
            message: text("Charge ch_1 has already been refunded."),
            failed_at: now(),
        }),
        PaymentEvent::PaymentRefundApprovalAsked(payment::PaymentRefundApprovalAsked {
            order_id: order_id(),
            reference: ext("refund-3"),
            amount: eur(90_000),
            requested_by: text("user:ana"),
            requested_at: now(),
        }),
        PaymentEvent::PaymentRefundApproved(payment::PaymentRefundApproved {
            order_id: order_id(),
            reference: ext("refund-3"),
            amount: eur(90_000),
            requested_by: text("user:ana"),
            approved_by: text("user:bo"),
            approved_at: now(),
        }),
        PaymentEvent::PaymentRefundRejected(payment::PaymentRefundRejected {
            order_id: order_id(),
            reference: ext("refund-4"),
            amount: eur(70_000),
            rejected_by: text("user:bo"),
            reason: text("the goods were not returned"),
            rejected_at: now(),
        }),
        PaymentEvent::PaymentVoided(PaymentVoided {
            order_id: order_id(),
            reason: text("order cancelled"),
            voided_at: now(),
        }),
        PaymentEvent::PaymentMismatchFound(domain::payment::PaymentMismatchFound {
            order_id: order_id(),
            provider_captured: eur(10_000),
            provider_refunded: eur(3_000),
            captured: eur(10_000),
            refunded: eur(0),
            found_at: now(),
        }),
        PaymentEvent::PaymentCaptureRequested(domain::payment::PaymentCaptureRequested {
            order_id: order_id(),
            reference: ext("cap-1"),
            amount: eur(4_000),
            provider_reference: ext("pi_1"),
            provider: code("stripe"),
            requested_at: now(),
        }),
        PaymentEvent::PaymentCaptureFailed(domain::payment::PaymentCaptureFailed {
            order_id: order_id(),
            reference: ext("cap-1"),
            code: code("payment_intent_unexpected_state"),
            message: text("This PaymentIntent could not be captured."),
            failed_at: now(),
        }),
        PaymentEvent::PaymentVoidRequested(payment::PaymentVoidRequested {
            order_id: order_id(),
            reason: text("order cancelled"),
            provider_reference: ext("pi_1"),
            provider: code("stripe"),
            requested_at: now(),
        }),
        PaymentEvent::PaymentVoidFailed(payment::PaymentVoidFailed {
            order_id: order_id(),
            code: code("payment_intent_unexpected_state"),
            message: text("This PaymentIntent could not be canceled."),
            failed_at: now(),
        }),
        PaymentEvent::PaymentDisputed(PaymentDisputed {
            order_id: order_id(),
            dispute_id: ext("dp_1"),
            amount: eur(4_000),
            reason: text("fraudulent"),
            disputed_at: now(),
        }),
        PaymentEvent::PaymentDisputeClosed(payment::PaymentDisputeClosed {
            order_id: order_id(),
            dispute_id: ext("dp_1"),
            outcome: payment::DisputeOutcome::Won,
            closed_at: minutes(90),
        }),
    ]
}

fn shipment_samples() -> Vec<ShipmentEvent> {
    vec![
        ShipmentEvent::ShipmentCreated(ShipmentCreated {
            shipment_id: shipment_id(1),
            order_id: order_id(),
            carrier: code("dhl"),
            lines: lines(),
            created_at: now(),
        }),
        ShipmentEvent::ShipmentLabelRequested(domain::shipment::ShipmentLabelRequested {
            order_id: order_id(),
            parcel: Some(domain::shipment::Parcel {
                length_in: 10,
                width_in: 8,
                height_in: 4,
                weight_oz: 16,
            }),
            requested_at: now(),
        }),
        ShipmentEvent::ShipmentProviderShipmentRecorded(
            domain::shipment::ShipmentProviderShipmentRecorded {
                order_id: order_id(),
                provider_shipment_id: ext("shp_1"),
                recorded_at: now(),
            },
        ),
        ShipmentEvent::ShipmentLabelFailed(domain::shipment::ShipmentLabelFailed {
            order_id: order_id(),
            code: code("no_rate"),
            message: text("no rate of the allowed carriers"),
            failed_at: now(),
        }),
        ShipmentEvent::ShipmentLabelCreated(ShipmentLabelCreated {
            tracking_number: ext("9400100000000000000001"),
            purchase: Some(domain::shipment::PurchasedLabel {
                provider: code("easypost"),
                provider_shipment_id: ext("shp_1"),
                label_url: text("https://easypost-files.test/label.png"),
                carrier: text("USPS"),
                service: text("Priority"),
                cost: domain::Money::new(649, domain::Currency::USD),
            }),
            created_at: now(),
        }),
        ShipmentEvent::ShipmentDispatched(ShipmentDispatched {
            order_id: order_id(),
            dispatched_at: now(),
        }),
        ShipmentEvent::ShipmentTrackingUpdated(TrackingUpdate {
            carrier_event_id: ext("ev_1"),
            carrier_status: CarrierStatus::OutForDelivery,
            occurred_at: minutes(10),
            location: Some(text("Berlin hub")),
            description: Some(text("On the vehicle for delivery")),
        }),
        ShipmentEvent::ShipmentOutForDelivery(ShipmentOutForDelivery { at: minutes(10) }),
        ShipmentEvent::ShipmentDelivered(ShipmentDelivered {
            order_id: order_id(),
            delivered_at: minutes(30),
        }),
        ShipmentEvent::ShipmentDeliveryFailed(ShipmentDeliveryFailed {
            reason: text("nobody home"),
            failed_at: minutes(20),
        }),
        ShipmentEvent::ShipmentReturned(ShipmentReturned {
            order_id: order_id(),
            reason: text("refused"),
            returned_at: minutes(60),
        }),
        ShipmentEvent::ShipmentCancelled(ShipmentCancelled {
            order_id: order_id(),
            reason: text("order cancelled"),
            cancelled_at: now(),
        }),
    ]
}

fn attention_samples() -> Vec<AttentionEvent> {
    use domain::attention::{
        AttentionDismissed, AttentionKind, AttentionResolved, AttentionRetryFailed,
        AttentionRetryRequested,
    };
    vec![
        AttentionEvent::AttentionRaised(crate::attention::raised(AttentionKind::RefusedStep)),
        AttentionEvent::AttentionRetryRequested(AttentionRetryRequested {
            requested_at: now(),
        }),
        AttentionEvent::AttentionRetryFailed(AttentionRetryFailed {
            rule: Some(code("refund_exceeds_captured")),
            detail: text("refund exceeds captured amount minus refunds"),
            failed_at: minutes(5),
        }),
        AttentionEvent::AttentionResolved(AttentionResolved {
            resolved_at: minutes(10),
        }),
        AttentionEvent::AttentionDismissed(AttentionDismissed {
            reason: text("refunded by hand at the provider"),
            dismissed_at: minutes(10),
        }),
    ]
}

fn user_samples() -> Vec<UserEvent> {
    use domain::user::Role;
    vec![
        crate::user::e_created("ana", Role::Viewer),
        crate::user::e_role_changed(Role::Viewer, Role::Finance),
        crate::user::e_deactivated(),
        crate::user::e_password_changed(),
        crate::user::e_reset_issued(),
    ]
}

/// Snapshots each sample's stored JSON, checks the samples cover every current event type, and
/// that each decodes back to itself.
fn pin_every_event_type<E>(samples: Vec<E>, event_types: &[(&str, i32)])
where
    E: EventCodec + PartialEq + std::fmt::Debug,
{
    let stored: Vec<StoredEvent> = samples.iter().map(E::encode).collect();
    let mut covered: Vec<(&str, i32)> = stored
        .iter()
        .map(|s| (s.event_type, s.event_version))
        .collect();
    covered.sort_unstable();
    let mut expected = event_types.to_vec();
    expected.sort_unstable();
    assert_eq!(
        covered, expected,
        "a sample per event type and current version"
    );

    for (sample, stored) in samples.iter().zip(stored) {
        let name = format!(
            "{}__{}_v{}",
            E::AGGREGATE_TYPE,
            stored.event_type,
            stored.event_version
        );
        insta::assert_json_snapshot!(name, stored.payload);
        let decoded = E::decode(stored.event_type, stored.event_version, &stored.payload).unwrap();
        assert_eq!(&decoded, sample);
    }
}

#[test]
fn every_order_event_type_has_pinned_stored_json() {
    pin_every_event_type(order_samples(), order::EVENT_TYPES);
}

#[test]
fn every_payment_event_type_has_pinned_stored_json() {
    pin_every_event_type(payment_samples(), payment::EVENT_TYPES);
}

#[test]
fn every_shipment_event_type_has_pinned_stored_json() {
    pin_every_event_type(shipment_samples(), shipment::EVENT_TYPES);
}

#[test]
fn every_attention_event_type_has_pinned_stored_json() {
    pin_every_event_type(attention_samples(), attention::EVENT_TYPES);
}

#[test]
fn every_user_event_type_has_pinned_stored_json() {
    pin_every_event_type(user_samples(), user::EVENT_TYPES);
}

#[test]
fn the_aggregate_types_are_stable() {
    assert_eq!(attention::AGGREGATE_TYPE, "attention");
    assert_eq!(order::AGGREGATE_TYPE, "order");
    assert_eq!(payment::AGGREGATE_TYPE, "payment");
    assert_eq!(shipment::AGGREGATE_TYPE, "shipment");
    assert_eq!(user::AGGREGATE_TYPE, "user");
}

/// `PaymentRequested` as version 1 stored it, before providers were pluggable.
fn payment_requested_v1() -> serde_json::Value {
    serde_json::from_str(include_str!("stored/payment__PaymentRequested_v1.json")).unwrap()
}

#[test]
fn a_version_1_payment_request_reads_as_a_manual_payment() {
    insta::assert_json_snapshot!("payment__PaymentRequested_v1", payment_requested_v1());
    let event = payment::decode("PaymentRequested", 1, &payment_requested_v1()).unwrap();
    assert_eq!(
        event,
        PaymentEvent::PaymentRequested(PaymentRequested {
            payment_id: payment_id(1),
            order_id: order_id(),
            amount: eur(10_000),
            provider: code("manual"),
            requested_at: now(),
        })
    );
    // Re-encoding writes the current version.
    let stored = payment::encode(&event);
    assert_eq!(
        (stored.event_type, stored.event_version),
        ("PaymentRequested", 2)
    );
    assert_eq!(stored.payload["provider"], "manual");
}

/// `OrderPlaced` as version 1 stored it: a bare `price` per line, no total.
fn order_placed_v1() -> serde_json::Value {
    serde_json::from_str(include_str!("stored/order__OrderPlaced_v1.json")).unwrap()
}

#[test]
fn a_version_1_order_placed_gets_money_prices_and_a_total() {
    insta::assert_json_snapshot!("order__OrderPlaced_v1", order_placed_v1());
    let event = order::decode("OrderPlaced", 1, &order_placed_v1()).unwrap();
    assert_eq!(event, crate::order::fixtures::placed());
}

#[test]
fn a_version_1_order_whose_total_overflows_is_reported_not_wrapped() {
    let mut payload = order_placed_v1();
    payload["lines"][0]["price"] = json!(i64::MAX);
    let error = order::decode("OrderPlaced", 1, &payload).unwrap_err();
    assert!(matches!(error, DecodeError::Upcast { .. }), "{error:?}");
}

#[test]
fn unknown_types_unknown_versions_and_bad_payloads_are_told_apart() {
    let error = order::decode("OrderTeleported", 1, &json!({})).unwrap_err();
    assert!(
        matches!(error, DecodeError::UnknownEventType { .. }),
        "{error:?}"
    );
    let error = payment::decode("PaymentCaptured", 9, &json!({})).unwrap_err();
    assert!(
        matches!(error, DecodeError::UnsupportedVersion { .. }),
        "{error:?}"
    );
    let error = shipment::decode("ShipmentDispatched", 1, &json!({"order_id": "x"})).unwrap_err();
    assert!(
        matches!(error, DecodeError::InvalidPayload { .. }),
        "{error:?}"
    );
    let error = shipment::decode("ShipmentBeamed", 3, &json!({})).unwrap_err();
    assert!(
        matches!(error, DecodeError::UnknownEventType { .. }),
        "{error:?}"
    );
}
