//! The destinations' configuration sections (`[outbound.<name>]`, gathered in
//! [`super::OutboundConfig`]), each destination off until its section is there. Credentials
//! are secrets: never printed, logged or recorded. Each section has its own `limits`
//! (`[outbound.erp.limits]`, `BACKOFFICE_OUTBOUND__ERP__LIMITS__…`).

use std::time::Duration;

use eventlog::SubscriptionOptions;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// How a destination sends, retries and gives up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Milliseconds one call may take.
    pub timeout_ms: u64,
    /// The most calls in any one second, as the partner counts them; none: no limit.
    pub requests_per_second: Option<u32>,
    /// Attempts at a message before it is parked for a person.
    pub attempts: i32,
    /// Milliseconds before a failed message's second attempt; doubling (with jitter).
    pub backoff_base_ms: u64,
    /// The longest wait between attempts, in milliseconds.
    pub backoff_max_ms: u64,
    /// Failures in a row (5xx, timeouts, no connection) that open the circuit.
    pub circuit_failures: u32,
    /// Milliseconds an open circuit stays open before one probe call.
    pub circuit_open_ms: u64,
    /// The longest pause a partner's `Retry-After` is honoured for, in milliseconds.
    pub max_pause_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            timeout_ms: 10_000,
            requests_per_second: None,
            attempts: 8,
            backoff_base_ms: 1_000,
            backoff_max_ms: 300_000,
            circuit_failures: 5,
            circuit_open_ms: 30_000,
            max_pause_ms: 3_600_000,
        }
    }
}

impl Limits {
    /// The first value out of range, and why.
    pub fn check(&self) -> Result<(), (&'static str, &'static str)> {
        let at_least_one = [
            ("timeout_ms", self.timeout_ms),
            ("backoff_base_ms", self.backoff_base_ms),
            ("backoff_max_ms", self.backoff_max_ms),
            ("circuit_open_ms", self.circuit_open_ms),
            ("circuit_failures", u64::from(self.circuit_failures)),
            ("attempts", u64::try_from(self.attempts).unwrap_or(0)),
        ];
        for (key, value) in at_least_one {
            if value == 0 {
                return Err((key, "must be at least 1"));
            }
        }
        if self.requests_per_second == Some(0) {
            return Err((
                "requests_per_second",
                "must be at least 1 (leave it out for no limit)",
            ));
        }
        if self.backoff_max_ms < self.backoff_base_ms {
            return Err(("backoff_max_ms", "must be at least backoff_base_ms"));
        }
        Ok(())
    }

    /// One call's timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }

    /// How long an open circuit stays open.
    pub fn circuit_open(&self) -> Duration {
        Duration::from_millis(self.circuit_open_ms)
    }

    /// The longest pause a partner may ask for.
    pub fn max_pause(&self) -> Duration {
        Duration::from_millis(self.max_pause_ms)
    }

    /// How the destination's subscriber retries and parks its messages.
    pub fn subscription(&self) -> SubscriptionOptions {
        SubscriptionOptions {
            max_attempts: self.attempts.max(1),
            backoff_base: Duration::from_millis(self.backoff_base_ms),
            backoff_max: Duration::from_millis(self.backoff_max_ms),
            ..SubscriptionOptions::default()
        }
    }
}

/// `[outbound.erp]`: orders to the ERP's sales-order API, signed as a Standard Webhooks sender;
/// and its catalog pulled from the same API, signed the same way.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErpConfig {
    /// The API's base URL (`https://erp.example.com/api`).
    pub base_url: String,
    /// Our signing secret (`whsec_…`, base64 after the prefix), shared with the ERP.
    pub secret: SecretString,
    /// Seconds between pulls of the ERP's catalog (products and stock, into the inbox its
    /// webhooks fill: `inbound::catalog_pull`); 0: none.
    #[serde(default = "erp_catalog_pull_every")]
    pub catalog_pull_every_secs: u64,
    /// Its limits.
    #[serde(default)]
    pub limits: Limits,
}

fn erp_catalog_pull_every() -> u64 {
    600
}

/// `[outbound.stripe]`: refunds asked of Stripe's API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StripeConfig {
    /// The API's base URL.
    #[serde(default = "stripe_api")]
    pub base_url: String,
    /// The secret key (`sk_live_…`, `sk_test_…`, or a restricted `rk_…`).
    pub secret_key: SecretString,
    /// Seconds between pulls of Stripe's events (what webhooks may have missed); 0: none.
    #[serde(default = "stripe_pull_every")]
    pub pull_every_secs: u64,
    /// Its limits.
    #[serde(default)]
    pub limits: Limits,
}

fn stripe_api() -> String {
    "https://api.stripe.com".to_owned()
}

fn stripe_pull_every() -> u64 {
    600
}

/// `[outbound.crm]`: activities on the customer's CRM timeline.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrmConfig {
    /// The API's base URL.
    pub base_url: String,
    /// The bearer token.
    pub token: SecretString,
    /// Its limits.
    #[serde(default)]
    pub limits: Limits,
}

/// `[outbound.email]`: customer e-mails over SMTP.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// `smtp://user:password@host:587?tls=required` (STARTTLS), `smtps://user:password@host`
    /// (TLS, port 465), or `smtp://host:25` (no TLS: a relay on the same host or network); a
    /// secret.
    pub smtp_url: SecretString,
    /// The sender, `Shop <orders@shop.example>`; its domain ends every `Message-ID`.
    pub from: String,
    /// Its limits.
    #[serde(default)]
    pub limits: Limits,
}

/// `[outbound.sms]`: text messages over the provider's HTTP API (`POST
/// /2010-04-01/Accounts/{account_sid}/Messages.json`, basic auth).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    /// The API's base URL (`https://api.twilio.com`).
    pub base_url: String,
    /// The account id (the basic-auth user).
    pub account_sid: String,
    /// The auth token (the basic-auth password).
    pub auth_token: SecretString,
    /// The sending number, E.164 (`+15005550006`).
    pub from: String,
    /// Its limits.
    #[serde(default)]
    pub limits: Limits,
}

/// `[outbound.events]`: every event to a NATS JetStream stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// The server, `nats://127.0.0.1:4222` (credentials in it are a secret).
    pub nats_url: SecretString,
    /// The stream, created over `<subject_prefix>.>` if it is missing.
    #[serde(default = "default_stream")]
    pub stream: String,
    /// The first tokens of every subject: `<subject_prefix>.<stream_type>.<event_type>`.
    #[serde(default = "default_subject_prefix")]
    pub subject_prefix: String,
    /// How long JetStream remembers a `Nats-Msg-Id` to drop a resent event, in seconds.
    #[serde(default = "default_duplicate_window")]
    pub duplicate_window_secs: u64,
    /// Its limits.
    #[serde(default)]
    pub limits: Limits,
}

fn default_stream() -> String {
    "BACKOFFICE_EVENTS".to_owned()
}

fn default_subject_prefix() -> String {
    "backoffice.events".to_owned()
}

fn default_duplicate_window() -> u64 {
    3_600
}

/// `[outbound.easypost]`: labels bought at EasyPost (`POST /v2/shipments`, then
/// `POST /v2/shipments/{id}/buy`), the API key as the basic-auth user.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EasyPostConfig {
    /// The API's base URL.
    #[serde(default = "easypost_api")]
    pub base_url: String,
    /// The API key (`EZAK…` production, `EZTK…` test).
    pub api_key: SecretString,
    /// Where parcels are sent from.
    pub from_address: FromAddress,
    /// The parcel when a request names none.
    pub parcel: domain::shipment::Parcel,
    /// The carriers whose rates may be bought, as EasyPost names them (`USPS`, `UPS`); empty:
    /// any.
    #[serde(default)]
    pub carriers: Vec<String>,
    /// The services whose rates may be bought (`Priority`, `Ground`); empty: any.
    #[serde(default)]
    pub services: Vec<String>,
    /// Seconds between pulls of the trackers of parcels under way that EasyPost's webhooks have
    /// been quiet about (what they may have missed); 0: none.
    #[serde(default = "easypost_tracker_pull_every")]
    pub tracker_pull_every_secs: u64,
    /// How long without a tracking update a parcel under way goes before its tracker is pulled,
    /// in seconds.
    #[serde(default = "easypost_tracker_quiet")]
    pub tracker_quiet_secs: u64,
    /// Its limits.
    #[serde(default)]
    pub limits: Limits,
}

/// The warehouse's address, as EasyPost reads an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FromAddress {
    /// The company or person.
    pub name: String,
    /// Street and number.
    pub street1: String,
    /// Suite, floor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street2: Option<String>,
    /// City.
    pub city: String,
    /// State or province, where the country has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Postal code.
    pub zip: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// Phone, which some carriers require.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

fn easypost_api() -> String {
    "https://api.easypost.com".to_owned()
}

fn easypost_tracker_pull_every() -> u64 {
    1_800
}

fn easypost_tracker_quiet() -> u64 {
    86_400
}
