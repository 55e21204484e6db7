//! The exact requests each HTTP partner receives from the engine, against a real HTTP server
//! (wiremock): method, path, headers (the idempotency key is the event's id; the signature
//! verifies with the partner's copy of our secret) and body, pinned with insta.
#![allow(clippy::unwrap_used)]

use adapters::{
    inbound::signature::{StandardWebhookHeaders, StandardWebhooksVerifier},
    outbound::{
        config::{CrmConfig, ErpConfig, SmsConfig, StripeConfig},
        crm::Crm,
        erp::Erp,
        sms::Sms,
        stripe::Stripe,
        Destination,
    },
};
use commands::CommandHandler;
use domain::{
    order::{Order, OrderEvent},
    payment::Payment,
    Currency, ExternalRef, Money,
};
use eventlog::{testing::TestDatabase, EventLog, RecordedEvent};
use serde_json::{json, Value};
use wiremock::{matchers::any, Mock, MockServer, Request, ResponseTemplate};

use crate::support::*;

eventlog::on_both_backends!(
    the_erp_receives_signed_orders_and_its_sales_order_number_is_recorded,
    the_crm_receives_an_activity_with_its_token,
    the_sms_provider_receives_a_form_with_basic_auth,
    stripe_receives_a_refund_form_with_the_key_and_pinned_version_and_its_refund_is_recorded,
);

const ERP_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The request as a partner sees it, with what varies per run checked and then replaced:
/// the idempotency key and `webhook-id` must be `event`'s id, a `webhook-timestamp` must be
/// within a minute of now.
fn seen(request: &Request, event: &RecordedEvent) -> Value {
    let mut headers = serde_json::Map::new();
    for (name, value) in &request.headers {
        let name = name.as_str();
        if matches!(
            name,
            "host" | "content-length" | "accept" | "accept-encoding"
        ) {
            continue;
        }
        let value = value.to_str().unwrap().to_owned();
        let shown = match name {
            "idempotency-key" | "webhook-id" => {
                assert_eq!(value, event.event_id.to_string(), "{name}");
                "[the event's id]".to_owned()
            }
            "webhook-timestamp" => {
                let at: i64 = value.parse().unwrap();
                assert!((chrono::Utc::now().timestamp() - at).abs() < 60, "{value}");
                "[now]".to_owned()
            }
            "webhook-signature" => "[verified]".to_owned(),
            _ => value,
        };
        headers.insert(name.to_owned(), json!(shown));
    }
    let body = match serde_json::from_slice::<Value>(&request.body) {
        Ok(json) => json,
        Err(_) => json!(String::from_utf8(request.body.clone()).unwrap()),
    };
    let mut text = serde_json::to_string(&json!({
        "method": request.method.as_str(),
        "path": request.url.path(),
        "headers": headers,
        "body": body,
    }))
    .unwrap();
    text = text.replace(&event.event_id.to_string(), "[the event's id]");
    let recorded = serde_json::to_value(event.recorded_at).unwrap();
    text = text.replace(recorded.as_str().unwrap(), "[recorded_at]");
    let mut value: Value = serde_json::from_str(&text).unwrap();
    for time in ["/body/data/placed_at", "/body/occurred_at"] {
        if let Some(at) = value.pointer_mut(time) {
            *at = json!("[time]");
        }
    }
    value
}

async fn partner(status: u16, body: Value) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(&server)
        .await;
    server
}

/// Runs `destination` over the log and answers the one request its partner `server` received.
async fn the_request<D: Destination>(
    log: &EventLog,
    destination: D,
    server: &MockServer,
) -> Request {
    let limits = quick_limits();
    let running = outbound(log, destination, limits.clone());
    run_until(
        log,
        &running,
        &limits,
        std::time::Duration::from_secs(30),
        || true,
    )
    .await;
    let mut requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    requests.remove(0)
}

async fn first_of(log: &EventLog, event_type: &str) -> RecordedEvent {
    events(log)
        .await
        .into_iter()
        .find(|e| e.event_type == event_type)
        .unwrap()
}

async fn the_erp_receives_signed_orders_and_its_sales_order_number_is_recorded(
    _db: &TestDatabase,
    log: EventLog,
) {
    let server = partner(201, json!({"sales_order_number": "SO-1001"})).await;
    let config: ErpConfig = serde_json::from_value(json!({
        "base_url": format!("{}/api", server.uri()), "secret": ERP_SECRET,
    }))
    .unwrap();
    let handler = CommandHandler::new(log.clone());
    place(&handler, 1).await;
    let request = &the_request(&log, Erp::connect(&config).await.unwrap(), &server).await;
    let placed = first_of(&log, "OrderPlaced").await;
    // The ERP verifies us as we verify it.
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok());
    StandardWebhooksVerifier::new(ERP_SECRET)
        .unwrap()
        .verify(
            &StandardWebhookHeaders::from_lookup(header),
            &request.body,
            chrono::Utc::now(),
        )
        .unwrap();
    insta::assert_json_snapshot!("erp_request", seen(request, &placed));

    let (order, _) = handler.load::<Order>(&order_id(1)).await.unwrap();
    assert_eq!(
        order.unwrap().sales_order_number.map(|n| n.to_string()),
        Some("SO-1001".to_owned())
    );
    let recorded = first_of(&log, "OrderSalesOrderRecorded").await;
    assert_eq!(
        recorded.metadata.causation_id,
        Some(placed.event_id.to_string()),
        "the record names the event its message was for"
    );
    assert!(matches!(
        domain::EventCodec::decode(
            &recorded.event_type,
            recorded.event_version,
            &recorded.payload
        ),
        Ok(OrderEvent::OrderSalesOrderRecorded(_))
    ));
}

async fn the_crm_receives_an_activity_with_its_token(_db: &TestDatabase, log: EventLog) {
    let server = partner(200, json!({"id": "act_1"})).await;
    let config: CrmConfig = serde_json::from_value(json!({
        "base_url": server.uri(), "token": "crm-secret-token",
    }))
    .unwrap();
    let handler = CommandHandler::new(log.clone());
    place(&handler, 1).await;
    let request = the_request(&log, Crm::connect(&config).await.unwrap(), &server).await;
    let placed = first_of(&log, "OrderPlaced").await;
    insta::assert_json_snapshot!("crm_request", seen(&request, &placed));
}

async fn the_sms_provider_receives_a_form_with_basic_auth(_db: &TestDatabase, log: EventLog) {
    let server = partner(201, json!({"sid": "SM1", "status": "queued"})).await;
    let config: SmsConfig = serde_json::from_value(json!({
        "base_url": server.uri(), "account_sid": "AC0123456789", "auth_token": "sms-token",
        "from": "+15005550006",
    }))
    .unwrap();
    let handler = CommandHandler::new(log.clone());
    contact(&log, "ana@example.com", Some("+4915112345678")).await;
    place(&handler, 1).await;
    ship(&handler, 1, ShipTo::OutForDelivery).await;
    let request = the_request(&log, Sms::connect(&config).await.unwrap(), &server).await;
    let out = first_of(&log, "ShipmentOutForDelivery").await;
    assert_eq!(
        Sms::lane(&out),
        Some(format!("shipment/{}", shipment_id(1))),
        "a parcel's messages go in order"
    );
    insta::assert_json_snapshot!("sms_request", seen(&request, &out));
}

async fn stripe_receives_a_refund_form_with_the_key_and_pinned_version_and_its_refund_is_recorded(
    _db: &TestDatabase,
    log: EventLog,
) {
    let server = partner(200, stripe_refund(1, 2_000)).await;
    let config: StripeConfig = serde_json::from_value(json!({
        "base_url": server.uri(), "secret_key": "sk_test_backoffice",
    }))
    .unwrap();
    let handler = CommandHandler::new(log.clone());
    place(&handler, 1).await;
    pay_and_ask_refund(&handler, 1, 2_000).await;
    let request = the_request(&log, Stripe::connect(&config).await.unwrap(), &server).await;
    let asked = first_of(&log, "PaymentRefundRequested").await;
    insta::assert_json_snapshot!("stripe_request", seen(&request, &asked));

    let (payment, _) = handler.load::<Payment>(&payment_id(1)).await.unwrap();
    let payment = payment.unwrap();
    let eur = |minor| Money::new(minor, Currency::EUR);
    assert_eq!(
        (payment.refunded, payment.refund_pending()),
        (eur(2_000), eur(0)),
        "refunded once Stripe said so, nothing held back any more"
    );
    assert!(payment
        .refund_ids
        .contains(&ExternalRef::parse("re_1Pgc72B7WZ01zgkWqPvrRrPE").unwrap()));
}
