//! Four-eyes refunds over the real router and server: above the configured amount a refund
//! awaits a second person's approval; the requester cannot approve it, a role without
//! `payments.approve` cannot either, a rejection ends it, and the audit trail names both
//! people. On PostgreSQL and SQLite.
#![allow(clippy::unwrap_used)]

mod support;

use api::auth::Role;
use eventlog::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::json;
use support::{trail, App};

/// Refunds above 10.00 EUR await approval in these tests.
const ABOVE_MINOR: i64 = 1_000;

async fn app(db: TestDatabase) -> App {
    App::start_configured(
        db,
        eventlog::SubscriptionOptions::default(),
        adapters::outbound::OutboundConfig::default(),
        |state| state.refund_approval_above_minor = ABOVE_MINOR,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_a_refund_above_the_amount_waits_for_a_second_person() {
    a_refund_above_the_amount_waits_for_a_second_person(app(TestDatabase::postgres().await).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_a_refund_above_the_amount_waits_for_a_second_person() {
    a_refund_above_the_amount_waits_for_a_second_person(app(TestDatabase::sqlite()).await).await;
}

async fn a_refund_above_the_amount_waits_for_a_second_person(app: App) {
    let (_, payment) = app.paid_order("ch_four_eyes").await;
    let refund = format!("/api/v1/payments/{payment}/refund");

    // Two refunds above 10.00 asked by finance: each awaits approval, nothing is refunded.
    let (status, first) = app
        .post(
            Role::Finance,
            &refund,
            json!({"amount_minor": 1500, "reference": "refund-big-1"}),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    assert_eq!(first["awaiting_approval"], true, "{first}");
    assert_eq!(first["reference"], "refund-big-1", "{first}");
    let (status, second) = app
        .post(Role::Finance, &refund, json!({"amount_minor": 1200}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{second}");
    let second_reference = second["reference"].as_str().unwrap().to_owned();
    assert!(second_reference.starts_with("refund-"), "{second}");

    let awaiting = app
        .eventually(
            &format!("/api/v1/refund-approvals?status=awaiting&payment_id={payment}"),
            |page| {
                page["items"]
                    .as_array()
                    .is_some_and(|items| items.len() == 2)
            },
        )
        .await;
    let item = awaiting["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["reference"] == "refund-big-1")
        .unwrap();
    assert_eq!(item["amount_minor"], 1500);
    assert_eq!(item["requested_by"], "user:finance");
    assert!(item["decided_by"].is_null());
    let (_, row) = app
        .get(Role::Viewer, &format!("/api/v1/payments/{payment}"))
        .await;
    assert_eq!(
        row["refunded_minor"], 0,
        "nothing refunded before approval: {row}"
    );

    // The requester cannot approve their own; a role without payments.approve cannot at all.
    let approve =
        |reference: &str| format!("/api/v1/payments/{payment}/refunds/{reference}/approve");
    let (status, problem) = app
        .post(Role::Finance, &approve("refund-big-1"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["rule"], "approver_is_requester", "{problem}");
    let (status, _) = app
        .post(Role::Operator, &approve("refund-big-1"), json!({}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A second person rejects one and approves the other: that one is refunded.
    let (status, rejected) = app
        .post(
            Role::Admin,
            &format!("/api/v1/payments/{payment}/refunds/{second_reference}/reject"),
            json!({"reason": "goods not returned"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rejected}");
    let (status, approved) = app
        .post(Role::Admin, &approve("refund-big-1"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{approved}");
    assert_eq!(approved["changed"], true);
    let (status, problem) = app
        .post(Role::Admin, &approve(&second_reference), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["rule"], "refund_rejected", "{problem}");
    // Approving again changes nothing.
    let (status, again) = app
        .post(Role::Admin, &approve("refund-big-1"), json!({}))
        .await;
    assert_eq!((status, &again["changed"]), (StatusCode::OK, &json!(false)));

    let paid = app
        .eventually(&format!("/api/v1/payments/{payment}"), |p| {
            p["refunded_minor"] == 1500
        })
        .await;
    assert_eq!(paid["status"], "partially_refunded", "{paid}");

    // At or below the amount a refund is made at once.
    let (status, small) = app
        .post(Role::Finance, &refund, json!({"amount_minor": 300}))
        .await;
    assert_eq!(status, StatusCode::OK, "{small}");
    assert_eq!(small["awaiting_approval"], false);
    app.eventually(&format!("/api/v1/payments/{payment}"), |p| {
        p["refunded_minor"] == 1800
    })
    .await;

    let decided = app
        .eventually(
            &format!("/api/v1/refund-approvals?payment_id={payment}"),
            |page| {
                page["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().all(|i| i["status"] != "awaiting"))
            },
        )
        .await;
    let by_reference = |reference: &str| {
        decided["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["reference"] == reference)
            .unwrap()
            .clone()
    };
    let approved = by_reference("refund-big-1");
    assert_eq!(
        (&approved["status"], &approved["decided_by"]),
        (&json!("approved"), &json!("user:admin"))
    );
    let rejected = by_reference(&second_reference);
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["rejection_reason"], "goods not returned");

    // Both steps are in the audit trail, each with its person.
    let (status, history) = app
        .get(
            Role::Auditor,
            &format!("/api/v1/audit/streams/payment/{payment}"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let trail = trail(&history);
    for step in [
        ("PaymentRefundApprovalAsked", "user:finance"),
        ("PaymentRefundRejected", "user:admin"),
        ("PaymentRefundApproved", "user:admin"),
    ] {
        assert!(
            trail.contains(&(step.0.to_owned(), step.1.to_owned())),
            "{step:?} in {trail:?}"
        );
    }

    // A bad status filter names its field.
    let (status, problem) = app
        .get(Role::Viewer, "/api/v1/refund-approvals?status=maybe")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(problem["field"], "status", "{problem}");
}

/// The CSRF token and one-time key of the page's form with `action`.
fn form_of(body: &str, action: &str) -> (String, String) {
    let at = body
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form {action} in {body}"));
    let form = &body[at..body[at..].find("</form>").unwrap() + at];
    let value = |name: &str| {
        let marker = format!("name=\"{name}\" value=\"");
        form.find(&marker).map_or(String::new(), |at| {
            let start = at + marker.len();
            form[start..start + form[start..].find('"').unwrap()].to_owned()
        })
    };
    (value("csrf"), value("key"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_the_console_one_person_asks_and_another_approves() {
    use support::console::{user_with_password, Browser, PASSWORD};

    let app = app(TestDatabase::postgres().await).await;
    let (_, payment) = app.paid_order("ch_console_four_eyes").await;
    user_with_password(&app, "fin", Role::Finance).await;
    user_with_password(&app, "bo", Role::Finance).await;
    let page = format!("/console/payments/{payment}");

    // fin asks for 15.00: above 10.00, it awaits approval; fin cannot approve it.
    let mut fin = Browser::new(&app);
    fin.sign_in("fin", PASSWORD).await;
    let shown = fin.get(&page).await;
    assert!(
        shown.body.contains("A refund above 10.00 EUR"),
        "{}",
        shown.body
    );
    let (csrf, key) = form_of(&shown.body, &format!("/console/payments/{payment}/refund"));
    let asked = fin
        .post(
            &format!("/console/payments/{payment}/refund"),
            &[
                ("csrf", &csrf),
                ("key", &key),
                ("amount", "15.00"),
                ("reference", "<b>big</b>"),
            ],
        )
        .await;
    assert_eq!(asked.status, StatusCode::SEE_OTHER, "{}", asked.body);
    assert!(
        asked.location().contains("done=refund_awaits"),
        "{}",
        asked.location()
    );
    let shown = fin.get(asked.location()).await;
    assert!(shown.body.contains("awaits approval"), "{}", shown.body);
    assert!(
        shown.body.contains("&#60;b&#62;big&#60;/b&#62;"),
        "escaped reference: {}",
        shown.body
    );
    assert!(!shown.body.contains("<b>big</b>"));
    assert!(
        !shown.body.contains("Approve refund"),
        "the requester sees no approval"
    );
    assert!(shown.body.contains("Withdraw refund"));
    // Posting the approval anyway is refused by the domain, and nothing is refunded.
    let approve = format!("/console/payments/{payment}/refunds/%3Cb%3Ebig%3C%2Fb%3E/approve");
    let refused = fin
        .post(
            &approve,
            &[("csrf", &session_csrf(&shown.body)), ("key", "k1")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body.contains("someone other than who asked"),
        "{}",
        refused.body
    );

    // The attention page lists it for whoever sees payments.
    let attention = fin.get("/console/attention").await;
    assert!(
        attention.body.contains("Refunds awaiting approval"),
        "{}",
        attention.body
    );
    assert!(attention.body.contains("15.00 EUR"));

    // bo, a second person, approves it: a forged post first does nothing.
    let mut bo = Browser::new(&app);
    bo.sign_in("bo", PASSWORD).await;
    let shown = bo.get(&page).await;
    assert!(shown.body.contains("Approve refund"), "{}", shown.body);
    let forged = bo.post(&approve, &[("csrf", "guess"), ("key", "k2")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let (csrf, key) = form_of(&shown.body, &approve);
    let approved = bo.post(&approve, &[("csrf", &csrf), ("key", &key)]).await;
    assert_eq!(approved.status, StatusCode::SEE_OTHER, "{}", approved.body);
    let paid = app
        .eventually(&format!("/api/v1/payments/{payment}"), |p| {
            p["refunded_minor"] == 1500
        })
        .await;
    assert_eq!(paid["status"], "partially_refunded");
    let shown = bo.get(&page).await;
    assert!(
        shown.body.contains("user:bo, "),
        "the decider is named: {}",
        shown.body
    );
}

/// The session's CSRF token, as the sign-out form carries it.
fn session_csrf(body: &str) -> String {
    form_of(body, "/console/sign-out").0
}
