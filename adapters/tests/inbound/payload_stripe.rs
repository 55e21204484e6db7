//! Stripe payloads: every event and object in the fixtures reads into the expected types.

use adapters::inbound::payload::{
    stripe::{
        self, Charge, ChargeStatus, DisputeStatus, PaymentIntent, PaymentIntentStatus, Refund,
        RefundStatus, StripeEventKind,
    },
    PayloadError,
};
use domain::Currency;

use crate::fixtures::{bytes, json};

const SUCCEEDED: &str = "stripe/evt_payment_intent.succeeded.json";
const FAILED: &str = "stripe/evt_payment_intent.payment_failed.json";
const REFUNDED: &str = "ours/stripe/evt_charge.refunded.partial.example.json";
const DISPUTED: &str = "ours/stripe/evt_charge.dispute.created.example.json";
const UNKNOWN: &str = "ours/stripe/evt_customer.created.example.json";

#[test]
fn every_stripe_event_fixture_parses_and_is_pinned() {
    for (file, name) in [
        (SUCCEEDED, "stripe_payment_intent_succeeded"),
        (FAILED, "stripe_payment_intent_payment_failed"),
        (REFUNDED, "stripe_charge_refunded_partial"),
        (DISPUTED, "stripe_charge_dispute_created"),
        (UNKNOWN, "stripe_customer_created_unknown"),
    ] {
        let body = bytes(file);
        let event = stripe::parse(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
        let key = stripe::inbox_key(&body).unwrap();
        assert_eq!(key.event_id.as_str(), event.id, "{file}");
        assert_eq!(key.event_type, event.event_type, "{file}");
        assert_eq!(key.idempotency_key(), format!("stripe:{}", event.id));
        insta::assert_json_snapshot!(name, event);
    }
}

#[test]
fn a_succeeded_payment_intent_carries_the_amount_received_and_our_order_id() {
    let event = stripe::parse(&bytes(SUCCEEDED)).unwrap();
    assert_eq!(event.id, "evt_test_derived_pi_succeeded_0001");
    assert_eq!(event.created.timestamp(), 1_721_950_000);
    assert!(!event.livemode);
    let StripeEventKind::PaymentIntentSucceeded(intent) = event.kind else {
        panic!("{:?}", event.kind)
    };
    assert_eq!(intent.id, "pi_1PgafyB7WZ01zgkWSjxsAJo3");
    assert_eq!(
        (
            intent.amount,
            intent.amount_capturable,
            intent.amount_received
        ),
        (1099, 0, 1099)
    );
    assert_eq!(intent.currency, Currency::USD);
    assert_eq!(intent.received().amount_minor, 1099);
    assert_eq!(intent.status, PaymentIntentStatus::Succeeded);
    assert_eq!(intent.metadata.order_id(), Some("ord_test_0001"));
    assert_eq!(intent.metadata.payment_id(), None);
    assert_eq!(intent.last_payment_error, None);
    assert_eq!(
        intent.latest_charge.as_deref(),
        Some("ch_1PgafuB7WZ01zgkWXYmPNZs8")
    );
}

#[test]
fn a_failed_payment_intent_says_why() {
    let event = stripe::parse(&bytes(FAILED)).unwrap();
    let StripeEventKind::PaymentIntentPaymentFailed(intent) = event.kind else {
        panic!("{:?}", event.kind)
    };
    assert_eq!(intent.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert_eq!(intent.amount_received, 0);
    assert_eq!(intent.metadata.order_id(), Some("ord_test_0002"));
    let error = intent.last_payment_error.unwrap();
    assert_eq!(error.code.as_deref(), Some("card_declined"));
    assert_eq!(error.decline_code.as_deref(), Some("generic_decline"));
    assert_eq!(error.message.as_deref(), Some("Your card was declined."));
    assert_eq!(error.error_type.as_deref(), Some("card_error"));
}

#[test]
fn the_bare_stripe_objects_read_as_their_types() {
    let intent: PaymentIntent =
        serde_json::from_value(json("stripe/fixtures3.payment_intent.json")).unwrap();
    assert_eq!(intent.status, PaymentIntentStatus::RequiresPaymentMethod);
    let error = intent.last_payment_error.as_ref().unwrap();
    assert_eq!(error.error_type.as_deref(), Some("idempotency_error"));
    assert_eq!(
        (error.code.as_deref(), error.message.as_deref()),
        (None, None)
    );
    assert!(intent.metadata.0.is_empty());
    insta::assert_json_snapshot!("stripe_object_payment_intent", intent);

    let charge: Charge = serde_json::from_value(json("stripe/fixtures3.charge.json")).unwrap();
    assert_eq!(charge.id, "ch_1PgafuB7WZ01zgkWXYmPNZs8");
    assert_eq!(
        (
            charge.amount,
            charge.amount_captured,
            charge.amount_refunded
        ),
        (100, 0, 0)
    );
    assert_eq!(charge.status, ChargeStatus::Succeeded);
    assert!(!charge.captured && !charge.refunded && !charge.disputed);
    assert_eq!(charge.payment_intent, None);
    assert!(charge.refunds.is_empty());
    insta::assert_json_snapshot!("stripe_object_charge", charge);

    let refund: Refund = serde_json::from_value(json("stripe/fixtures3.refund.json")).unwrap();
    assert_eq!(refund.id, "re_1Pgc72B7WZ01zgkWqPvrRrPE");
    assert_eq!((refund.amount, refund.currency), (100, Currency::USD));
    assert_eq!(refund.status, RefundStatus::Succeeded);
    assert_eq!(
        refund.charge.as_deref(),
        Some("ch_1PgafuB7WZ01zgkWXYmPNZs8")
    );
    insta::assert_json_snapshot!("stripe_object_refund", refund);
}

#[test]
fn a_partial_refund_carries_the_running_total_and_the_refund_list() {
    let event = stripe::parse(&bytes(REFUNDED)).unwrap();
    let StripeEventKind::ChargeRefunded(charge) = event.kind else {
        panic!("{:?}", event.kind)
    };
    assert_eq!(
        (charge.amount_captured, charge.amount_refunded),
        (1099, 500)
    );
    assert!(!charge.refunded, "a partial refund leaves `refunded` false");
    assert_eq!(
        charge.payment_intent.as_deref(),
        Some("pi_1PgafyB7WZ01zgkWSjxsAJo3")
    );
    let refunds: Vec<_> = charge
        .refunds
        .iter()
        .map(|r| (r.id.as_str(), r.amount, r.status))
        .collect();
    assert_eq!(
        refunds,
        [("re_1Pgc72B7WZ01zgkWqPvrRrPE", 500, RefundStatus::Succeeded)]
    );
}

#[test]
fn a_dispute_names_its_charge_reason_and_status() {
    let event = stripe::parse(&bytes(DISPUTED)).unwrap();
    let StripeEventKind::DisputeCreated(dispute) = event.kind else {
        panic!("{:?}", event.kind)
    };
    assert_eq!(dispute.id, "dp_1PgaydB7WZ01zgkWP5yYsSkO");
    assert_eq!((dispute.amount, dispute.currency), (1099, Currency::USD));
    assert_eq!(dispute.reason, "fraudulent");
    assert_eq!(dispute.status, DisputeStatus::NeedsResponse);
    assert_eq!(dispute.charge, "ch_1PgafuB7WZ01zgkWXYmPNZs8");
}

#[test]
fn an_event_type_we_do_not_act_on_parses_as_unknown() {
    let event = stripe::parse(&bytes(UNKNOWN)).unwrap();
    assert_eq!(
        event.kind,
        StripeEventKind::Unknown {
            event_type: "customer.created".into()
        }
    );
    // Even a type we do not know with an object we could not read is not an error.
    let odd = br#"{"id":"evt_1","type":"radar.early_fraud_warning.created","created":1,"data":{"object":42}}"#;
    assert!(matches!(
        stripe::parse(odd).unwrap().kind,
        StripeEventKind::Unknown { .. }
    ));
}

#[test]
fn a_status_stripe_adds_later_reads_as_unknown() {
    let mut event = json(SUCCEEDED);
    event["data"]["object"]["status"] = "requires_teleportation".into();
    let parsed = stripe::parse(&serde_json::to_vec(&event).unwrap()).unwrap();
    let StripeEventKind::PaymentIntentSucceeded(intent) = parsed.kind else {
        panic!()
    };
    assert_eq!(intent.status, PaymentIntentStatus::Unknown);
}

#[test]
fn a_known_type_with_a_broken_object_is_a_data_error() {
    let mut event = json(SUCCEEDED);
    event["data"]["object"]["amount"] = "1099".into();
    let err = stripe::parse(&serde_json::to_vec(&event).unwrap()).unwrap_err();
    assert!(matches!(err, PayloadError::Data { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "stripe payment_intent.succeeded event has invalid data"
    );
    event["data"]["object"]["amount"] = 1099.into();
    event["data"]["object"]["currency"] = "dollars".into();
    assert!(matches!(
        stripe::parse(&serde_json::to_vec(&event).unwrap()),
        Err(PayloadError::Data { .. })
    ));
}

#[test]
fn a_body_that_is_not_an_event_is_an_envelope_error() {
    for body in [
        &b"not json"[..],
        b"{}",
        br#"{"id":"evt_1"}"#,
        br#"{"id":7,"type":"x"}"#,
    ] {
        let err = stripe::inbox_key(body).unwrap_err();
        assert_eq!(
            err.to_string(),
            "stripe payload is not a valid event envelope"
        );
        assert!(matches!(
            stripe::parse(body),
            Err(PayloadError::Envelope { .. })
        ));
    }
    let empty_id = br#"{"id":"","type":"payment_intent.succeeded"}"#;
    assert!(matches!(
        stripe::inbox_key(empty_id),
        Err(PayloadError::EventId { .. })
    ));
}
