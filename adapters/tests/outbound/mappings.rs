//! Every mapping, pinned: for each destination, the message each event type it takes becomes
//! (ids and times of the run redacted), from events made by the command handler and the facts
//! the engine loads for them.
#![allow(clippy::unwrap_used)]

use adapters::outbound::{
    config::{CrmConfig, EmailConfig, ErpConfig, EventsConfig, SmsConfig, StripeConfig},
    crm::Crm,
    email::Email,
    erp::Erp,
    sms::Sms,
    stream::EventStream,
    stripe::Stripe,
    Destination, Facts, Unmappable,
};
use commands::CommandHandler;
use eventlog::{testing::TestDatabase, EventLog};
use serde_json::{json, Value};

use crate::support::*;

eventlog::on_both_backends!(
    each_destination_maps_each_event_type_it_takes_and_no_other,
    a_message_without_the_customers_address_waits_for_it,
);

/// Order 1 paid, partly refunded, shipped and delivered; order 2 cancelled; order 3's parcel
/// out for delivery and not delivered; order 4 paid at Stripe and a refund asked of Stripe.
async fn history(log: &EventLog) -> Vec<eventlog::RecordedEvent> {
    let handler = CommandHandler::new(log.clone());
    place(&handler, 1).await;
    pay_and_refund(&handler, 1, 1_000).await;
    ship(&handler, 1, ShipTo::Delivered).await;
    place(&handler, 2).await;
    cancel(&handler, 2).await;
    place(&handler, 3).await;
    ship(&handler, 3, ShipTo::DeliveryFailed).await;
    place(&handler, 4).await;
    pay_and_ask_refund(&handler, 4, 2_000).await;
    events(log).await
}

/// What `destination` makes of each event of `history`, by event type and order of appearance,
/// with the run's ids and times replaced by names.
async fn mapped<D: Destination>(
    log: &EventLog,
    events: &[eventlog::RecordedEvent],
    destination: &D,
) -> Value {
    let handler = CommandHandler::new(log.clone());
    let mut out = Vec::new();
    for event in events {
        let Some(lane) = D::lane(event) else { continue };
        let facts = Facts::load(&handler, event, D::NEEDS).await.unwrap();
        let message = match destination.message(event, &facts) {
            Ok(message) => serde_json::to_value(message).unwrap(),
            Err(unmappable) => json!({"unmappable": unmappable.to_string()}),
        };
        out.push(json!({
            "event": format!("{} of {}", event.event_type, event.stream),
            "lane": lane,
            "message": message,
        }));
    }
    // The log's own ids and times of this run.
    let mut text = serde_json::to_string_pretty(&out).unwrap();
    for event in events {
        text = text.replace(
            &event.event_id.to_string(),
            &format!("event-{}", event.position),
        );
        let times = [
            event
                .recorded_at
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            serde_json::to_value(event.recorded_at)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned(),
        ];
        for time in times {
            text = text.replace(&time, "[recorded_at]");
        }
    }
    redact_times(serde_json::from_str(&text).unwrap())
}

/// Times the domain took from the clock (`placed_at`, `cancelled_at`, …) as `[time]`.
fn redact_times(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let redacted = key.ends_with("_at") && value.is_string();
                    (
                        key,
                        if redacted {
                            json!("[time]")
                        } else {
                            redact_times(value)
                        },
                    )
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redact_times).collect()),
        other => other,
    }
}

fn config<T: serde::de::DeserializeOwned>(value: Value) -> T {
    serde_json::from_value(value).unwrap()
}

async fn each_destination_maps_each_event_type_it_takes_and_no_other(
    _db: &TestDatabase,
    log: EventLog,
) {
    contact(&log, "ana@example.com", Some("+4915112345678")).await;
    let erp = Erp::connect(&config::<ErpConfig>(json!({
        "base_url": "http://erp.test/api", "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    })))
    .await
    .unwrap();
    let crm = Crm::connect(&config::<CrmConfig>(json!({
        "base_url": "http://crm.test", "token": "crm-token"
    })))
    .await
    .unwrap();
    let email = Email::connect(&config::<EmailConfig>(json!({
        "smtp_url": "smtp://127.0.0.1:2525", "from": "Teapot Shop <orders@teapots.example>"
    })))
    .await
    .unwrap();
    let sms = Sms::connect(&config::<SmsConfig>(json!({
        "base_url": "http://sms.test", "account_sid": "AC123", "auth_token": "t",
        "from": "+15005550006"
    })))
    .await
    .unwrap();
    let stream = EventStream::connect(&config::<EventsConfig>(json!({
        "nats_url": "nats://127.0.0.1:4222"
    })))
    .await
    .unwrap();
    let events = history(&log).await;
    let erp = mapped(&log, &events, &erp).await;
    insta::assert_json_snapshot!("erp", erp);
    let crm = mapped(&log, &events, &crm).await;
    insta::assert_json_snapshot!("crm", crm);
    let email = mapped(&log, &events, &email).await;
    insta::assert_json_snapshot!("email", email);
    let sms = mapped(&log, &events, &sms).await;
    insta::assert_json_snapshot!("sms", sms);
    let stripe = Stripe::connect(&config::<StripeConfig>(json!({"secret_key": "sk_test_t"})))
        .await
        .unwrap();
    let stripe = mapped(&log, &events, &stripe).await;
    insta::assert_json_snapshot!("stripe", stripe);
    let stream = mapped(&log, &events, &stream).await;
    let all = stream.as_array().unwrap();
    assert_eq!(all.len(), events.len(), "every event goes to the stream");
    insta::assert_json_snapshot!("events_first", all[0]);
}

async fn a_message_without_the_customers_address_waits_for_it(_db: &TestDatabase, log: EventLog) {
    let handler = CommandHandler::new(log.clone());
    place(&handler, 1).await;
    let email = Email::connect(&config::<EmailConfig>(json!({
        "smtp_url": "smtp://127.0.0.1:2525", "from": "orders@teapots.example"
    })))
    .await
    .unwrap();
    let placed = events(&log).await.remove(0);
    let facts = Facts::load(&handler, &placed, Email::NEEDS).await.unwrap();
    assert_eq!(
        email.message(&placed, &facts),
        Err(Unmappable::Missing(format!(
            "no e-mail address for customer {CUSTOMER}: the CRM has not sent their contact"
        )))
    );
}
