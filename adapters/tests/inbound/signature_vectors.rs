//! Every signature vector in the fixtures passes or fails exactly as its file says.

use adapters::inbound::signature::{
    EasyPostVerifier, SignatureError, StandardWebhookHeaders, StandardWebhooksVerifier,
    StripeVerifier,
};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::fixtures::{at, bytes, json, path, text};

fn stripe(secret: &str) -> StripeVerifier {
    StripeVerifier::new(secret).unwrap()
}

fn check_stripe_vector(vector: &Value, body: &[u8]) {
    let file = text(vector, "payload_file");
    assert_eq!(
        hex::encode(Sha256::digest(body)),
        text(vector, "payload_sha256"),
        "{file} is not the file that was signed"
    );
    let secret = text(vector, "secret");
    let timestamp = vector["timestamp"].as_i64().unwrap();
    let now = at(timestamp);
    let header = text(vector, "stripe_signature_header");
    assert_eq!(
        stripe(secret).verify(Some(header), body, now),
        Ok(()),
        "{file}"
    );
    assert_eq!(stripe(secret).sign(timestamp, body), header, "{file}");

    // Rotation: two v1 (new and old secret) and a v0 to ignore; each secret alone passes.
    let rotation = text(vector, "rotation_header_two_v1_plus_v0");
    let secrets = vector["rotation_header_valid_for_secrets"]
        .as_array()
        .unwrap();
    assert_eq!(secrets.len(), 2, "{file}");
    for valid in secrets {
        let valid = valid.as_str().unwrap();
        assert_eq!(
            stripe(valid).verify(Some(rotation), body, now),
            Ok(()),
            "{file} {valid}"
        );
    }
    let unrelated = stripe("whsec_unrelated").verify(Some(rotation), body, now);
    assert_eq!(
        unrelated,
        Err(SignatureError::NoMatchingSignature {
            header: "Stripe-Signature"
        })
    );

    for (case, message) in vector["expected_errors"].as_object().unwrap() {
        let message = message.as_str().unwrap();
        match case.as_str() {
            "construct_event_default_tolerance_300s" => {
                let late = stripe(secret).verify(Some(header), body, at(timestamp + 301));
                let err = late.unwrap_err();
                assert!(
                    matches!(err, SignatureError::Stale { .. }),
                    "{file}: {err:?}"
                );
                assert!(message.contains(&timestamp.to_string()));
                assert!(err.to_string().contains(&timestamp.to_string()), "{err}");
            }
            "body_with_extra_space" => {
                assert!(message.starts_with("No signatures found matching"));
                let mut spaced = body.to_vec();
                spaced.push(b' ');
                let result = stripe(secret).verify(Some(header), &spaced, now);
                assert!(matches!(
                    result,
                    Err(SignatureError::NoMatchingSignature { .. })
                ));
            }
            other => panic!("{file}: unknown expected error {other:?}; teach this test about it"),
        }
    }
}

#[test]
fn every_stripe_vector_with_its_payload_verifies_as_the_file_says() {
    let vectors = json("stripe/signature_vectors.json");
    let mut checked = 0;
    for vector in vectors["vectors"].as_array().unwrap() {
        let file = text(vector, "payload_file");
        assert!(
            path(file).exists(),
            "a vector names {file}, which is not shipped"
        );
        check_stripe_vector(vector, &bytes(file));
        checked += 1;
    }
    assert_eq!(checked, 2, "every vector of the shared fixtures");
}

#[test]
fn the_stripe_rotation_header_passes_a_verifier_holding_both_secrets() {
    let vectors = json("stripe/signature_vectors.json");
    let vector = &vectors["vectors"][0];
    let body = bytes(text(vector, "payload_file"));
    let verifier = stripe("whsec_old_secret")
        .add_secret("whsec_test_secret")
        .unwrap();
    let now = at(vector["timestamp"].as_i64().unwrap());
    let header = text(vector, "rotation_header_two_v1_plus_v0");
    assert_eq!(verifier.verify(Some(header), &body, now), Ok(()));
    // The v0 entry alone never passes, even though it is present.
    let v0_only = header
        .split(',')
        .filter(|e| !e.starts_with("v1="))
        .collect::<Vec<_>>();
    let result = verifier.verify(Some(&v0_only.join(",")), &body, now);
    assert!(
        matches!(result, Err(SignatureError::MalformedHeader { .. })),
        "{result:?}"
    );
}

#[test]
fn the_easypost_vector_verifies_over_the_body_without_its_trailing_newline() {
    let vector = json("easypost/signature_vector.json");
    assert_eq!(text(&vector, "header"), "X-Hmac-Signature");
    let file = bytes("easypost/tracker.updated.event-body.json");
    let body = file
        .strip_suffix(b"\n")
        .expect("the file ends with one newline");
    assert!(!body.ends_with(b"\n"));
    let expected = text(&vector, "expected_header_value");
    let verifier = EasyPostVerifier::new(text(&vector, "secret")).unwrap();
    assert_eq!(verifier.verify(Some(expected), body), Ok(()));
    assert_eq!(verifier.sign(body), expected);
    // The file as stored, newline included, is not what EasyPost signed.
    let with_newline = verifier.verify(Some(expected), &file);
    assert!(matches!(
        with_newline,
        Err(SignatureError::NoMatchingSignature { .. })
    ));
}

fn standard_headers<'a>(
    vector: &'a Value,
    timestamp: &'a str,
    signature: &'a str,
) -> StandardWebhookHeaders<'a> {
    StandardWebhookHeaders {
        id: Some(text(vector, "webhook-id")),
        timestamp: Some(timestamp),
        signature: Some(signature),
    }
}

#[test]
fn the_standard_webhooks_vector_and_its_negative_cases_verify_as_the_file_says() {
    let vector = json("standard-webhooks/test_vectors.json");
    let verifier = StandardWebhooksVerifier::new(text(&vector, "secret")).unwrap();
    let id = text(&vector, "webhook-id");
    let timestamp = vector["webhook-timestamp"].as_i64().unwrap();
    let t = timestamp.to_string();
    let body = text(&vector, "payload").as_bytes();
    let now = at(timestamp);
    assert_eq!(
        text(&vector, "signed_content"),
        format!("{id}.{t}.{}", text(&vector, "payload"))
    );

    let expected = text(&vector, "expected_webhook_signature");
    assert_eq!(
        verifier.verify(&standard_headers(&vector, &t, expected), body, now),
        Ok(())
    );
    assert_eq!(verifier.sign(id, timestamp, body), expected);
    let multi = text(&vector, "multi_signature_header_example");
    assert_eq!(
        verifier.verify(&standard_headers(&vector, &t, multi), body, now),
        Ok(())
    );

    let cases = vector["negative_cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        assert_eq!(text(case, "expect"), "reject");
        if let Some(signature) = case["webhook-signature"].as_str() {
            let result = verifier.verify(&standard_headers(&vector, &t, signature), body, now);
            assert_eq!(
                result,
                Err(SignatureError::NoMatchingSignature {
                    header: "webhook-signature"
                }),
                "{signature:?}"
            );
        } else if case["webhook-timestamp"] == "now-301 or now+301" {
            for offset in [-301, 301] {
                let signed_at = timestamp + offset;
                let signature = verifier.sign(id, signed_at, body);
                let signed_text = signed_at.to_string();
                let result = verifier.verify(
                    &standard_headers(&vector, &signed_text, &signature),
                    body,
                    now,
                );
                assert!(
                    matches!(result, Err(SignatureError::Stale { .. })),
                    "{offset}: {result:?}"
                );
            }
            for offset in [-300, 300] {
                let signed_at = timestamp + offset;
                let signature = verifier.sign(id, signed_at, body);
                let signed_text = signed_at.to_string();
                let headers = standard_headers(&vector, &signed_text, &signature);
                assert_eq!(verifier.verify(&headers, body, now), Ok(()), "{offset}");
            }
        } else {
            panic!("unknown negative case {case}; teach this test about it");
        }
    }
}
