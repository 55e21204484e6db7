//! User administration is in the audit trail: who created a user, changed its role or
//! deactivated it, and when, read back through the audit API; and a user made before users were
//! events gets its history recorded with its first change.
#![allow(clippy::unwrap_used)]

mod support;

use api::auth::Role;
use reqwest::StatusCode;
use serde_json::Value;
use support::App;

/// The user events of the log, as the audit API answers them.
async fn user_events(app: &App) -> Vec<Value> {
    let (status, page) = app
        .get(
            Role::Auditor,
            "/api/v1/audit/events?stream_type=user&limit=500",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["events"].as_array().unwrap().clone()
}

/// The events of user `name`'s stream, found by its creation.
fn stream_of<'a>(events: &'a [Value], name: &str) -> Vec<&'a Value> {
    let created = events
        .iter()
        .find(|e| e["event_type"] == "UserCreated" && e["payload"]["name"] == name)
        .unwrap_or_else(|| panic!("no UserCreated for {name} in {events:#?}"));
    events
        .iter()
        .filter(|e| e["stream_id"] == created["stream_id"])
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_audit_trail_answers_who_changed_a_users_role_and_when() {
    let app = App::postgres().await;
    let before = chrono::Utc::now();
    let token = api::users::create_user(&app.log, "ana", Role::Viewer, "cli:bea")
        .await
        .unwrap();
    assert!(
        api::users::set_role(&app.log, "ana", Role::Finance, "cli:carl")
            .await
            .unwrap()
    );
    // The same role again changes nothing, and records nothing.
    assert!(
        api::users::set_role(&app.log, "ana", Role::Finance, "cli:carl")
            .await
            .unwrap()
    );
    assert!(api::users::deactivate_user(&app.log, "ana", "cli:dora")
        .await
        .unwrap());
    // A deactivated user keeps its role.
    let refused = api::users::set_role(&app.log, "ana", Role::Admin, "cli:eve").await;
    assert!(
        matches!(refused, Err(api::users::UserError::Deactivated(ref name)) if name == "ana"),
        "{refused:?}"
    );

    let events = user_events(&app).await;
    let ana = stream_of(&events, "ana");
    let trail: Vec<(&str, &str)> = ana
        .iter()
        .map(|e| {
            (
                e["event_type"].as_str().unwrap(),
                e["metadata"]["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        trail,
        vec![
            ("UserCreated", "cli:bea"),
            ("UserRoleChanged", "cli:carl"),
            ("UserDeactivated", "cli:dora"),
        ]
    );
    let changed = ana[1];
    assert_eq!(changed["payload"]["name"], "ana");
    assert_eq!(changed["payload"]["from"], "viewer");
    assert_eq!(changed["payload"]["to"], "finance");
    let at: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(changed["recorded_at"].clone()).unwrap();
    assert!(at >= before && at <= chrono::Utc::now(), "changed at {at}");

    // The same answer by event type: every role change, with who made it.
    let (status, page) = app
        .get(
            Role::Auditor,
            "/api/v1/audit/events?stream_type=user&event_type=UserRoleChanged",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let changes = page["events"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{page}");
    assert_eq!(changes[0]["metadata"]["actor"], "cli:carl");
    // Who may call follows the same transaction: ana's token is refused now.
    let status = app
        .client
        .get(format!("{}/api/v1/orders", app.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_made_before_users_were_events_gets_its_history_with_its_first_change() {
    let app = App::sqlite().await;
    // As the command line made users before: a row, no stream.
    let created_at_ms = 1_700_000_000_000_i64;
    eventlog::on_writer!(&app.log, |pool, _time| sqlx::query(
        "INSERT INTO api_users (user_id, name, role, created_at_ms) VALUES ($1, $2, $3, $4)"
    )
    .bind("0190d8a4-0000-7000-8000-0000000000aa")
    .bind("old")
    .bind("operator")
    .bind(created_at_ms)
    .execute(pool)
    .await
    .map(|_| ())
    .unwrap());

    assert!(
        api::users::set_role(&app.log, "old", Role::Auditor, "cli:bea")
            .await
            .unwrap()
    );
    let events = user_events(&app).await;
    let old = stream_of(&events, "old");
    assert_eq!(old.len(), 2, "{old:#?}");
    assert_eq!(old[0]["stream_id"], "0190d8a4-0000-7000-8000-0000000000aa");
    assert_eq!(old[0]["metadata"]["actor"], "system:users-before-the-log");
    assert_eq!(old[0]["payload"]["role"], "operator");
    assert_eq!(
        old[0]["payload"]["created_at"], "2023-11-14T22:13:20Z",
        "the row's creation time"
    );
    assert_eq!(old[1]["event_type"], "UserRoleChanged");
    assert_eq!(old[1]["metadata"]["actor"], "cli:bea");
    assert_eq!(old[1]["payload"]["from"], "operator");
    assert_eq!(old[1]["payload"]["to"], "auditor");
    // The row changed with it.
    let role: String = eventlog::on_readers!(&app.log, |pool, _time| sqlx::query_scalar(
        "SELECT role FROM api_users WHERE name = 'old'"
    )
    .fetch_one(pool)
    .await
    .unwrap());
    assert_eq!(role, "auditor");
}
