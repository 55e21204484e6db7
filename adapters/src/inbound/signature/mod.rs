//! Webhook signature schemes, one file each: [`stripe`], [`easypost`] and [`standard`] (Standard
//! Webhooks, which our ERP and CRM partners implement).
//!
//! Every check is pure: the caller passes the header values, the raw body bytes exactly as they
//! arrived (before any JSON parsing) and, where the scheme signs a timestamp, `now`. Tags are
//! compared in constant time. Each verifier holds one or more secrets so that a secret can be
//! rotated without dropping deliveries: a signature made with any of them passes.
//!
//! The timestamp is checked only after a signature matched, so [`SignatureError::Stale`] means
//! "authentic but outside the window" (a replay or a badly skewed clock), never a forgery.

use std::{fmt, time::Duration};

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

pub mod easypost;
pub mod standard;
pub mod stripe;

pub use easypost::EasyPostVerifier;
pub use standard::{StandardWebhookHeaders, StandardWebhooksVerifier};
pub use stripe::StripeVerifier;

/// How a source signs its deliveries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `Stripe-Signature` (HMAC-SHA256 over `{t}.{body}`).
    Stripe,
    /// `X-Hmac-Signature` (HMAC-SHA256 hex over the body).
    EasyPost,
    /// Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
    StandardWebhooks,
}

impl Scheme {
    /// The headers a delivery signed this way carries.
    pub fn headers(self) -> &'static [&'static str] {
        match self {
            Self::Stripe => &[stripe::HEADER],
            Self::EasyPost => &[easypost::HEADER],
            Self::StandardWebhooks => &[
                standard::ID_HEADER,
                standard::TIMESTAMP_HEADER,
                standard::SIGNATURE_HEADER,
            ],
        }
    }

    /// The verifier of `secrets` (one or several, during a rotation); `None` without any.
    /// Refuses a secret it cannot use, naming its index.
    pub fn verifier(
        self,
        secrets: &[&str],
        tolerance: Duration,
    ) -> Result<Option<Verifier>, (usize, SecretError)> {
        fn build<V>(
            secrets: &[&str],
            new: impl Fn(&str) -> Result<V, SecretError>,
            add: impl Fn(V, &str) -> Result<V, SecretError>,
        ) -> Result<Option<V>, (usize, SecretError)> {
            let mut verifier: Option<V> = None;
            for (index, secret) in secrets.iter().enumerate() {
                let built = match verifier {
                    None => new(secret),
                    Some(v) => add(v, secret),
                };
                verifier = Some(built.map_err(|cause| (index, cause))?);
            }
            Ok(verifier)
        }
        Ok(match self {
            Self::Stripe => build(secrets, StripeVerifier::new, StripeVerifier::add_secret)?
                .map(|v| Verifier::Stripe(v.with_tolerance(tolerance))),
            Self::EasyPost => build(secrets, EasyPostVerifier::new, EasyPostVerifier::add_secret)?
                .map(Verifier::EasyPost),
            Self::StandardWebhooks => build(
                secrets,
                StandardWebhooksVerifier::new,
                StandardWebhooksVerifier::add_secret,
            )?
            .map(|v| Verifier::Standard(v.with_tolerance(tolerance))),
        })
    }
}

/// A source's verifier, built by its scheme from its secrets.
#[derive(Debug, Clone)]
pub enum Verifier {
    /// Stripe's.
    Stripe(StripeVerifier),
    /// EasyPost's.
    EasyPost(EasyPostVerifier),
    /// Standard Webhooks'.
    Standard(StandardWebhooksVerifier),
}

impl Verifier {
    /// Checks a delivery's signature (`header` looks a request header up by name); answers
    /// the message id the signature covers, where the scheme signs one (`webhook-id`).
    pub fn verify<'a>(
        &self,
        header: impl Fn(&str) -> Option<&'a str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<Option<&'a str>, SignatureError> {
        match self {
            Self::Stripe(verifier) => verifier
                .verify(header(stripe::HEADER), body, now)
                .map(|()| None),
            Self::EasyPost(verifier) => verifier
                .verify(header(easypost::HEADER), body)
                .map(|()| None),
            Self::Standard(verifier) => {
                let headers = StandardWebhookHeaders::from_lookup(header);
                verifier.verify(&headers, body, now)?;
                Ok(headers.id)
            }
        }
    }
}

/// How far a signed timestamp may be from `now`, in either direction, unless configured.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);

/// Why a delivery was refused. Each variant names the header at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header the scheme requires is absent.
    #[error("missing {header} header")]
    MissingHeader {
        /// The header's name.
        header: &'static str,
    },
    /// A header is present but cannot be read.
    #[error("malformed {header} header: {reason}")]
    MalformedHeader {
        /// The header's name.
        header: &'static str,
        /// What is wrong with it.
        reason: Malformed,
    },
    /// The signature matched, but its timestamp is too far from `now`.
    #[error("timestamp {timestamp} in {header} header is more than {tolerance_secs} s away from now ({now})")]
    Stale {
        /// The header carrying the timestamp.
        header: &'static str,
        /// The signed timestamp, in Unix seconds.
        timestamp: i64,
        /// The `now` it was checked against, in Unix seconds.
        now: i64,
        /// The tolerance, in seconds.
        tolerance_secs: u64,
    },
    /// No signature in the header matches the body under any configured secret.
    #[error("no signature in {header} header matches the payload")]
    NoMatchingSignature {
        /// The header carrying the signatures.
        header: &'static str,
    },
}

/// What is wrong with a malformed signature header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// The header has no timestamp (Stripe's `t=`).
    #[error("no timestamp")]
    NoTimestamp,
    /// The header names its timestamp more than once.
    #[error("more than one timestamp")]
    DuplicateTimestamp,
    /// The timestamp is not a whole number of Unix seconds.
    #[error("timestamp is not unix seconds")]
    InvalidTimestamp,
    /// The header has no `v1` signature at all.
    #[error("no v1 signature")]
    NoV1Signature,
    /// A comma-separated entry is not of the form `key=value`.
    #[error("entry is not key=value")]
    InvalidEntry,
    /// The value lacks the scheme's prefix (EasyPost's `hmac-sha256-hex=`).
    #[error("value does not start with the expected prefix")]
    MissingPrefix,
    /// The signature is not valid hexadecimal.
    #[error("signature is not hex")]
    InvalidHex,
}

/// Why a configured secret cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The secret is empty (or only a `whsec_` prefix).
    #[error("webhook secret is empty")]
    Empty,
    /// A Standard Webhooks secret whose part after `whsec_` is not base64.
    #[error("webhook secret is not base64 after its whsec_ prefix")]
    NotBase64(#[source] base64::DecodeError),
}

/// An HMAC-SHA256 key, ready to use. Its `Debug` never shows the secret.
#[derive(Clone)]
pub(crate) struct Key(Hmac<Sha256>);

impl Key {
    /// Keys HMAC-SHA256 with `bytes`, refusing an empty secret.
    pub(crate) fn new(bytes: &[u8]) -> Result<Self, SecretError> {
        if bytes.is_empty() {
            return Err(SecretError::Empty);
        }
        // HMAC accepts keys of any length; the error arm only exists in the trait's signature.
        Hmac::<Sha256>::new_from_slice(bytes)
            .map(Self)
            .map_err(|_| SecretError::Empty)
    }

    /// The tag of the concatenation of `parts`.
    pub(crate) fn tag(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.0.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(redacted)")
    }
}

/// True when any candidate equals the tag of `parts` under any key. Every pair is compared in
/// constant time and none is skipped, so timing tells nothing about which (if any) matched.
pub(crate) fn any_matches<'a>(
    keys: &[Key],
    parts: &[&[u8]],
    candidates: impl Iterator<Item = &'a [u8]> + Clone,
) -> bool {
    let mut matched = Choice::from(0);
    for key in keys {
        let tag = key.tag(parts);
        for candidate in candidates.clone() {
            // Length is public (always 32 for a real tag); `ct_eq` rejects other lengths.
            matched |= tag.as_slice().ct_eq(candidate);
        }
    }
    matched.into()
}

/// Parses a Unix timestamp of ASCII digits only (no sign, no spaces, at most 18 digits).
pub(crate) fn parse_unix_seconds(text: &str) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Refuses `timestamp` when it is more than `tolerance` away from `now`, in either direction.
pub(crate) fn check_window(
    header: &'static str,
    timestamp: i64,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let now = now.timestamp();
    if now.abs_diff(timestamp) > tolerance.as_secs() {
        return Err(SignatureError::Stale {
            header,
            timestamp,
            now,
            tolerance_secs: tolerance.as_secs(),
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_secret_is_refused() {
        assert_eq!(Key::new(b"").unwrap_err(), SecretError::Empty);
    }

    #[test]
    fn a_key_does_not_print_its_secret() {
        let key = Key::new(b"whsec_very_secret").unwrap();
        assert_eq!(format!("{key:?}"), "Key(redacted)");
    }

    #[test]
    fn only_plain_digits_are_unix_seconds() {
        assert_eq!(parse_unix_seconds("1721950001"), Some(1_721_950_001));
        for bad in [
            "",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1.0",
            "0x10",
            "9999999999999999999",
        ] {
            assert_eq!(parse_unix_seconds(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_window_is_inclusive_and_two_sided() {
        let now = DateTime::from_timestamp(1_000_000, 0).unwrap();
        let window = |t| check_window("h", t, now, DEFAULT_TOLERANCE);
        assert!(window(1_000_000 - 300).is_ok());
        assert!(window(1_000_000 + 300).is_ok());
        assert!(window(1_000_000 - 301).is_err());
        assert!(window(1_000_000 + 301).is_err());
        assert!(window(i64::MIN).is_err());
        assert!(window(i64::MAX).is_err());
    }
}
