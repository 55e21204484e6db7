//! Refused deliveries: a problem response and nothing stored, never a 500, whatever arrives.

use adapters::inbound::signature::StripeVerifier;
use axum::http::StatusCode;
use chrono::Utc;
use eventlog::{testing::TestDatabase, EventLog};
use proptest::prelude::*;

use crate::support::*;

eventlog::on_both_backends!(
    tampered_stale_missing_and_malformed_deliveries_are_refused_and_not_stored
);

async fn tampered_stale_missing_and_malformed_deliveries_are_refused_and_not_stored(
    _db: &TestDatabase,
    log: EventLog,
) {
    let app = app(log).await;
    let body = fixture("stripe/evt_payment_intent.succeeded.json");
    let verifier = StripeVerifier::new(STRIPE_SECRET).unwrap();
    let now = Utc::now().timestamp();
    let mut tampered = body.clone();
    tampered[20] ^= 1;
    let signed = verifier.sign(now, &body);
    let cases = [
        (
            "/webhooks/stripe",
            vec![("stripe-signature", signed.clone())],
            tampered,
            401,
            "invalid_signature",
        ),
        (
            "/webhooks/stripe",
            vec![("stripe-signature", verifier.sign(now - 301, &body))],
            body.clone(),
            401,
            "stale_timestamp",
        ),
        (
            "/webhooks/stripe",
            vec![],
            body.clone(),
            401,
            "missing_header",
        ),
        (
            "/webhooks/stripe",
            vec![("stripe-signature", "t=x,v1=zz".to_owned())],
            body.clone(),
            401,
            "malformed_header",
        ),
        (
            "/webhooks/easypost",
            vec![("x-hmac-signature", "sha1=00".to_owned())],
            body.clone(),
            401,
            "malformed_header",
        ),
        (
            "/webhooks/erp",
            vec![("webhook-id", "msg_1".to_owned())],
            body.clone(),
            401,
            "missing_header",
        ),
        (
            "/webhooks/stripe",
            vec![("stripe-signature", verifier.sign(now, b"not json"))],
            b"not json".to_vec(),
            400,
            "malformed_payload",
        ),
        (
            "/webhooks/paypal",
            vec![("stripe-signature", signed.clone())],
            body.clone(),
            404,
            "not_found",
        ),
        (
            "/webhooks/Stripe",
            vec![("stripe-signature", signed.clone())],
            body.clone(),
            404,
            "not_found",
        ),
    ];
    for (path, headers, body, status, code) in cases {
        let (answer, problem) = send(&app.router, post(path, &headers, body)).await;
        assert_eq!(answer.as_u16(), status, "{path} {code}: {problem}");
        assert_eq!(problem["code"], code);
        assert_eq!(problem["status"], status);
        assert_eq!(
            problem["type"],
            format!("https://backoffice.dev/problems/{}", code.replace('_', "-"))
        );
        assert!(problem["title"].is_string() && problem["detail"].is_string());
    }
    let (status, problem) = send(&app.router, stripe(&vec![b' '; 1024 * 1024 + 1])).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{problem}");
    assert_eq!(
        count(&app.log, "SELECT count(*) FROM webhook_inbox").await,
        0
    );
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("stripe-signature".to_owned()),
        Just("x-hmac-signature".to_owned()),
        Just("webhook-id".to_owned()),
        Just("webhook-timestamp".to_owned()),
        Just("webhook-signature".to_owned()),
        "[a-z][a-z0-9-]{0,12}",
    ]
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "t=[0-9]{1,12},v1=[0-9a-f]{0,64}",
        "hmac-sha256-hex=[0-9a-f]{0,64}",
        "v1,[A-Za-z0-9+/=]{0,44}( v1,[A-Za-z0-9+/=]{0,44})?",
        "[0-9]{1,20}",
        "[ -~]{0,40}",
    ]
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..256),
        Just(fixture("stripe/evt_payment_intent.succeeded.json")),
        Just(fixture("ours/erp/invoice.issued.json")),
        "\\{\"id\":\"[ -~]{0,10}\",\"type\":\"[a-z._]{0,20}\"\\}".prop_map(String::into_bytes),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_requests_never_get_a_500_nor_store_anything(
        path in prop_oneof![Just("stripe"), Just("easypost"), Just("erp"), Just("crm")],
        headers in proptest::collection::vec((header_name(), header_value()), 0..5),
        body in body(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let db = TestDatabase::sqlite();
            let app = app(db.log().await).await;
            let headers: Vec<(&str, String)> =
                headers.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
            let request = post(&format!("/webhooks/{path}"), &headers, body);
            let (status, problem) = send(&app.router, request).await;
            prop_assert!(status.is_client_error(), "{status}: {problem}");
            prop_assert!(problem["code"].is_string());
            prop_assert_eq!(count(&app.log, "SELECT count(*) FROM webhook_inbox").await, 0);
            Ok(())
        })?;
    }
}
