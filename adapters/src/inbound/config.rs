//! The webhook secrets the api loads from its configuration, and the verifiers built from them
//! once at start-up (an unusable secret fails the start, not the first delivery).
//!
//! Each source takes one secret or a list: during a rotation both the old and the new secret are
//! configured, and a delivery signed with either passes. A source with no secret is disabled:
//! its endpoint answers 503 and stores nothing.

use std::{collections::BTreeMap, time::Duration};

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

use crate::inbound::{
    payload::Source,
    signature::{SecretError, Verifier, DEFAULT_TOLERANCE},
    sources::spec,
};

/// Secrets per source, and the timestamp tolerance. Secrets never print (`secrecy`). The keys
/// are the declared sources' names (`inbound::sources::SOURCES`) and two settings; any other key
/// is refused.
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
#[derive(Debug, Clone, Default)]
pub struct WebhookSecrets {
    /// Each source's secrets.
    pub secrets: BTreeMap<Source, Vec<SecretString>>,
    /// How far a signed timestamp may be from now, either way (default 300 s).
    pub tolerance_secs: Option<u64>,
    /// How long after it arrived a delivery that matches nothing is still rechecked (default
    /// 168 hours); then it rests as `unmatched_expired`, listed and retryable.
    pub unmatched_max_age_hours: Option<u64>,
}

impl<'de> Deserialize<'de> for WebhookSecrets {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        /// A value of the table: a number (a setting, or a secret written as one) or secrets.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Entry {
            Number(u64),
            One(String),
            Many(Vec<String>),
        }
        let entries = BTreeMap::<String, Entry>::deserialize(deserializer)?;
        let mut secrets = Self::default();
        for (key, entry) in entries {
            let setting = match key.as_str() {
                "tolerance_secs" => Some(&mut secrets.tolerance_secs),
                "unmatched_max_age_hours" => Some(&mut secrets.unmatched_max_age_hours),
                _ => None,
            };
            match (setting, entry) {
                (Some(setting), Entry::Number(value)) => *setting = Some(value),
                (Some(_), _) => return Err(D::Error::custom(format!("{key} is a whole number"))),
                (None, entry) => {
                    let source = Source::named(&key).ok_or_else(|| {
                        let mut known: Vec<&str> = Source::all().map(|s| s.as_str()).collect();
                        known.extend(["tolerance_secs", "unmatched_max_age_hours"]);
                        D::Error::custom(format!(
                            "unknown field `{key}`, expected one of {}",
                            known.join(", ")
                        ))
                    })?;
                    let values = match entry {
                        Entry::Number(number) => vec![number.to_string()],
                        Entry::One(one) => vec![one],
                        Entry::Many(many) => many,
                    };
                    secrets
                        .secrets
                        .insert(source, values.into_iter().map(SecretString::from).collect());
                }
            }
        }
        Ok(secrets)
    }
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

/// The verifier of every configured source; a source without one is disabled.
#[derive(Debug, Clone, Default)]
pub struct Verifiers(BTreeMap<Source, Verifier>);

impl Verifiers {
    /// The verifier of `source`, if it is configured.
    pub fn of(&self, source: Source) -> Option<&Verifier> {
        self.0.get(&source)
    }
}

impl WebhookSecrets {
    /// Builds the verifiers, each by its source's scheme, refusing an empty or malformed secret.
    pub fn verifiers(&self) -> Result<Verifiers, ConfigError> {
        let tolerance = self
            .tolerance_secs
            .map_or(DEFAULT_TOLERANCE, Duration::from_secs);
        let mut verifiers = BTreeMap::new();
        for (&source, secrets) in &self.secrets {
            let Some(spec) = spec(source) else { continue };
            let secrets: Vec<&str> = secrets.iter().map(ExposeSecret::expose_secret).collect();
            let built = spec
                .scheme
                .verifier(&secrets, tolerance)
                .map_err(|(index, cause)| ConfigError {
                    source_name: source.as_str(),
                    index,
                    cause,
                })?;
            if let Some(verifier) = built {
                verifiers.insert(source, verifier);
            }
        }
        Ok(Verifiers(verifiers))
    }
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
        let named = |name| Source::named(name).unwrap();
        assert_eq!(secrets.secrets[&named("stripe")].len(), 2);
        assert_eq!(secrets.tolerance_secs, Some(60));
        assert!(!format!("{secrets:?}").contains("whsec_old"));
        let verifiers = secrets.verifiers().unwrap();
        assert!(verifiers.of(named("stripe")).is_some());
        assert!(verifiers.of(named("easypost")).is_some());
        assert!(verifiers.of(named("erp")).is_none() && verifiers.of(named("crm")).is_none());
    }

    #[test]
    fn a_key_that_is_no_source_nor_setting_is_refused_naming_the_known_ones() {
        let refused = serde_json::from_value::<WebhookSecrets>(serde_json::json!({
            "paypal": "whsec_x"
        }))
        .unwrap_err()
        .to_string();
        assert!(
            refused.contains("unknown field `paypal`") && refused.contains("stripe"),
            "{refused}"
        );
        let refused =
            serde_json::from_value::<WebhookSecrets>(serde_json::json!({"tolerance_secs": "x"}))
                .unwrap_err()
                .to_string();
        assert!(
            refused.contains("tolerance_secs is a whole number"),
            "{refused}"
        );
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
