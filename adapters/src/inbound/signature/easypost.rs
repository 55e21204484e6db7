//! EasyPost: `X-Hmac-Signature: hmac-sha256-hex=<hex>`, an HMAC-SHA256 of the raw body keyed
//! with the UTF-8 bytes of the NFKD-normalised webhook secret (as EasyPost's client libraries do,
//! so `"sécret"` typed precomposed or decomposed gives the same key).
//!
//! Nothing time-related is signed, so there is no replay window: a replayed delivery is stopped
//! only by the inbox's dedup on the event id.

use unicode_normalization::UnicodeNormalization;

use super::{any_matches, Key, Malformed, SecretError, SignatureError};

/// The header carrying EasyPost's signature.
pub const HEADER: &str = "X-Hmac-Signature";

/// What precedes the hex digest in the header value.
pub const PREFIX: &str = "hmac-sha256-hex=";

/// Checks `X-Hmac-Signature` headers against one or more webhook secrets.
#[derive(Debug, Clone)]
pub struct EasyPostVerifier {
    keys: Vec<Key>,
}

impl EasyPostVerifier {
    /// A verifier for the webhook secret `secret`.
    pub fn new(secret: &str) -> Result<Self, SecretError> {
        Ok(Self {
            keys: vec![key(secret)?],
        })
    }

    /// Also accepts signatures made with `secret` (during a rotation).
    pub fn add_secret(mut self, secret: &str) -> Result<Self, SecretError> {
        self.keys.push(key(secret)?);
        Ok(self)
    }

    /// Verifies `body` (the raw bytes) against the `X-Hmac-Signature` header value.
    pub fn verify(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
    ) -> Result<(), SignatureError> {
        let value = signature_header.ok_or(SignatureError::MissingHeader { header: HEADER })?;
        let malformed = |reason| SignatureError::MalformedHeader {
            header: HEADER,
            reason,
        };
        let digest = value
            .trim()
            .strip_prefix(PREFIX)
            .ok_or(malformed(Malformed::MissingPrefix))?;
        let signature = hex::decode(digest).map_err(|_| malformed(Malformed::InvalidHex))?;
        if any_matches(&self.keys, &[body], std::iter::once(signature.as_slice())) {
            Ok(())
        } else {
            Err(SignatureError::NoMatchingSignature { header: HEADER })
        }
    }

    /// The header value EasyPost would send for `body`, signed with the first secret.
    /// For tests and local tools that play the provider.
    pub fn sign(&self, body: &[u8]) -> String {
        let tag = self
            .keys
            .first()
            .map(|key| key.tag(&[body]))
            .unwrap_or_default();
        format!("{PREFIX}{}", hex::encode(tag))
    }
}

fn key(secret: &str) -> Result<Key, SecretError> {
    let normalized: String = secret.nfkd().collect();
    Key::new(normalized.as_bytes())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn precomposed_and_decomposed_secrets_are_the_same_key() {
        let precomposed = EasyPostVerifier::new("s\u{e9}cret").unwrap();
        let decomposed = EasyPostVerifier::new("se\u{301}cret").unwrap();
        let header = precomposed.sign(b"{}");
        assert_eq!(decomposed.verify(Some(&header), b"{}"), Ok(()));
    }

    #[test]
    fn a_header_without_the_prefix_or_with_bad_hex_is_malformed() {
        let verifier = EasyPostVerifier::new("s").unwrap();
        let reason = |value| match verifier.verify(Some(value), b"") {
            Err(SignatureError::MalformedHeader { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason("sha256=00"), Malformed::MissingPrefix);
        assert_eq!(reason("hmac-sha256-hex=zz"), Malformed::InvalidHex);
    }
}
