//! Stripe: `Stripe-Signature: t=<unix seconds>,v1=<hex>[,v1=<hex>...][,v0=<hex>]`, each `v1` an
//! HMAC-SHA256 of `"{t}.{raw body}"` keyed with the whole secret string, `whsec_` included.
//!
//! Any `v1` matching passes (Stripe sends one per active secret while a secret is being rolled).
//! `v0` (test-mode legacy) and unknown schemes are ignored, as Stripe's own libraries do. Unlike
//! those libraries, the window is two-sided: a timestamp too far in the future is refused too.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    any_matches, check_window, parse_unix_seconds, Key, Malformed, SecretError, SignatureError,
    DEFAULT_TOLERANCE,
};

/// The header carrying Stripe's signature.
pub const HEADER: &str = "Stripe-Signature";

/// Checks `Stripe-Signature` headers against one or more endpoint secrets.
#[derive(Debug, Clone)]
pub struct StripeVerifier {
    keys: Vec<Key>,
    tolerance: Duration,
}

impl StripeVerifier {
    /// A verifier for the endpoint secret `secret` (`whsec_...`), with the default tolerance.
    pub fn new(secret: &str) -> Result<Self, SecretError> {
        Ok(Self {
            keys: vec![Key::new(secret.as_bytes())?],
            tolerance: DEFAULT_TOLERANCE,
        })
    }

    /// Also accepts signatures made with `secret` (the old or the new one during a rotation).
    pub fn add_secret(mut self, secret: &str) -> Result<Self, SecretError> {
        self.keys.push(Key::new(secret.as_bytes())?);
        Ok(self)
    }

    /// Replaces the tolerance between the signed timestamp and `now` (default 300 s).
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Verifies `body` (the raw bytes) against the `Stripe-Signature` header value, at `now`.
    pub fn verify(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        let value = signature_header.ok_or(SignatureError::MissingHeader { header: HEADER })?;
        let parsed = parse(value).map_err(|reason| SignatureError::MalformedHeader {
            header: HEADER,
            reason,
        })?;
        let parts: [&[u8]; 3] = [parsed.timestamp_text.as_bytes(), b".", body];
        if !any_matches(&self.keys, &parts, parsed.v1.iter().map(Vec::as_slice)) {
            return Err(SignatureError::NoMatchingSignature { header: HEADER });
        }
        check_window(HEADER, parsed.timestamp, now, self.tolerance)
    }

    /// The header value Stripe would send for `body` at `timestamp`, one `v1` per secret.
    /// For tests and local tools that play the provider.
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let t = timestamp.to_string();
        let mut header = format!("t={t}");
        for key in &self.keys {
            header.push_str(",v1=");
            header.push_str(&hex::encode(key.tag(&[t.as_bytes(), b".", body])));
        }
        header
    }
}

/// The parts of a `Stripe-Signature` value that matter.
struct Parsed<'a> {
    timestamp_text: &'a str,
    timestamp: i64,
    /// Decoded `v1` signatures. An entry that is not hex is kept out: it can match nothing.
    v1: Vec<Vec<u8>>,
}

fn parse(value: &str) -> Result<Parsed<'_>, Malformed> {
    let mut timestamp = None;
    let mut v1 = Vec::new();
    let mut saw_v1 = false;
    for entry in value.split(',') {
        let (key, val) = entry
            .trim()
            .split_once('=')
            .ok_or(Malformed::InvalidEntry)?;
        match key {
            "t" if timestamp.is_some() => return Err(Malformed::DuplicateTimestamp),
            "t" => {
                let seconds = parse_unix_seconds(val).ok_or(Malformed::InvalidTimestamp)?;
                timestamp = Some((val, seconds));
            }
            "v1" => {
                saw_v1 = true;
                if let Ok(bytes) = hex::decode(val) {
                    v1.push(bytes);
                }
            }
            _ => {}
        }
    }
    let (timestamp_text, timestamp) = timestamp.ok_or(Malformed::NoTimestamp)?;
    if !saw_v1 {
        return Err(Malformed::NoV1Signature);
    }
    Ok(Parsed {
        timestamp_text,
        timestamp,
        v1,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn malformed(value: &str) -> Malformed {
        match parse(value) {
            Err(reason) => reason,
            Ok(_) => panic!("{value:?} parsed"),
        }
    }

    #[test]
    fn a_header_names_its_parts_in_any_order() {
        let parsed = parse("v0=00,v1=ab,foo=bar,t=12,v1=zz").unwrap();
        assert_eq!(parsed.timestamp, 12);
        assert_eq!(parsed.timestamp_text, "12");
        assert_eq!(parsed.v1, vec![vec![0xab]]);
    }

    #[test]
    fn malformed_headers_say_what_is_wrong() {
        assert_eq!(malformed(""), Malformed::InvalidEntry);
        assert_eq!(malformed("v1=ab"), Malformed::NoTimestamp);
        assert_eq!(malformed("t=12"), Malformed::NoV1Signature);
        assert_eq!(malformed("t=12,v0=ab"), Malformed::NoV1Signature);
        assert_eq!(malformed("t=x,v1=ab"), Malformed::InvalidTimestamp);
        assert_eq!(malformed("t=,v1=ab"), Malformed::InvalidTimestamp);
        assert_eq!(malformed("t=1,t=1,v1=ab"), Malformed::DuplicateTimestamp);
        assert_eq!(malformed("t=1,v1"), Malformed::InvalidEntry);
    }

    #[test]
    fn a_signature_made_by_sign_verifies() {
        let verifier = StripeVerifier::new("whsec_a").unwrap();
        let now = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let header = verifier.sign(now.timestamp(), b"{}");
        assert_eq!(verifier.verify(Some(&header), b"{}", now), Ok(()));
    }
}
