//! The outbound integrations through the real router: a message the CRM refuses parks after
//! its attempts and shows in `GET /api/v1/admin/integrations`, in its messages and attempts,
//! and in the attention list; once the CRM is fixed, a person's retry from the API sends it
//! once, and the item is resolved.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use api::auth::Role;
use eventlog::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::json;
use support::{new_order, App};
use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};

#[tokio::test]
async fn on_postgresql_a_parked_message_is_shown_and_retried_from_the_api() {
    a_parked_message_is_shown_and_retried_from_the_api(TestDatabase::postgres().await).await;
}

#[tokio::test]
async fn on_sqlite_a_parked_message_is_shown_and_retried_from_the_api() {
    a_parked_message_is_shown_and_retried_from_the_api(TestDatabase::sqlite()).await;
}

async fn a_parked_message_is_shown_and_retried_from_the_api(db: TestDatabase) {
    let crm = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(400).set_body_string("no such customer"))
        .mount(&crm)
        .await;
    let outbound = serde_json::from_value(json!({"crm": {
        "base_url": crm.uri(), "token": "crm-token",
        "limits": {"attempts": 2, "backoff_base_ms": 5, "backoff_max_ms": 10},
    }}))
    .unwrap();
    let app = App::start_sending(db, eventlog::SubscriptionOptions::default(), outbound).await;
    let (status, placed) = app
        .post(Role::Operator, "/api/v1/orders", new_order())
        .await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");

    let statuses = app
        .eventually("/api/v1/admin/integrations", |body| {
            body.as_array()
                .unwrap()
                .iter()
                .any(|d| d["destination"] == "crm" && d["parked"] == 1)
        })
        .await;
    let crm_status = statuses
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["destination"] == "crm")
        .unwrap();
    assert_eq!(crm_status["configured"], true);
    assert_eq!(crm_status["attempts_last_hour"]["rejected"], 2);
    let erp_status = statuses
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["destination"] == "erp")
        .unwrap();
    assert_eq!(erp_status["configured"], false);

    let (status, messages) = app
        .get(Role::Auditor, "/api/v1/admin/integrations/crm/messages")
        .await;
    assert_eq!(status, StatusCode::OK, "{messages}");
    let message = &messages[0];
    assert_eq!(message["state"], "parked");
    assert_eq!(message["event_type"], "OrderPlaced");
    let event_id = message["event_id"].as_str().unwrap().to_owned();
    let item = message["attention_id"].as_str().unwrap().to_owned();

    let (_, attempts) = app
        .get(
            Role::Operator,
            &format!("/api/v1/admin/integrations/crm/messages/{event_id}/attempts"),
        )
        .await;
    let attempts = attempts.as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["outcome"], "rejected");
    assert_eq!(attempts[0]["status"], 400);
    assert_eq!(attempts[0]["answer"], "no such customer");

    let listed = app
        .eventually("/api/v1/attention?process=outbound.crm", |body| {
            body["items"]
                .as_array()
                .is_some_and(|items| !items.is_empty())
        })
        .await;
    assert_eq!(listed["items"][0]["attention_id"], item.as_str());
    assert_eq!(listed["items"][0]["kind"], "parked_step");

    // Who may see and retry.
    let (status, _) = app.get(Role::Viewer, "/api/v1/admin/integrations").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let retry = format!("/api/v1/admin/integrations/crm/messages/{event_id}/retry");
    let (status, _) = app.post(Role::Auditor, &retry, json!({})).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = app
        .post(
            Role::Operator,
            "/api/v1/admin/integrations/fax/messages/x/retry",
            json!({}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );

    // Fixed, then retried from the API: it arrives once.
    crm.reset().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(201))
        .mount(&crm)
        .await;
    let (status, body) = app.post(Role::Operator, &retry, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.eventually("/api/v1/admin/integrations", |body| {
        body.as_array()
            .unwrap()
            .iter()
            .any(|d| d["destination"] == "crm" && d["parked"] == 0)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let received = crm.received_requests().await.unwrap();
    assert_eq!(received.len(), 1, "sent once after the fix");
    assert_eq!(
        received[0]
            .headers
            .get("idempotency-key")
            .unwrap()
            .to_str()
            .unwrap(),
        event_id
    );
    app.eventually(&format!("/api/v1/attention/{item}"), |body| {
        body["status"] == "resolved"
    })
    .await;
}
