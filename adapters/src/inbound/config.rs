//! The webhook secrets the api loads from its configuration, and the verifiers built from them
//! once at start-up (an unusable secret fails the start, not the first delivery).
//!
//! Each source takes one secret or a list: during a rotation both the old and the new secret are
//! configured, and a delivery signed with either passes. A source with no secret is disabled:
//! its endpoint answers 503 and stores nothing.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

use crate::inbound::signature::{
    EasyPostVerifier, SecretError, StandardWebhooksVerifier, StripeVerifier, DEFAULT_TOLERANCE,
};

/// Secrets per source, and the timestamp tolerance. Secrets never print (`secrecy`).
///
/// ```toml
/// [webhooks]
/// stripe = ["whsec_old...", "whsec_new..."]   # or one string
/// easypost = "my-easypost-secret"
/// erp = "whsec_base64..."
/// crm = "whsec_base64..."
/// tolerance_secs = 300
/// unmatched_max_age_hours = 168
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSecrets {
    /// Stripe endpoint secrets (`whsec_...`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub stripe: Vec<SecretString>,
    /// EasyPost webhook secrets.
    #[serde(default, deserialize_with = "one_or_many")]
    pub easypost: Vec<SecretString>,
    /// The ERP's Standard Webhooks secrets (`whsec_<base64>`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub erp: Vec<SecretString>,
    /// The CRM's Standard Webhooks secrets (`whsec_<base64>`).
    #[serde(default, deserialize_with = "one_or_many")]
    pub crm: Vec<SecretString>,
    /// How far a signed timestamp may be from now, either way (default 300 s).
    #[serde(default)]
    pub tolerance_secs: Option<u64>,
    /// How long after it arrived a delivery that matches nothing is still rechecked (default
    /// 168 hours); then it rests as `unmatched_expired`, listed and retryable.
    #[serde(default)]
    pub unmatched_max_age_hours: Option<u64>,
}

/// Which source a secret was refused for.
#[derive(Debug, thiserror::Error)]
#[error("webhook secret {index} of {source_name} is unusable")]
pub struct ConfigError {
    /// The source.
    pub source_name: &'static str,
    /// The secret's index in its list (0 first).
    pub index: usize,
    /// Why.
    #[source]
    pub cause: SecretError,
}

/// The verifiers of every configured source; `None` for a disabled one.
#[derive(Debug, Clone, Default)]
pub struct Verifiers {
    /// Stripe.
    pub stripe: Option<StripeVerifier>,
    /// EasyPost.
    pub easypost: Option<EasyPostVerifier>,
    /// The ERP.
    pub erp: Option<StandardWebhooksVerifier>,
    /// The CRM.
    pub crm: Option<StandardWebhooksVerifier>,
}

impl WebhookSecrets {
    /// Builds the verifiers, refusing an empty or malformed secret.
    pub fn verifiers(&self) -> Result<Verifiers, ConfigError> {
        let tolerance = self
            .tolerance_secs
            .map_or(DEFAULT_TOLERANCE, Duration::from_secs);
        Ok(Verifiers {
            stripe: build(
                "stripe",
                &self.stripe,
                StripeVerifier::new,
                StripeVerifier::add_secret,
            )?
            .map(|v| v.with_tolerance(tolerance)),
            easypost: build(
                "easypost",
                &self.easypost,
                EasyPostVerifier::new,
                EasyPostVerifier::add_secret,
            )?,
            erp: build(
                "erp",
                &self.erp,
                StandardWebhooksVerifier::new,
                StandardWebhooksVerifier::add_secret,
            )?
            .map(|v| v.with_tolerance(tolerance)),
            crm: build(
                "crm",
                &self.crm,
                StandardWebhooksVerifier::new,
                StandardWebhooksVerifier::add_secret,
            )?
            .map(|v| v.with_tolerance(tolerance)),
        })
    }
}

fn build<V>(
    source_name: &'static str,
    secrets: &[SecretString],
    new: impl Fn(&str) -> Result<V, SecretError>,
    add: impl Fn(V, &str) -> Result<V, SecretError>,
) -> Result<Option<V>, ConfigError> {
    let mut verifier: Option<V> = None;
    for (index, secret) in secrets.iter().enumerate() {
        let secret = secret.expose_secret();
        let built = match verifier {
            None => new(secret),
            Some(v) => add(v, secret),
        };
        verifier = Some(built.map_err(|cause| ConfigError {
            source_name,
            index,
            cause,
        })?);
    }
    Ok(verifier)
}

/// One secret as a string, or a list of them.
fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SecretString>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![SecretString::from(one)],
        OneOrMany::Many(many) => many.into_iter().map(SecretString::from).collect(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_source_takes_one_secret_or_several_and_never_prints_them() {
        let secrets: WebhookSecrets = serde_json::from_value(serde_json::json!({
            "stripe": ["whsec_old", "whsec_new"],
            "easypost": "sécret",
            "tolerance_secs": 60
        }))
        .unwrap();
        assert_eq!(secrets.stripe.len(), 2);
        assert!(!format!("{secrets:?}").contains("whsec_old"));
        let verifiers = secrets.verifiers().unwrap();
        assert!(verifiers.stripe.is_some() && verifiers.easypost.is_some());
        assert!(verifiers.erp.is_none() && verifiers.crm.is_none());
    }

    #[test]
    fn an_empty_secret_fails_at_start_up_naming_its_source() {
        let secrets: WebhookSecrets = serde_json::from_value(
            serde_json::json!({"crm": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", ""]}),
        )
        .unwrap();
        let err = secrets.verifiers().unwrap_err();
        assert_eq!((err.source_name, err.index), ("crm", 1));
    }
}
