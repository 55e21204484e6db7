//! Messages to partners with an HTTP API (the ERP, the CRM, the SMS provider): the request a
//! mapping makes (pure, snapshotted), and how it is sent and its answer read. Every request
//! carries the event's id as `Idempotency-Key`; credentials are added here, at sending, and
//! never appear in a message, an attempt or an error.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret as _, SecretString};
use serde::Serialize;
use uuid::Uuid;

use super::{Answer, Limits, SendError, SetupError};
use crate::inbound::signature::{standard, StandardWebhooksVerifier};

/// The header every request carries the event's id in.
pub const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// A request to a partner, before its credentials.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpMessage {
    /// `POST`, `PUT`, ….
    pub method: &'static str,
    /// The path under the partner's base URL.
    pub path: String,
    /// The body.
    pub body: HttpBody,
}

/// A request body.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpBody {
    /// `application/json`.
    Json(serde_json::Value),
    /// `application/x-www-form-urlencoded`, the pairs in order.
    Form(Vec<(String, String)>),
    /// None (a `GET`).
    Empty,
}

impl HttpBody {
    fn content_type(&self) -> Option<&'static str> {
        match self {
            Self::Json(_) => Some("application/json"),
            Self::Form(_) => Some("application/x-www-form-urlencoded"),
            Self::Empty => None,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        match self {
            Self::Json(value) => serde_json::to_vec(value).unwrap_or_default(),
            Self::Form(pairs) => form_urlencoded::Serializer::new(String::new())
                .extend_pairs(pairs)
                .finish()
                .into_bytes(),
            Self::Empty => Vec::new(),
        }
    }
}

/// How a partner knows the request is ours.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// `Authorization: Bearer <token>`.
    Bearer(SecretString),
    /// `Authorization: Basic` with a user and a password.
    Basic {
        /// The user (an account id; not a secret).
        user: String,
        /// The password or token.
        password: SecretString,
    },
    /// `Authorization: Basic` with the key as the user and no password (EasyPost).
    KeyAsUser(SecretString),
    /// Signed as a Standard Webhooks sender with our secret: `webhook-id` (the event id),
    /// `webhook-timestamp`, `webhook-signature`.
    StandardWebhooks(SecretString),
}

/// A partner's HTTP API.
#[derive(Debug, Clone)]
pub struct HttpPartner {
    client: reqwest::Client,
    base_url: String,
    credentials: Credentials,
    signer: Option<StandardWebhooksVerifier>,
    /// Headers every request carries (an API version the partner is pinned to).
    fixed: Vec<(&'static str, &'static str)>,
}

impl HttpPartner {
    /// Destination `name`'s partner at `base_url` (requests go to `base_url` + a message's
    /// path), known by `credentials`, each request given up after `limits`' timeout. Redirects
    /// are not followed: a partner that moved is a refusal a person reads.
    pub fn new(
        name: &'static str,
        base_url: &str,
        credentials: Credentials,
        limits: &Limits,
    ) -> Result<Self, SetupError> {
        let refused = |why: String| SetupError::new(name, why);
        let parsed = url::Url::parse(base_url)
            .map_err(|_| refused("base_url must be an absolute http or https URL".to_owned()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.cannot_be_a_base() {
            return Err(refused(
                "base_url must be an absolute http or https URL".to_owned(),
            ));
        }
        let signer = match &credentials {
            Credentials::StandardWebhooks(secret) => Some(
                StandardWebhooksVerifier::new(secret.expose_secret())
                    .map_err(|e| refused(format!("secret: {e}")))?,
            ),
            _ => None,
        };
        let client = reqwest::Client::builder()
            .timeout(limits.timeout())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("backoffice/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| refused(format!("the HTTP client: {e}")))?;
        Ok(Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            credentials,
            signer,
            fixed: Vec::new(),
        })
    }

    /// The same partner, every request also carrying header `name: value`.
    #[must_use]
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Self {
        self.fixed.push((name, value));
        self
    }

    /// Sends `message` with `key` as its idempotency key; reads the answer.
    pub async fn send(&self, message: &HttpMessage, key: Uuid) -> Result<Answer, SendError> {
        let body = message.body.bytes();
        let method = reqwest::Method::from_bytes(message.method.as_bytes())
            .map_err(|_| SendError::rejected(None, format!("no HTTP method {}", message.method)))?;
        let url = format!("{}{}", self.base_url, message.path);
        let key = key.to_string();
        let mut request = self
            .client
            .request(method, url)
            .header(IDEMPOTENCY_KEY, &key);
        if let Some(content_type) = message.body.content_type() {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        let request = self.authenticated(request, &key, &body);
        let response = request.body(body).send().await.map_err(|error| {
            // Without the URL: it may carry credentials.
            SendError::failed(None, eventlog::error_chain(&error.without_url()))
        })?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, Utc::now()));
        let text = response.text().await.unwrap_or_default();
        classify(status.as_u16(), retry_after, &text)
    }

    /// A `GET` of `path` under the base URL with `query`, carrying what every request to this
    /// partner carries (its fixed headers, the trace, its credentials: signed as a Standard
    /// Webhooks sender over the empty body under a fresh message id), for the caller to send
    /// and read itself (its status and headers: an `ETag`, a `304`). Used to pull lists from
    /// the partner (the ERP's catalog, `inbound::catalog_pull`).
    pub fn get(&self, path: &str, query: &[(&str, String)]) -> reqwest::RequestBuilder {
        let request = self
            .client
            .get(format!("{}{}", self.base_url, path))
            .query(query);
        self.authenticated(request, &Uuid::new_v4().to_string(), b"")
    }

    /// `request` with the fixed headers, the current trace and the credentials; `id` is the
    /// message id a Standard Webhooks signature covers, with `body`.
    fn authenticated(
        &self,
        mut request: reqwest::RequestBuilder,
        id: &str,
        body: &[u8],
    ) -> reqwest::RequestBuilder {
        for (name, value) in &self.fixed {
            request = request.header(*name, *value);
        }
        if let Some(traceparent) = eventlog::trace::current_traceparent() {
            request = request.header(eventlog::trace::TRACEPARENT, traceparent);
        }
        match (&self.credentials, &self.signer) {
            (Credentials::Bearer(token), _) => request.bearer_auth(token.expose_secret()),
            (Credentials::Basic { user, password }, _) => {
                request.basic_auth(user, Some(password.expose_secret()))
            }
            (Credentials::KeyAsUser(key), _) => {
                request.basic_auth(key.expose_secret(), None::<&str>)
            }
            (Credentials::StandardWebhooks(_), Some(signer)) => {
                let timestamp = Utc::now().timestamp();
                request
                    .header(standard::ID_HEADER, id)
                    .header(standard::TIMESTAMP_HEADER, timestamp.to_string())
                    .header(standard::SIGNATURE_HEADER, signer.sign(id, timestamp, body))
            }
            (Credentials::StandardWebhooks(_), None) => request,
        }
    }
}

/// What an answer with `status` means.
pub fn classify(
    status: u16,
    retry_after: Option<Duration>,
    text: &str,
) -> Result<Answer, SendError> {
    let code = Some(i32::from(status));
    let answer = Some(super::excerpt(text));
    match status {
        200..=299 => Ok(Answer {
            status: code,
            body: answer,
            json: serde_json::from_str(text).ok(),
        }),
        429 => Err(SendError::Throttled {
            status: code,
            retry_after,
            answer,
        }),
        408 | 500..=599 => Err(SendError::Failed {
            status: code,
            error: format!("answered {status}"),
            answer,
            retry_after,
        }),
        _ => Err(SendError::Rejected {
            status: code,
            error: format!("answered {status}"),
            answer,
        }),
    }
}

/// A `Retry-After` value (seconds, or an HTTP date) as a delay from `now`.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&Utc) - now).to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let now = DateTime::parse_from_rfc3339("2026-11-29T12:00:00Z")
            .unwrap_or_default()
            .with_timezone(&Utc);
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Sun, 29 Nov 2026 12:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Sun, 29 Nov 2026 11:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
        assert_eq!(retry_after("-1", now), None);
    }

    #[test]
    fn answers_are_taken_refused_throttled_or_failed() {
        assert!(classify(201, None, "{}").is_ok());
        assert!(matches!(
            classify(400, None, "bad"),
            Err(SendError::Rejected {
                status: Some(400),
                ..
            })
        ));
        assert!(matches!(
            classify(429, Some(Duration::from_secs(2)), ""),
            Err(SendError::Throttled {
                retry_after: Some(_),
                ..
            })
        ));
        for status in [408, 500, 502, 503] {
            assert!(matches!(
                classify(status, None, ""),
                Err(SendError::Failed { .. })
            ));
        }
        assert!(matches!(
            classify(302, None, ""),
            Err(SendError::Rejected { .. })
        ));
    }
}
