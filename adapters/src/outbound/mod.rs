//! Outbound integrations: the log drives the partners (ERP, CRM, e-mail, SMS, the event
//! stream). The log is the outbox: each destination is a subscriber of it (`outbound.<name>`),
//! so there is no second queue and no dual write (ADR 0011).
//!
//! A destination says which events it sends something for and in which lane
//! ([`Destination::lane`]), maps an event and the facts it needs to a message with a pure
//! function ([`Destination::message`], snapshotted in its tests) and sends it
//! ([`Destination::send`]) with the event's id as the idempotency key the partner sees. The
//! [`engine`] does the rest for every destination alike: the rate limit, the timeout, the
//! circuit breaker, the pause a partner asks for, the record of every attempt, the retries with
//! backoff and the parking (an attention item) through the log's subscriber steps, and what the
//! back office records of an answer ([`Destination::follow_up`]).

pub mod config;
pub mod crm;
pub mod easypost;
pub mod email;
pub mod engine;
pub mod erp;
mod facts;
pub mod http;
pub mod sms;
pub mod status;
pub mod stream;
pub mod stripe;

use std::{fmt, future::Future, time::Duration};

use domain::{
    order::OrderCommand, payment::PaymentCommand, shipment::ShipmentCommand, OrderId, PaymentId,
    ShipmentId,
};
use eventlog::RecordedEvent;
use serde::Serialize;
use uuid::Uuid;

pub use config::Limits;
pub use engine::Outbound;
pub use facts::{Contact, Facts, Needs};

/// A partner the log drives.
pub trait Destination: Send + Sync + Sized + 'static {
    /// Its name: its configuration section (`outbound.<name>`), its subscriber
    /// (`outbound.<name>`), its attempts and its status.
    const NAME: &'static str;
    /// What the engine loads for [`Destination::message`] beyond the event.
    const NEEDS: Needs;
    /// A message, as the mapping makes it.
    type Message: Serialize + fmt::Debug + Send + Sync;
    /// Its configuration section.
    type Config: fmt::Debug + Send + Sync;

    /// The limits in its configuration.
    fn limits(config: &Self::Config) -> &Limits;

    /// Sets it up from its configuration (no call to the partner is made yet).
    fn connect(config: &Self::Config) -> impl Future<Output = Result<Self, SetupError>> + Send;

    /// The lane of `event`'s message: messages of one lane arrive in log order, and one parked
    /// holds back the later ones of its lane only. `None`: it sends nothing for `event`.
    fn lane(event: &RecordedEvent) -> Option<String>;

    /// The message for `event`, given `facts` and its configuration (pure: no call, no
    /// clock). `Ok(None)`: nothing to send after all.
    fn message(
        &self,
        event: &RecordedEvent,
        facts: &Facts,
    ) -> Result<Option<Self::Message>, Unmappable>;

    /// Sends `message`, with `key` (the event's id) as the idempotency key the partner sees.
    fn send(
        &self,
        message: &Self::Message,
        key: Uuid,
    ) -> impl Future<Output = Result<Answer, SendError>> + Send;

    /// What the back office records of the partner's answer to `event`'s message (pure); an
    /// answer it cannot use is a refusal a person looks at.
    fn follow_up(_event: &RecordedEvent, _answer: &Answer) -> Result<Option<FollowUp>, String> {
        Ok(None)
    }

    /// What the back office records when the partner refuses `event`'s message for good (a 4xx
    /// that sending again cannot change, such as a card error): `Some` ends the message there,
    /// recorded, and shown to a person as a refused step; `None` (the default) retries it and
    /// parks it after its attempts, as a partner that may yet take it.
    fn refused(_event: &RecordedEvent, _refusal: &SendError) -> Option<FollowUp> {
        None
    }
}

/// Why there is no message for an event yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmappable {
    /// What the message needs and the back office does not know yet (a customer's e-mail
    /// address, which the CRM owns): it waits for it, as an attention item, and goes out once
    /// it is known.
    #[error("{0}")]
    Missing(String),
    /// The event cannot be read (a stored format this version does not know): a failure,
    /// retried and parked.
    #[error("{0}")]
    Unreadable(String),
}

/// `event` read as an event of aggregate `E` (`None` for another aggregate's).
pub fn decode<E: domain::EventCodec>(event: &RecordedEvent) -> Result<Option<E>, Unmappable> {
    if event.stream.aggregate_type != E::AGGREGATE_TYPE {
        return Ok(None);
    }
    E::decode(&event.event_type, event.event_version, &event.payload)
        .map(Some)
        .map_err(|e| Unmappable::Unreadable(e.to_string()))
}

/// A partner's answer to a message it took.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Answer {
    /// Its status code (HTTP, or SMTP's reply code).
    pub status: Option<i32>,
    /// The start of its body (at most 1 KiB).
    pub body: Option<String>,
    /// Its body, when it is JSON.
    pub json: Option<serde_json::Value>,
}

/// Why a message did not reach the partner.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// The partner refused this message (a 4xx): it will not take it as it is. The message is
    /// retried with backoff and parked after its attempts.
    Rejected {
        /// Its status code.
        status: Option<i32>,
        /// What went wrong.
        error: String,
        /// The start of its answer.
        answer: Option<String>,
    },
    /// The partner, or the way to it, failed (a 5xx, a timeout, no connection): counts against
    /// its circuit.
    Failed {
        /// Its status code, if it answered.
        status: Option<i32>,
        /// What went wrong.
        error: String,
        /// The start of its answer.
        answer: Option<String>,
        /// How long it asked us to wait, if it did.
        retry_after: Option<Duration>,
    },
    /// The partner asked us to slow down (a 429): the destination pauses for `retry_after`.
    Throttled {
        /// Its status code.
        status: Option<i32>,
        /// How long it asked us to wait, if it said.
        retry_after: Option<Duration>,
        /// The start of its answer.
        answer: Option<String>,
    },
}

impl SendError {
    /// A refusal without an answer.
    pub fn rejected(status: Option<i32>, error: impl Into<String>) -> Self {
        Self::Rejected {
            status,
            error: error.into(),
            answer: None,
        }
    }

    /// A failure without an answer.
    pub fn failed(status: Option<i32>, error: impl Into<String>) -> Self {
        Self::Failed {
            status,
            error: error.into(),
            answer: None,
            retry_after: None,
        }
    }

    /// The one-line description an attempt records.
    pub fn describe(&self) -> String {
        match self {
            Self::Rejected { error, .. } => format!("refused: {error}"),
            Self::Failed { error, .. } => format!("failed: {error}"),
            Self::Throttled { retry_after, .. } => match retry_after {
                Some(delay) => format!("throttled: asked to wait {} s", delay.as_secs()),
                None => "throttled".to_owned(),
            },
        }
    }
}

/// A command the back office records because of a partner's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowUp {
    /// To an order (the ERP's sales-order number).
    Order {
        /// The order.
        order_id: OrderId,
        /// The command.
        command: OrderCommand,
    },
    /// To a payment (the provider's word on a refund asked of it).
    Payment {
        /// The payment.
        payment_id: PaymentId,
        /// The command.
        command: PaymentCommand,
    },
    /// To a shipment (the carrier integration's word on a label asked of it).
    Shipment {
        /// The shipment.
        shipment_id: ShipmentId,
        /// The command.
        command: ShipmentCommand,
    },
}

/// Why a destination could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("outbound.{destination}: {reason}")]
pub struct SetupError {
    /// The destination.
    pub destination: &'static str,
    /// Why.
    pub reason: String,
}

impl SetupError {
    /// `destination` cannot be set up, for `reason`.
    pub fn new(destination: &'static str, reason: impl fmt::Display) -> Self {
        Self {
            destination,
            reason: reason.to_string(),
        }
    }
}

/// At most the first 1 KiB of `text`, cut at a character boundary.
pub fn excerpt(text: &str) -> String {
    let mut end = text.len().min(engine::ANSWER_EXCERPT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// For an event of one of `types`: the lane of the order it concerns (`order/<id>`), else of
/// its own stream. Messages about one order go in log order.
pub fn order_lane(event: &RecordedEvent, types: &[&str]) -> Option<String> {
    if !types.contains(&event.event_type.as_str()) {
        return None;
    }
    Some(match commands::attention::order_of(event) {
        Some(order) => format!("order/{order}"),
        None => event.stream.to_string(),
    })
}

/// Declares every destination once: its configuration section, its name for the status, its
/// task for `serve`, its lanes for a person's retry. Adding one is its module and one line
/// here.
macro_rules! destinations {
    ($($(#[$doc:meta])* $field:ident: $destination:ty),* $(,)?) => {
        /// Every destination's section (`[outbound.<name>]`); a destination without one is off.
        #[derive(Debug, Clone, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct OutboundConfig {
            $($(#[$doc])* pub $field: Option<<$destination as Destination>::Config>,)*
        }

        /// The names of every destination (configured or not).
        pub const NAMES: &[&str] = &[$(<$destination as Destination>::NAME),*];

        impl OutboundConfig {
            /// Whether destination `name` is configured.
            pub fn is_configured(&self, name: &str) -> bool {
                $(if name == <$destination as Destination>::NAME {
                    return self.$field.is_some();
                })*
                false
            }

            /// The first limit out of range of a configured destination: its key under
            /// `outbound.`, and why.
            pub fn check(&self) -> Result<(), (String, &'static str)> {
                $(if let Some(section) = &self.$field {
                    <$destination as Destination>::limits(section).check().map_err(|(key, why)| {
                        (format!("{}.limits.{key}", stringify!($field)), why)
                    })?;
                })*
                Ok(())
            }
        }

        /// Sets up every configured destination and runs it in `workers`, each under its claim.
        pub async fn spawn_configured(
            handler: &commands::CommandHandler,
            config: &OutboundConfig,
            workers: &mut tokio::task::JoinSet<()>,
        ) -> Result<(), SetupError> {
            $(
                if let Some(section) = &config.$field {
                    let limits = <$destination as Destination>::limits(section).clone();
                    let destination = <$destination>::connect(section).await?;
                    let options = limits.subscription();
                    let outbound = Outbound::new(handler.clone(), destination, limits);
                    let log = handler.log().clone();
                    workers.spawn(async move { log.run(&outbound, &options).await });
                }
            )*
            Ok(())
        }

        /// The lane of `event` for subscriber `name`, if `name` is a destination's.
        pub fn lane_of(name: &str, event: &RecordedEvent) -> Option<String> {
            $(
                if name == engine::subscriber_name(<$destination as Destination>::NAME) {
                    return <$destination as Destination>::lane(event);
                }
            )*
            None
        }
    };
}

destinations! {
    /// The ERP's sales-order API.
    erp: erp::Erp,
    /// The CRM's activity API.
    crm: crm::Crm,
    /// Customer e-mail over SMTP.
    email: email::Email,
    /// Text messages over the SMS provider's HTTP API.
    sms: sms::Sms,
    /// Every event, to NATS JetStream.
    events: stream::EventStream,
    /// Refunds and voids, executed at Stripe.
    stripe: stripe::Stripe,
    /// Labels, bought at EasyPost.
    easypost: easypost::EasyPost,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_destination_is_configured_under_its_own_name() {
        let names: Vec<&str> = NAMES.to_vec();
        assert_eq!(
            names,
            ["erp", "crm", "email", "sms", "events", "stripe", "easypost"]
        );
        let config: OutboundConfig = serde_json::from_value(serde_json::json!({
            "crm": {"base_url": "http://crm.test", "token": "t"},
        }))
        .unwrap_or_default();
        let configured: Vec<&str> = NAMES
            .iter()
            .copied()
            .filter(|name| config.is_configured(name))
            .collect();
        assert_eq!(configured, ["crm"]);
    }

    #[test]
    fn no_secret_shows_in_the_configuration_as_printed() {
        let config: OutboundConfig = serde_json::from_value(serde_json::json!({
            "erp": {"base_url": "http://erp.test", "secret": "whsec_c2VjcmV0LWVycA=="},
            "crm": {"base_url": "http://crm.test", "token": "crm-s3cret"},
            "email": {"smtp_url": "smtp://u:mail-s3cret@mail.test", "from": "a@b.test"},
            "sms": {"base_url": "http://sms.test", "account_sid": "AC1",
                    "auth_token": "sms-s3cret", "from": "+15005550006"},
            "events": {"nats_url": "nats://u:nats-s3cret@nats.test:4222"},
            "stripe": {"secret_key": "sk_live_s3cret"},
            "easypost": {"api_key": "EZAK_s3cret",
                         "parcel": {"length_in": 1, "width_in": 1, "height_in": 1, "weight_oz": 1},
                         "from_address": {"name": "W", "street1": "1 Dock Rd", "city": "Austin",
                                          "zip": "78701", "country": "US"}},
        }))
        .unwrap_or_default();
        assert!(
            config.is_configured("events")
                && config.is_configured("stripe")
                && config.is_configured("easypost")
        );
        let printed = format!("{config:?}");
        for secret in [
            "c2VjcmV0",
            "crm-s3cret",
            "mail-s3cret",
            "sms-s3cret",
            "nats-s3cret",
            "sk_live_s3cret",
            "EZAK_s3cret",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
    }

    #[test]
    fn an_unknown_section_or_key_is_refused() {
        for value in [
            serde_json::json!({"fax": {}}),
            serde_json::json!({"crm": {"base_url": "http://crm.test", "token": "t", "tokn": "x"}}),
        ] {
            assert!(serde_json::from_value::<OutboundConfig>(value).is_err());
        }
    }
}
