//! Refunds executed at Stripe, against a real HTTP server answering in Stripe's shapes: a
//! refusal Stripe gives for good (a card error) is recorded as a failed refund and shown to a
//! person, after one call; Stripe failing for a while is asked again with the same idempotency
//! key until it answers, and the refund is recorded once.

use adapters::outbound::{config::StripeConfig, stripe::Stripe, Destination};
use commands::CommandHandler;
use domain::{
    payment::{Payment, PaymentCommand, PaymentEvent, RefundOutcome},
    Currency, EventCodec, ExternalRef, Money,
};
use eventlog::{testing::TestDatabase, EventLog};
use serde_json::json;
use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};

use crate::support::*;

eventlog::on_both_backends!(
    a_card_error_is_a_failed_refund_shown_to_a_person_after_one_call,
    stripe_failing_for_a_while_is_asked_again_with_the_same_key_and_refunds_once,
    a_void_cancels_the_payment_intent_and_is_recorded_when_stripe_confirms_it,
    a_void_stripe_refuses_ends_as_a_failed_void_shown_to_a_person,
    a_capture_is_made_at_stripe_once_and_its_webhook_changes_nothing,
    a_capture_stripe_refuses_ends_as_a_failed_capture_shown_to_a_person,
);

fn config(server: &MockServer) -> StripeConfig {
    serde_json::from_value(json!({"base_url": server.uri(), "secret_key": "sk_test_backoffice"}))
        .unwrap()
}

async fn a_card_error_is_a_failed_refund_shown_to_a_person_after_one_call(
    _db: &TestDatabase,
    log: EventLog,
) {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(402).set_body_json(json!({"error": {
            "type": "card_error", "code": "expired_card",
            "message": "The card has expired.", "param": "payment_intent",
        }})))
        .mount(&server)
        .await;
    let handler = CommandHandler::new(log.clone());
    place(&handler, 1).await;
    pay_and_ask_refund(&handler, 1, 2_000).await;
    let limits = quick_limits();
    let stripe = outbound(
        &log,
        Stripe::connect(&config(&server)).await.unwrap(),
        limits.clone(),
    );
    let failed = || async {
        let (payment, _) = handler.load::<Payment>(&payment_id(1)).await.unwrap();
        payment.unwrap().refund_requests[&ExternalRef::parse("refund-1").unwrap()]
            .outcome
            .clone()
    };
    run_until(
        &log,
        &stripe,
        &limits,
        std::time::Duration::from_secs(30),
        || true,
    )
    .await;
    assert_eq!(failed().await, Some(RefundOutcome::Failed));
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "asked once"
    );

    let events = events(&log).await;
    let refusal = events
        .iter()
        .find(|e| e.event_type == "PaymentRefundFailed")
        .unwrap();
    match PaymentEvent::decode(&refusal.event_type, refusal.event_version, &refusal.payload) {
        Ok(PaymentEvent::PaymentRefundFailed(failed)) => {
            assert_eq!(failed.code.as_str(), "expired_card");
            assert_eq!(failed.message.as_str(), "The card has expired.");
            assert_eq!(failed.amount, Money::new(2_000, Currency::EUR));
        }
        other => panic!("{other:?}"),
    }
    shown_to_a_person(&events);
    let (payment, _) = handler.load::<Payment>(&payment_id(1)).await.unwrap();
    let payment = payment.unwrap();
    assert_eq!(
        (
            payment.refunded.amount_minor,
            payment.refund_pending().amount_minor
        ),
        (0, 0),
        "nothing refunded, nothing held back"
    );
}

async fn stripe_failing_for_a_while_is_asked_again_with_the_same_key_and_refunds_once(
    _db: &TestDatabase,
    log: EventLog,
) {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(500).set_body_json(json!({"error": {
            "type": "api_error", "message": "An unknown error occurred",
        }})))
        .up_to_n_times(3)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_json(stripe_refund(1, 2_000)))
        .mount(&server)
        .await;
    let handler = CommandHandler::new(log.clone());
    place(&handler, 1).await;
    pay_and_ask_refund(&handler, 1, 2_000).await;
    let limits = adapters::outbound::Limits {
        attempts: 8,
        circuit_failures: 10,
        ..quick_limits()
    };
    let stripe = outbound(
        &log,
        Stripe::connect(&config(&server)).await.unwrap(),
        limits.clone(),
    );
    let refunded = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for _ in 0..200 {
        run_until(
            &log,
            &stripe,
            &limits,
            std::time::Duration::from_secs(30),
            || true,
        )
        .await;
        let (payment, _) = handler.load::<Payment>(&payment_id(1)).await.unwrap();
        if payment.unwrap().refunded.amount_minor == 2_000 {
            refunded.store(true, std::sync::atomic::Ordering::Relaxed);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(
        refunded.load(std::sync::atomic::Ordering::Relaxed),
        "never refunded"
    );

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 4, "three failures, then the refund");
    let keys: std::collections::BTreeSet<String> = requests
        .iter()
        .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        keys.len(),
        1,
        "every attempt carries the same key: {keys:?}"
    );
    let refunds = events(&log)
        .await
        .into_iter()
        .filter(|e| e.event_type == "PaymentRefunded")
        .count();
    assert_eq!(refunds, 1);
}

/// Stripe's payment intent (its own fixture) for payment `n`, in `status`.
fn intent(n: u32, status: &str) -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/webhooks/stripe/fixtures3.payment_intent.json"
    );
    let mut intent: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    intent["id"] = json!(format!("pi_{n}"));
    intent["status"] = json!(status);
    intent
}

/// Payment 1 authorized at Stripe and `ask` (a void or a capture) asked of Stripe, pending
/// until Stripe answers (`pending` checks it), then the Stripe destination run against a mock
/// answering `answer`: the mock and the handler.
async fn asked_then_answered(
    log: &EventLog,
    ask: PaymentCommand,
    pending: impl Fn(&domain::payment::PaymentState) -> bool,
    answer: ResponseTemplate,
) -> (MockServer, CommandHandler) {
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(answer).mount(&server).await;
    let handler = CommandHandler::new(log.clone());
    place(&handler, 1).await;
    authorize_and_ask(&handler, 1, ask).await;
    let (payment, _) = handler.load::<Payment>(&payment_id(1)).await.unwrap();
    assert!(pending(&payment.unwrap()), "asked, not done yet");
    let limits = quick_limits();
    let stripe = outbound(
        log,
        Stripe::connect(&config(&server)).await.unwrap(),
        limits.clone(),
    );
    run_until(
        log,
        &stripe,
        &limits,
        std::time::Duration::from_secs(30),
        || true,
    )
    .await;
    (server, handler)
}

/// Payment 1's void asked of Stripe, answered with `answer`.
async fn void_answered(log: &EventLog, answer: ResponseTemplate) -> (MockServer, CommandHandler) {
    let void = PaymentCommand::RequestVoid {
        reason: domain::NonEmptyText::parse("customer changed their mind").unwrap(),
    };
    asked_then_answered(log, void, |p| !p.voided && p.void_pending, answer).await
}

/// 40 EUR of payment 1 asked to be captured at Stripe, answered with `answer`.
async fn capture_answered(
    log: &EventLog,
    answer: ResponseTemplate,
) -> (MockServer, CommandHandler) {
    let capture = PaymentCommand::RequestCapture {
        reference: ExternalRef::parse("capture-1").unwrap(),
        amount: Money::new(4_000, Currency::EUR),
    };
    let pending = |p: &domain::payment::PaymentState| {
        (p.captured.amount_minor, p.capture_pending().amount_minor) == (0, 4_000)
    };
    asked_then_answered(log, capture, pending, answer).await
}

async fn a_void_cancels_the_payment_intent_and_is_recorded_when_stripe_confirms_it(
    _db: &TestDatabase,
    log: EventLog,
) {
    let answer = ResponseTemplate::new(200).set_body_json(intent(1, "canceled"));
    let (server, handler) = void_answered(&log, answer).await;
    let calls = server.received_requests().await.unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].url.path(), "/v1/payment_intents/pi_1/cancel");
    assert!(calls[0].headers.get("idempotency-key").is_some());
    let (payment, _) = handler.load::<Payment>(&payment_id(1)).await.unwrap();
    let payment = payment.unwrap();
    assert!(
        payment.voided && !payment.void_pending,
        "voided once Stripe said so"
    );
}

async fn a_void_stripe_refuses_ends_as_a_failed_void_shown_to_a_person(
    _db: &TestDatabase,
    log: EventLog,
) {
    let refusal = ResponseTemplate::new(400).set_body_json(json!({"error": {
        "type": "invalid_request_error", "code": "payment_intent_unexpected_state",
        "message": "You cannot cancel this PaymentIntent because it has a status of succeeded.",
    }}));
    let (server, handler) = void_answered(&log, refusal).await;
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "asked once"
    );
    let (payment, _) = handler.load::<Payment>(&payment_id(1)).await.unwrap();
    let payment = payment.unwrap();
    assert!(!payment.voided && !payment.void_pending);
    let events = events(&log).await;
    assert!(events.iter().any(|e| e.event_type == "PaymentVoidFailed"));
    shown_to_a_person(&events);
}

async fn a_capture_is_made_at_stripe_once_and_its_webhook_changes_nothing(
    _db: &TestDatabase,
    log: EventLog,
) {
    let mut succeeded = intent(1, "succeeded");
    succeeded["amount_received"] = json!(4_000);
    succeeded["currency"] = json!("eur");
    succeeded["latest_charge"] = json!("ch_1");
    let answer = ResponseTemplate::new(200).set_body_json(succeeded);
    let (server, handler) = capture_answered(&log, answer).await;
    let calls = server.received_requests().await.unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].url.path(), "/v1/payment_intents/pi_1/capture");
    let body = String::from_utf8(calls[0].body.clone()).unwrap();
    assert_eq!(
        body,
        "amount_to_capture=4000&metadata%5Bcapture_id%5D=capture-1"
    );
    let requested = events(&log)
        .await
        .into_iter()
        .find(|e| e.event_type == "PaymentCaptureRequested")
        .unwrap();
    assert_eq!(
        calls[0].headers["idempotency-key"].to_str().unwrap(),
        requested.event_id.to_string()
    );
    let (payment, _) = handler.load::<Payment>(&payment_id(1)).await.unwrap();
    let payment = payment.unwrap();
    assert_eq!(
        (
            payment.captured.amount_minor,
            payment.capture_pending().amount_minor
        ),
        (4_000, 0),
        "captured once Stripe said so"
    );
    assert!(payment
        .capture_ids
        .contains(&ExternalRef::parse("ch_1").unwrap()));

    // Stripe's `payment_intent.succeeded` about the same capture, as the inbox worker reads
    // it: the same charge, recorded once.
    let before = events(&log).await.len();
    let again = handler
        .execute::<Payment>(
            &payment_id(1),
            PaymentCommand::CapturePayment {
                capture_id: ExternalRef::parse("ch_1").unwrap(),
                amount: Money::new(4_000, Currency::EUR),
                provider_reference: Some(ExternalRef::parse("pi_1").unwrap()),
            },
            &commands::CommandMeta::default(),
        )
        .await
        .unwrap();
    assert!(again.events.is_empty(), "{:?}", again.events);
    assert_eq!(events(&log).await.len(), before);
}

async fn a_capture_stripe_refuses_ends_as_a_failed_capture_shown_to_a_person(
    _db: &TestDatabase,
    log: EventLog,
) {
    let refusal = ResponseTemplate::new(400).set_body_json(json!({"error": {
        "type": "invalid_request_error", "code": "payment_intent_unexpected_state",
        "message": "This PaymentIntent could not be captured because it has a status of canceled.",
    }}));
    let (server, handler) = capture_answered(&log, refusal).await;
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "asked once"
    );
    let (payment, _) = handler.load::<Payment>(&payment_id(1)).await.unwrap();
    let payment = payment.unwrap();
    assert_eq!(
        (
            payment.captured.amount_minor,
            payment.capture_pending().amount_minor
        ),
        (0, 0)
    );
    let events = events(&log).await;
    let failed = events
        .iter()
        .find(|e| e.event_type == "PaymentCaptureFailed")
        .expect("the capture failed");
    assert_eq!(failed.payload["code"], "payment_intent_unexpected_state");
    shown_to_a_person(&events);
}
