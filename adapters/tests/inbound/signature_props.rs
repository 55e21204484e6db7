//! Properties: arbitrary bytes and headers never panic and never verify without the right key.

use adapters::inbound::signature::{
    EasyPostVerifier, SignatureError, StandardWebhookHeaders, StandardWebhooksVerifier,
    StripeVerifier,
};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use proptest::{collection::vec, prelude::*};

use crate::fixtures::at;

fn body() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..256)
}

/// Seconds within chrono's range and far from the edges of `i64`.
fn seconds() -> impl Strategy<Value = i64> {
    -100_000_000_000_i64..100_000_000_000
}

/// Headers that look like the real thing, so that parsing gets past the first check.
fn stripe_like_header() -> impl Strategy<Value = String> {
    let entry = prop_oneof![
        "t=[0-9]{0,12}",
        "v1=[0-9a-f]{0,70}",
        "v0=[0-9a-f]{0,64}",
        "[a-z0-9]{0,3}=?[ -~]{0,8}",
    ];
    vec(entry, 0..6).prop_map(|entries| entries.join(","))
}

fn standard_like_signature() -> impl Strategy<Value = String> {
    let entry = prop_oneof!["v1,[A-Za-z0-9+/=]{0,48}", "v[0-9],[ -~]{0,8}", "[ -~]{0,8}"];
    vec(entry, 0..5).prop_map(|entries| entries.join(" "))
}

fn standard_key() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 1..48)
}

/// HMAC pads short keys with zeros, so `k` and `k\0` are the same key: compare without them.
fn same_hmac_key(a: &[u8], b: &[u8]) -> bool {
    let trim = |k: &[u8]| k.iter().rposition(|&x| x != 0).map_or(0, |i| i + 1);
    a[..trim(a)] == b[..trim(b)]
}

fn whsec(key: &[u8]) -> String {
    format!("whsec_{}", BASE64.encode(key))
}

fn flip_one_byte(mut body: Vec<u8>, index: usize, bit: u8) -> Vec<u8> {
    if body.is_empty() {
        body.push(1 << bit);
    } else {
        let i = index % body.len();
        body[i] ^= 1 << bit;
    }
    body
}

proptest! {
    #[test]
    fn stripe_refuses_any_header_it_did_not_sign(
        header in prop_oneof![any::<String>(), stripe_like_header()],
        body in body(),
        now in seconds(),
    ) {
        let verifier = StripeVerifier::new("whsec_test_secret").unwrap();
        prop_assert!(verifier.verify(Some(&header), &body, at(now)).is_err());
    }

    #[test]
    fn stripe_accepts_its_own_key_only_and_only_for_the_signed_body(
        secret in "whsec_[A-Za-z0-9]{1,32}",
        other in "whsec_[A-Za-z0-9]{1,32}",
        body in body(),
        t in 0_i64..100_000_000_000,
        index in any::<usize>(),
        bit in 0u8..8,
    ) {
        prop_assume!(secret != other);
        let signer = StripeVerifier::new(&secret).unwrap();
        let header = signer.sign(t, &body);
        prop_assert_eq!(signer.verify(Some(&header), &body, at(t)), Ok(()));
        let stranger = StripeVerifier::new(&other).unwrap();
        prop_assert_eq!(
            stranger.verify(Some(&header), &body, at(t)),
            Err(SignatureError::NoMatchingSignature { header: "Stripe-Signature" })
        );
        let changed = flip_one_byte(body, index, bit);
        prop_assert!(signer.verify(Some(&header), &changed, at(t)).is_err());
    }

    #[test]
    fn easypost_refuses_any_header_it_did_not_sign(
        header in prop_oneof![any::<String>(), "hmac-sha256-hex=[0-9a-f]{0,70}"],
        body in body(),
    ) {
        let verifier = EasyPostVerifier::new("s\u{e9}cret").unwrap();
        prop_assert!(verifier.verify(Some(&header), &body).is_err());
    }

    #[test]
    fn easypost_accepts_its_own_key_only_and_only_for_the_signed_body(
        secret in "\\PC{1,24}",
        other in "\\PC{1,24}",
        body in body(),
        index in any::<usize>(),
        bit in 0u8..8,
    ) {
        use unicode_normalization::UnicodeNormalization;
        prop_assume!(secret.nfkd().collect::<String>() != other.nfkd().collect::<String>());
        let signer = EasyPostVerifier::new(&secret).unwrap();
        let header = signer.sign(&body);
        prop_assert_eq!(signer.verify(Some(&header), &body), Ok(()));
        let stranger = EasyPostVerifier::new(&other).unwrap();
        prop_assert!(stranger.verify(Some(&header), &body).is_err());
        let changed = flip_one_byte(body, index, bit);
        prop_assert!(signer.verify(Some(&header), &changed).is_err());
    }

    #[test]
    fn standard_webhooks_refuse_any_headers_they_did_not_sign(
        id in prop::option::of(any::<String>()),
        timestamp in prop::option::of(prop_oneof![any::<String>(), "[0-9]{0,20}"]),
        signature in prop::option::of(prop_oneof![any::<String>(), standard_like_signature()]),
        body in body(),
        now in seconds(),
    ) {
        let verifier =
            StandardWebhooksVerifier::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let headers = StandardWebhookHeaders {
            id: id.as_deref(),
            timestamp: timestamp.as_deref(),
            signature: signature.as_deref(),
        };
        prop_assert!(verifier.verify(&headers, &body, at(now)).is_err());
    }

    #[test]
    fn standard_webhooks_accept_their_own_key_only_and_only_for_the_signed_message(
        secret in standard_key(),
        other in standard_key(),
        id in "[ -~]{1,40}",
        body in body(),
        t in 0_i64..100_000_000_000,
        index in any::<usize>(),
        bit in 0u8..8,
    ) {
        prop_assume!(!same_hmac_key(&secret, &other));
        let signer = StandardWebhooksVerifier::new(&whsec(&secret)).unwrap();
        let signature = signer.sign(&id, t, &body);
        let t_text = t.to_string();
        let headers = StandardWebhookHeaders {
            id: Some(&id),
            timestamp: Some(&t_text),
            signature: Some(&signature),
        };
        prop_assert_eq!(signer.verify(&headers, &body, at(t)), Ok(()));
        let stranger = StandardWebhooksVerifier::new(&whsec(&other)).unwrap();
        prop_assert!(stranger.verify(&headers, &body, at(t)).is_err());
        let changed = flip_one_byte(body, index, bit);
        prop_assert!(signer.verify(&headers, &changed, at(t)).is_err());
    }
}
