//! Every event, published to NATS JetStream for analytics and other internal services: the
//! subject is `backoffice.events.<stream_type>.<event_type>` (the prefix is configurable), the
//! `Nats-Msg-Id` header the event id (so that JetStream drops an event sent again within its
//! duplicate window), the body the event as the log holds it. The stream (`BACKOFFICE_EVENTS`
//! unless configured) is created over `backoffice.events.>` if it is missing. One lane per log
//! stream keeps each stream's events in order.

use std::time::Duration;

use async_nats::jetstream::{self, stream::Config as StreamConfig};
use eventlog::RecordedEvent;
use secrecy::ExposeSecret as _;
use serde::Serialize;
use tokio::sync::OnceCell;
use uuid::Uuid;

use super::{
    config::EventsConfig, Answer, Destination, Facts, Limits, Needs, SendError, SetupError,
    Unmappable,
};

/// A JetStream stream.
#[derive(Debug)]
pub struct EventStream {
    context: jetstream::Context,
    stream: StreamConfig,
    prefix: String,
    created: OnceCell<()>,
}

/// An event, as published.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Published {
    /// `<subject_prefix>.<stream_type>.<event_type>`.
    pub subject: String,
    /// The body: the event as the log holds it.
    pub body: serde_json::Value,
}

impl Destination for EventStream {
    const NAME: &'static str = "events";
    const NEEDS: Needs = Needs::NOTHING;
    type Message = Published;
    type Config = EventsConfig;

    fn limits(config: &EventsConfig) -> &Limits {
        &config.limits
    }

    async fn connect(config: &EventsConfig) -> Result<Self, SetupError> {
        let valid_name = !config.stream.is_empty()
            && config
                .stream
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !valid_name {
            return Err(SetupError::new(
                Self::NAME,
                "stream must be letters, digits, _ or -",
            ));
        }
        let valid_prefix = config
            .subject_prefix
            .split('.')
            .all(|token| !token.is_empty() && token.chars().all(is_token_char));
        if !valid_prefix {
            return Err(SetupError::new(
                Self::NAME,
                "subject_prefix must be dot-separated tokens of letters, digits, _ or -",
            ));
        }
        // The credentials go to the client apart from the address, which the client logs.
        let invalid = || {
            SetupError::new(
                Self::NAME,
                "nats_url must be nats://[user:password@]host:port",
            )
        };
        let mut url = url::Url::parse(config.nats_url.expose_secret()).map_err(|_| invalid())?;
        let mut options = async_nats::ConnectOptions::new();
        if !url.username().is_empty() {
            let user = url.username().to_owned();
            let password = url.password().unwrap_or_default().to_owned();
            options = options.user_and_password(user, password);
            url.set_username("").map_err(|()| invalid())?;
            url.set_password(None).map_err(|()| invalid())?;
        }
        // Connects in the background (and keeps reconnecting): a server down at start is a
        // destination whose messages fail and wait, not a service that does not start.
        let client = options
            .retry_on_initial_connect()
            .connection_timeout(config.limits.timeout())
            .connect(url.as_str())
            .await
            .map_err(|_| invalid())?;
        Ok(Self {
            context: jetstream::new(client),
            stream: StreamConfig {
                name: config.stream.clone(),
                subjects: vec![format!("{}.>", config.subject_prefix)],
                duplicate_window: Duration::from_secs(config.duplicate_window_secs),
                ..StreamConfig::default()
            },
            created: OnceCell::new(),
            prefix: config.subject_prefix.clone(),
        })
    }

    fn lane(event: &RecordedEvent) -> Option<String> {
        Some(event.stream.to_string())
    }

    fn message(
        &self,
        event: &RecordedEvent,
        _facts: &Facts,
    ) -> Result<Option<Published>, Unmappable> {
        Ok(Some(Published {
            subject: subject(&self.prefix, event),
            body: serde_json::to_value(event).map_err(|e| Unmappable::Unreadable(e.to_string()))?,
        }))
    }

    async fn send(&self, message: &Published, key: Uuid) -> Result<Answer, SendError> {
        let failed = |what: &str, error: &dyn std::error::Error| {
            SendError::failed(None, format!("{what}: {}", eventlog::error_chain(error)))
        };
        self.created
            .get_or_try_init(|| async {
                self.context
                    .get_or_create_stream(self.stream.clone())
                    .await
                    .map(|_| ())
            })
            .await
            .map_err(|e| failed("creating the stream", &e))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert(
            async_nats::header::NATS_MESSAGE_ID,
            key.to_string().as_str(),
        );
        if let Some(traceparent) = eventlog::trace::current_traceparent() {
            headers.insert(eventlog::trace::TRACEPARENT, traceparent.as_str());
        }
        let body = serde_json::to_vec(&message.body).unwrap_or_default();
        let ack = self
            .context
            .publish_with_headers(message.subject.clone(), headers, body.into())
            .await
            .map_err(|e| failed("publishing", &e))?
            .await
            .map_err(|e| failed("waiting for the acknowledgement", &e))?;
        Ok(Answer {
            status: None,
            body: Some(format!(
                "stream {} sequence {}{}",
                ack.stream,
                ack.sequence,
                if ack.duplicate { " (duplicate)" } else { "" }
            )),
            json: None,
        })
    }
}

/// `<prefix>.<stream_type>.<event_type>`, each part reduced to the characters a NATS subject
/// token may hold.
pub fn subject(prefix: &str, event: &RecordedEvent) -> String {
    let token = |text: &str| -> String {
        text.chars()
            .map(|c| if is_token_char(c) { c } else { '_' })
            .collect()
    };
    format!(
        "{prefix}.{}.{}",
        token(&event.stream.aggregate_type),
        token(&event.event_type)
    )
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}
