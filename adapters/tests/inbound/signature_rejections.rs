//! Deliveries that must be refused: tampered bodies, stale timestamps, missing and malformed
//! headers. Each error names the header at fault.

use std::time::Duration;

use adapters::inbound::signature::{
    EasyPostVerifier, Malformed, SignatureError, StandardWebhookHeaders, StandardWebhooksVerifier,
    StripeVerifier,
};

use crate::fixtures::{at, bytes};

const NOW: i64 = 1_721_950_001;
const STRIPE_BODY: &str = "stripe/evt_payment_intent.succeeded.json";
const STRIPE_HEADER: &str =
    "t=1721950001,v1=c55a88db6b874e609fcd0506f4897d4c26f021febbbc39439333feac64956c61";

fn stripe() -> StripeVerifier {
    StripeVerifier::new("whsec_test_secret").unwrap()
}

fn standard() -> StandardWebhooksVerifier {
    StandardWebhooksVerifier::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap()
}

fn tampered(body: &[u8]) -> Vec<u8> {
    // `"amount": 1099` becomes `"amount": 9099`: same length, one byte changed.
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.contains("\"amount\": 1099"));
    text.replacen("\"amount\": 1099", "\"amount\": 9099", 1)
        .into_bytes()
}

#[test]
fn a_tampered_stripe_body_matches_no_signature() {
    let body = tampered(&bytes(STRIPE_BODY));
    let err = stripe()
        .verify(Some(STRIPE_HEADER), &body, at(NOW))
        .unwrap_err();
    assert_eq!(
        err,
        SignatureError::NoMatchingSignature {
            header: "Stripe-Signature"
        }
    );
    assert_eq!(
        err.to_string(),
        "no signature in Stripe-Signature header matches the payload"
    );
}

#[test]
fn a_stripe_timestamp_outside_the_window_is_stale_in_either_direction() {
    let body = bytes(STRIPE_BODY);
    assert_eq!(
        stripe().verify(Some(STRIPE_HEADER), &body, at(NOW + 300)),
        Ok(())
    );
    assert_eq!(
        stripe().verify(Some(STRIPE_HEADER), &body, at(NOW - 300)),
        Ok(())
    );
    let err = stripe()
        .verify(Some(STRIPE_HEADER), &body, at(NOW + 301))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "timestamp 1721950001 in Stripe-Signature header is more than 300 s away from now (1721950302)"
    );
    let early = stripe().verify(Some(STRIPE_HEADER), &body, at(NOW - 301));
    assert!(matches!(early, Err(SignatureError::Stale { .. })));
}

#[test]
fn the_stripe_tolerance_can_be_configured() {
    let body = bytes(STRIPE_BODY);
    let strict = stripe().with_tolerance(Duration::from_secs(10));
    assert!(strict
        .verify(Some(STRIPE_HEADER), &body, at(NOW + 11))
        .is_err());
    let lenient = stripe().with_tolerance(Duration::from_secs(3_600));
    assert_eq!(
        lenient.verify(Some(STRIPE_HEADER), &body, at(NOW + 3_000)),
        Ok(())
    );
}

#[test]
fn a_forged_stripe_signature_is_refused_even_with_a_fresh_timestamp() {
    let body = bytes(STRIPE_BODY);
    let forged = StripeVerifier::new("whsec_guess").unwrap().sign(NOW, &body);
    let result = stripe().verify(Some(&forged), &body, at(NOW));
    assert_eq!(
        result,
        Err(SignatureError::NoMatchingSignature {
            header: "Stripe-Signature"
        })
    );
}

#[test]
fn missing_and_malformed_stripe_headers_are_named() {
    let body = bytes(STRIPE_BODY);
    let verify = |header| stripe().verify(header, &body, at(NOW));
    assert_eq!(
        verify(None).unwrap_err().to_string(),
        "missing Stripe-Signature header"
    );
    let cases = [
        ("", Malformed::InvalidEntry),
        ("v1=00", Malformed::NoTimestamp),
        ("t=abc,v1=00", Malformed::InvalidTimestamp),
        ("t=1721950001", Malformed::NoV1Signature),
        ("t=1721950001,v0=00", Malformed::NoV1Signature),
    ];
    for (header, reason) in cases {
        let expected = SignatureError::MalformedHeader {
            header: "Stripe-Signature",
            reason,
        };
        assert_eq!(verify(Some(header)), Err(expected), "{header:?}");
    }
    assert_eq!(
        verify(Some("t=abc,v1=00")).unwrap_err().to_string(),
        "malformed Stripe-Signature header: timestamp is not unix seconds"
    );
    // A v1 that is not hex (or is cut short) can match nothing, but the header is readable.
    for header in [
        "t=1721950001,v1=xyz",
        "t=1721950001,v1=c55a88db",
        "t=1721950001,v1=",
    ] {
        let result = verify(Some(header));
        assert!(
            matches!(result, Err(SignatureError::NoMatchingSignature { .. })),
            "{header}"
        );
    }
}

#[test]
fn easypost_refuses_a_tampered_body_and_missing_or_malformed_headers() {
    let verifier = EasyPostVerifier::new("s\u{e9}cret").unwrap();
    let body = br#"{"id":"evt_1","description":"tracker.updated"}"#;
    let header = verifier.sign(body);
    assert_eq!(verifier.verify(Some(&header), body), Ok(()));
    let mut changed = body.to_vec();
    changed[8] = b'2';
    let err = verifier.verify(Some(&header), &changed).unwrap_err();
    assert_eq!(
        err.to_string(),
        "no signature in X-Hmac-Signature header matches the payload"
    );
    assert_eq!(
        verifier.verify(None, body).unwrap_err().to_string(),
        "missing X-Hmac-Signature header"
    );
    let bare_hex = header.trim_start_matches("hmac-sha256-hex=");
    assert_eq!(
        verifier
            .verify(Some(bare_hex), body)
            .unwrap_err()
            .to_string(),
        "malformed X-Hmac-Signature header: value does not start with the expected prefix"
    );
    let empty = verifier.verify(Some("hmac-sha256-hex="), body);
    assert!(matches!(
        empty,
        Err(SignatureError::NoMatchingSignature { .. })
    ));
}

#[test]
fn standard_webhooks_name_the_missing_or_malformed_header() {
    let verifier = standard();
    let body = br#"{"type":"contact.updated"}"#;
    let signature = verifier.sign("msg_1", NOW, body);
    let full = StandardWebhookHeaders {
        id: Some("msg_1"),
        timestamp: Some("1721950001"),
        signature: Some(&signature),
    };
    assert_eq!(verifier.verify(&full, body, at(NOW)), Ok(()));
    let message = |headers: StandardWebhookHeaders<'_>| {
        verifier
            .verify(&headers, body, at(NOW))
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        message(StandardWebhookHeaders { id: None, ..full }),
        "missing webhook-id header"
    );
    assert_eq!(
        message(StandardWebhookHeaders {
            timestamp: None,
            ..full
        }),
        "missing webhook-timestamp header"
    );
    assert_eq!(
        message(StandardWebhookHeaders {
            signature: None,
            ..full
        }),
        "missing webhook-signature header"
    );
    assert_eq!(
        message(StandardWebhookHeaders {
            timestamp: Some("2024-07-25T23:26:41Z"),
            ..full
        }),
        "malformed webhook-timestamp header: timestamp is not unix seconds"
    );
    assert_eq!(
        message(StandardWebhookHeaders {
            signature: Some("v2,abc= nocomma"),
            ..full
        }),
        "malformed webhook-signature header: no v1 signature"
    );
    for signature in ["v1,", "v1,***", "v1,dGFt"] {
        let headers = StandardWebhookHeaders {
            signature: Some(signature),
            ..full
        };
        assert_eq!(
            message(headers),
            "no signature in webhook-signature header matches the payload"
        );
    }
}

#[test]
fn standard_webhooks_refuse_a_tampered_body_id_or_timestamp() {
    let verifier = standard();
    let body = br#"{"type":"contact.updated"}"#;
    let signature = verifier.sign("msg_1", NOW, body);
    let headers = |id, timestamp| StandardWebhookHeaders {
        id: Some(id),
        timestamp: Some(timestamp),
        signature: Some(&signature),
    };
    let no_match = Err(SignatureError::NoMatchingSignature {
        header: "webhook-signature",
    });
    assert_eq!(
        verifier.verify(&headers("msg_1", "1721950001"), b"{}", at(NOW)),
        no_match
    );
    assert_eq!(
        verifier.verify(&headers("msg_2", "1721950001"), body, at(NOW)),
        no_match
    );
    assert_eq!(
        verifier.verify(&headers("msg_1", "1721950002"), body, at(NOW)),
        no_match
    );
    let stale = verifier.verify(&headers("msg_1", "1721950001"), body, at(NOW + 301));
    assert_eq!(
        stale.unwrap_err().to_string(),
        "timestamp 1721950001 in webhook-timestamp header is more than 300 s away from now (1721950302)"
    );
}
