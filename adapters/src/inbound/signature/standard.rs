//! Standard Webhooks (<https://www.standardwebhooks.com>), the scheme our ERP and CRM partners
//! implement: headers `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`
//! (space-separated `v1,<base64>` entries), each `v1` an HMAC-SHA256 of `"{id}.{timestamp}.{body}"`
//! keyed with the base64-decoded part of the `whsec_...` secret. The window is ±300 s by default.
//!
//! An entry must decode to exactly 32 bytes to match, so `v1,` (empty) or a prefix of a real
//! signature fails cleanly: the reference library once accepted those (standard-webhooks #115).

use std::time::Duration;

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use chrono::{DateTime, Utc};

use super::{
    any_matches, check_window, parse_unix_seconds, Key, Malformed, SecretError, SignatureError,
    DEFAULT_TOLERANCE,
};

/// The header carrying the message id (the inbox key).
pub const ID_HEADER: &str = "webhook-id";
/// The header carrying the signing time, in Unix seconds.
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The header carrying the signatures.
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The three header values of a Standard Webhooks delivery, as received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StandardWebhookHeaders<'a> {
    /// `webhook-id`.
    pub id: Option<&'a str>,
    /// `webhook-timestamp`.
    pub timestamp: Option<&'a str>,
    /// `webhook-signature`.
    pub signature: Option<&'a str>,
}

impl<'a> StandardWebhookHeaders<'a> {
    /// Reads the three headers through `lookup`, which gets a lowercase header name and should
    /// match it case-insensitively (as any HTTP header map does).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<&'a str>) -> Self {
        Self {
            id: lookup(ID_HEADER),
            timestamp: lookup(TIMESTAMP_HEADER),
            signature: lookup(SIGNATURE_HEADER),
        }
    }
}

/// Checks Standard Webhooks deliveries against one or more `whsec_...` secrets.
#[derive(Debug, Clone)]
pub struct StandardWebhooksVerifier {
    keys: Vec<Key>,
    tolerance: Duration,
}

impl StandardWebhooksVerifier {
    /// A verifier for `secret`: base64, with or without the `whsec_` prefix.
    pub fn new(secret: &str) -> Result<Self, SecretError> {
        Ok(Self {
            keys: vec![key(secret)?],
            tolerance: DEFAULT_TOLERANCE,
        })
    }

    /// Also accepts signatures made with `secret` (during a rotation).
    pub fn add_secret(mut self, secret: &str) -> Result<Self, SecretError> {
        self.keys.push(key(secret)?);
        Ok(self)
    }

    /// Replaces the tolerance between `webhook-timestamp` and `now` (default 300 s).
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Verifies `body` (the raw bytes) against the delivery's headers, at `now`.
    pub fn verify(
        &self,
        headers: &StandardWebhookHeaders<'_>,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), SignatureError> {
        let missing = |header| SignatureError::MissingHeader { header };
        let id = headers.id.ok_or(missing(ID_HEADER))?;
        let timestamp_text = headers.timestamp.ok_or(missing(TIMESTAMP_HEADER))?;
        let signature = headers.signature.ok_or(missing(SIGNATURE_HEADER))?;
        let timestamp =
            parse_unix_seconds(timestamp_text).ok_or(SignatureError::MalformedHeader {
                header: TIMESTAMP_HEADER,
                reason: Malformed::InvalidTimestamp,
            })?;
        let candidates = v1_signatures(signature);
        if candidates.is_empty() {
            return Err(SignatureError::MalformedHeader {
                header: SIGNATURE_HEADER,
                reason: Malformed::NoV1Signature,
            });
        }
        let parts: [&[u8]; 5] = [id.as_bytes(), b".", timestamp_text.as_bytes(), b".", body];
        let decoded = candidates.iter().flatten().map(Vec::as_slice);
        if !any_matches(&self.keys, &parts, decoded) {
            return Err(SignatureError::NoMatchingSignature {
                header: SIGNATURE_HEADER,
            });
        }
        check_window(TIMESTAMP_HEADER, timestamp, now, self.tolerance)
    }

    /// The `webhook-signature` value for a message, one `v1` per secret. This is what a partner
    /// sends; here it serves tests and local tools that play the partner.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let t = timestamp.to_string();
        let parts: [&[u8]; 5] = [id.as_bytes(), b".", t.as_bytes(), b".", body];
        self.keys
            .iter()
            .map(|key| format!("v1,{}", BASE64.encode(key.tag(&parts))))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Every `v1` entry, decoded; `None` for one that is not base64 (it can match nothing).
/// Entries of other versions (or without a comma) are skipped, as the reference libraries do.
fn v1_signatures(header: &str) -> Vec<Option<Vec<u8>>> {
    header
        .split(' ')
        .filter_map(|entry| entry.split_once(','))
        .filter(|(version, _)| *version == "v1")
        .map(|(_, signature)| BASE64.decode(signature).ok())
        .collect()
}

fn key(secret: &str) -> Result<Key, SecretError> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    let bytes = BASE64.decode(encoded).map_err(SecretError::NotBase64)?;
    Key::new(&bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn secrets_decode_with_or_without_the_prefix() {
        assert!(StandardWebhooksVerifier::new("whsec_c2VjcmV0").is_ok());
        assert!(StandardWebhooksVerifier::new("c2VjcmV0").is_ok());
        assert_eq!(
            StandardWebhooksVerifier::new("whsec_").unwrap_err(),
            SecretError::Empty
        );
        assert!(matches!(
            StandardWebhooksVerifier::new("whsec_not base64!"),
            Err(SecretError::NotBase64(_))
        ));
    }

    #[test]
    fn only_v1_entries_count() {
        let found = v1_signatures("v1a,AAAA v2,AAAA nocomma v1,AAAA v1, v1,***");
        assert_eq!(found, vec![Some(vec![0, 0, 0]), Some(vec![]), None]);
    }

    #[test]
    fn headers_can_be_read_through_a_lookup() {
        let headers = StandardWebhookHeaders::from_lookup(|name| match name {
            "webhook-id" => Some("msg_1"),
            "webhook-timestamp" => Some("12"),
            _ => None,
        });
        assert_eq!(headers.id, Some("msg_1"));
        assert_eq!(headers.timestamp, Some("12"));
        assert_eq!(headers.signature, None);
    }
}
