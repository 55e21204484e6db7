//! The console's operational pages over the real server, as a browser without script uses
//! them: users (role change, deactivation, reset link), the audit search answering who changed
//! a role and when, attention items retried and dismissed, webhook deliveries and parked
//! outbound messages retried, projection rebuilds; each with its permission, CSRF and escaping.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use api::auth::Role;
use eventlog::testing::TestDatabase;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{
    console::{user_with_password, Answer, Browser, PASSWORD},
    new_order, App,
};
use wiremock::{matchers::any, Mock, MockServer, ResponseTemplate};

const HOSTILE: &str = "<script>alert(1)</script>";

/// The value of the first field `name` in `html`.
fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the field") + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_owned()
}

/// The HTML after the first `marker` on the page (a form's action, say).
fn after<'a>(answer: &'a Answer, marker: &str) -> &'a str {
    let start = answer.body.find(marker).expect("the marker");
    &answer.body[start..]
}

/// `text` shown as inert text: escaped, never as markup.
fn assert_escaped(answer: &Answer, text: &str) {
    assert!(!answer.body.contains(text), "{}", answer.body);
    let escaped = text
        .replace('&', "&#38;")
        .replace('<', "&#60;")
        .replace('>', "&#62;");
    let named = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(
        answer.body.contains(&escaped) || answer.body.contains(&named),
        "{}",
        answer.body
    );
}

/// A browser signed in as a new user `name` of `role`.
async fn signed_in(app: &App, name: &str, role: Role) -> Browser {
    user_with_password(app, name, role).await;
    let mut browser = Browser::new(app);
    let answer = browser.sign_in(name, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    browser
}

/// Loads `path` until `done` holds for its body, bounded.
async fn page_until(browser: &mut Browser, path: &str, done: impl Fn(&str) -> bool) -> Answer {
    let start = Instant::now();
    loop {
        let answer = browser.get(path).await;
        if answer.status == StatusCode::OK && done(&answer.body) {
            return answer;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never: {path} {}",
            answer.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_changes_a_role_and_the_audit_page_answers_who_and_when() {
    let app = App::postgres().await;
    let mut boss = signed_in(&app, "boss", Role::Admin).await;
    api::users::create_user(&app.log, "ana", Role::Viewer, "cli:test")
        .await
        .unwrap();
    let users = boss.get("/console/users").await;
    assert_eq!(users.status, StatusCode::OK);
    let csrf = users.csrf();
    let changed = boss
        .post(
            "/console/users/role",
            &[("csrf", &csrf), ("name", "ana"), ("role", "finance")],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert_eq!(changed.location(), "/console/users?done=role");
    let users = boss.get(changed.location()).await;
    assert!(
        users.body.contains("The role was changed"),
        "{}",
        users.body
    );

    // The user's stream has the change, by the admin, at its time.
    let (_, found) = app
        .get(
            Role::Auditor,
            "/api/v1/audit/events?stream_type=user&event_type=UserRoleChanged",
        )
        .await;
    let event = &found["events"][0];
    assert_eq!(event["metadata"]["actor"], "user:boss", "{found}");
    assert_eq!(event["payload"]["to"], "finance");
    let stream = format!("user/{}", event["stream_id"].as_str().unwrap());
    let at: chrono::DateTime<chrono::Utc> = event["recorded_at"].as_str().unwrap().parse().unwrap();
    let when = at.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    // The users page links to it.
    assert!(
        users.body.contains(&format!(
            "/console/audit?stream={}",
            stream.replace('/', "%2F")
        )),
        "{}",
        users.body
    );
    let history = boss.get(&format!("/console/audit?stream={stream}")).await;
    assert_eq!(history.status, StatusCode::OK);
    let row = history
        .body
        .split("<tr><td>")
        .find(|row| row.contains("<td>UserRoleChanged</td>"))
        .unwrap_or_else(|| panic!("{}", history.body));
    assert!(row.contains("user:boss") && row.contains(&when), "{row}");
    assert!(row.contains("finance"), "{row}");
    // And a search by actor and event type finds it too.
    let search = boss
        .get("/console/audit?actor=user%3Aboss&event_type=UserRoleChanged")
        .await;
    assert!(search.body.contains(&stream), "{}", search.body);
    // An operator has no audit view; a bad time is a 422, not a 500.
    let mut ops = signed_in(&app, "ops", Role::Operator).await;
    assert_eq!(
        ops.get("/console/audit").await.status,
        StatusCode::FORBIDDEN
    );
    let bad = boss.get("/console/audit?from=yesterday").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_deactivated_in_the_console_loses_their_session_at_its_next_request() {
    let app = App::sqlite().await;
    let mut boss = signed_in(&app, "boss", Role::Admin).await;
    let mut ana = signed_in(&app, "ana", Role::Operator).await;
    assert_eq!(ana.get("/console").await.status, StatusCode::OK);
    let csrf = boss.get("/console/users").await.csrf();
    // Without the confirmation, nothing happens.
    let unconfirmed = boss
        .post(
            "/console/users/deactivate",
            &[("csrf", &csrf), ("name", "ana"), ("confirm", "")],
        )
        .await;
    assert_eq!(unconfirmed.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(unconfirmed.body.contains("type their name"));
    assert_eq!(ana.get("/console").await.status, StatusCode::OK);
    let done = boss
        .post(
            "/console/users/deactivate",
            &[("csrf", &csrf), ("name", "ana"), ("confirm", "ana")],
        )
        .await;
    assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
    let next = ana.get("/console").await;
    assert_eq!(next.status, StatusCode::SEE_OTHER);
    assert_eq!(next.location(), "/console/sign-in");
    let users = boss.get("/console/users").await;
    assert!(users.body.contains("no (deactivated)"), "{}", users.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_link_issued_in_the_console_works_once() {
    let app = App::postgres().await;
    let mut boss = signed_in(&app, "boss", Role::Admin).await;
    api::users::create_user(&app.log, "ana", Role::Finance, "cli:test")
        .await
        .unwrap();
    let csrf = boss.get("/console/users").await.csrf();
    let issued = boss
        .post(
            "/console/users/reset-link",
            &[("csrf", &csrf), ("name", "ana")],
        )
        .await;
    assert_eq!(issued.status, StatusCode::OK, "{}", issued.body);
    let start = issued.body.find("/console/reset/").unwrap() + "/console/reset/".len();
    let token = &issued.body[start..start + 64];
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
    let link = format!("/console/reset/{token}");

    let mut ana = Browser::new(&app);
    let form = ana.get(&link).await;
    assert_eq!(form.status, StatusCode::OK);
    let set = ana
        .post(&link, &[("password", PASSWORD), ("csrf", &form.csrf())])
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert_eq!(
        ana.sign_in("ana", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(Browser::new(&app).get(&link).await.status, StatusCode::GONE);
    let users = boss.get("/console/users").await;
    let row = users
        .body
        .split("<tr>")
        .find(|r| r.contains("<td>ana</td>"))
        .unwrap();
    assert!(row.contains("<td>set</td>"), "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_non_admin_gets_403_on_users_and_rebuilds_and_forged_posts_change_nothing() {
    let app = App::sqlite().await;
    let mut ops = signed_in(&app, "ops", Role::Operator).await;
    let users = ops.get("/console/users").await;
    assert_eq!(users.status, StatusCode::FORBIDDEN);
    assert!(
        !users.body.contains("/console/users/role"),
        "{}",
        users.body
    );
    let csrf = ops.get("/console").await.csrf();
    let posted = ops
        .post(
            "/console/users/role",
            &[("csrf", &csrf), ("name", "ops"), ("role", "admin")],
        )
        .await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN);
    let projections = ops.get("/console/projections").await;
    assert_eq!(projections.status, StatusCode::OK, "{}", projections.body);
    assert!(!projections.body.contains("/console/projections/rebuild"));
    let rebuild = ops
        .post(
            "/console/projections/rebuild",
            &[("csrf", &csrf), ("model", "orders")],
        )
        .await;
    assert_eq!(rebuild.status, StatusCode::FORBIDDEN);

    // An admin's forms posted without their token: refused, nothing changed.
    let mut boss = signed_in(&app, "boss", Role::Admin).await;
    for (path, fields) in [
        ("/console/users", vec![("name", "eve"), ("role", "admin")]),
        (
            "/console/users/role",
            vec![("name", "ops"), ("role", "admin")],
        ),
        (
            "/console/users/deactivate",
            vec![("name", "ops"), ("confirm", "ops")],
        ),
        ("/console/projections/rebuild", vec![("model", "orders")]),
    ] {
        let forged = boss.post(path, &fields).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{path}");
    }
    let (_, events) = app
        .get(Role::Auditor, "/api/v1/audit/events?actor=user%3Aboss")
        .await;
    assert_eq!(events["events"], json!([]), "{events}");
    let projections = boss.get("/console/projections").await;
    assert!(projections.body.contains("No rebuild was started"));
    assert_eq!(ops.get("/console").await.status, StatusCode::OK);

    // A hostile name, created by the admin, shows as text.
    let csrf = boss.get("/console/users").await.csrf();
    let created = boss
        .post(
            "/console/users",
            &[("csrf", &csrf), ("name", HOSTILE), ("role", "viewer")],
        )
        .await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    assert_escaped(&boss.get("/console/users").await, HOSTILE);
    let taken = boss
        .post(
            "/console/users",
            &[("csrf", &csrf), ("name", HOSTILE), ("role", "viewer")],
        )
        .await;
    assert_eq!(taken.status, StatusCode::CONFLICT);
    assert_escaped(&taken, HOSTILE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_rebuilds_a_read_model_once_at_a_time() {
    let app = App::postgres().await;
    let mut boss = signed_in(&app, "boss", Role::Admin).await;
    let page = boss.get("/console/projections").await;
    assert!(page.body.contains("Rebuild orders"), "{}", page.body);
    let csrf = page.csrf();
    let rebuild = [("csrf", csrf.as_str()), ("model", "orders")];
    // Another rebuild (the command line's, say) holds the claim: this one is refused.
    let claim = app.log.try_claim("rebuild").await.unwrap().unwrap();
    let refused = boss.post("/console/projections/rebuild", &rebuild).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body.contains("Another rebuild is running"));
    claim.release().await;

    let started = boss.post("/console/projections/rebuild", &rebuild).await;
    assert_eq!(started.status, StatusCode::SEE_OTHER, "{}", started.body);
    let done = page_until(&mut boss, "/console/projections", |body| {
        body.contains("<td>finished</td>")
    })
    .await;
    assert!(
        done.body.contains("swapped in at log position"),
        "{}",
        done.body
    );
    assert!(done.body.contains("user:boss"));
}

/// Waits until the Stripe delivery `event_id` has `status`.
async fn delivery_is(app: &App, event_id: &str, done: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/api/v1/admin/webhooks/deliveries/stripe/{event_id}");
    app.eventually(&path, done).await
}

/// An attention item of a refund refused during a cancellation (the payment is disputed), as
/// `workflows.rs` makes one: its id.
async fn refused_refund(app: &App) -> String {
    let (order, _payment) = app.paid_order("ch_console_1").await;
    let dispute = json!({
        "id": "evt_console_dp", "object": "event", "type": "charge.dispute.created",
        "created": 1721950000, "livemode": false,
        "data": {"object": {
            "id": "dp_console_1", "object": "dispute", "amount": 2500, "currency": "eur",
            "reason": "fraudulent", "status": "needs_response", "charge": "ch_console_1",
            "payment_intent": null, "metadata": {"order_id": order}
        }}
    });
    assert_eq!(app.stripe_delivery(&dispute).await, StatusCode::ACCEPTED);
    delivery_is(app, "evt_console_dp", |d| d["status"] == "done").await;
    let (status, _) = app
        .post(
            Role::Operator,
            &format!("/api/v1/orders/{order}/cancel"),
            json!({"reason": "customer changed their mind"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let list = app
        .eventually(&format!("/api/v1/attention?order_id={order}"), |page| {
            page["items"].as_array().is_some_and(|i| !i.is_empty())
        })
        .await;
    list["items"][0]["attention_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_attention_item_is_retried_and_dismissed_with_a_reason_from_the_console() {
    let app = App::postgres().await;
    let id = refused_refund(&app).await;
    let item_path = format!("/console/attention/{id}");
    let api_path = format!("/api/v1/attention/{id}");

    // A viewer sees it and its cause chain, with no action; posting one anyway is a 403.
    let mut vic = signed_in(&app, "vic", Role::Viewer).await;
    let list = vic.get("/console/attention?status=open").await;
    assert!(list.body.contains(&id), "{}", list.body);
    let seen = vic.get(&item_path).await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(seen.body.contains("OrderCancelled") && seen.body.contains("user:operator"));
    assert!(!seen.body.contains(&format!("{item_path}/retry")));
    let csrf = seen.csrf();
    let posted = vic
        .post(&format!("{item_path}/retry"), &[("csrf", &csrf)])
        .await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN);
    assert_eq!(
        vic.get("/console/attention?kind=nonsense").await.status,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // Finance may act; a form without its token does nothing.
    let mut fin = signed_in(&app, "fin", Role::Finance).await;
    let page = fin.get(&item_path).await;
    assert!(page.body.contains(&format!("{item_path}/retry")));
    let forged = fin
        .post(&format!("{item_path}/dismiss"), &[("reason", "forged")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let retried = fin
        .post(
            &format!("{item_path}/retry"),
            &[("csrf", &page.csrf()), ("key", &field(&page.body, "key"))],
        )
        .await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.body);
    assert!(retried
        .location()
        .starts_with(&format!("{item_path}?done=retried")));
    let (_, item) = app.get(Role::Viewer, &api_path).await;
    assert_eq!(item["dismissal_reason"], Value::Null);
    // Still disputed, the step is refused again: open once more, with the retry counted.
    app.eventually(&api_path, |i| i["status"] == "open" && i["retries"] == 1)
        .await;

    let page = page_until(&mut fin, &item_path, |b| b.contains("Dismiss the item")).await;
    let key = field(after(&page, "/dismiss\""), "key");
    let key = key.as_str();
    let empty = fin
        .post(
            &format!("{item_path}/dismiss"),
            &[("csrf", &page.csrf()), ("key", key), ("reason", " ")],
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    let dismissed = fin
        .post(
            &format!("{item_path}/dismiss"),
            &[("csrf", &page.csrf()), ("key", key), ("reason", HOSTILE)],
        )
        .await;
    assert_eq!(
        dismissed.status,
        StatusCode::SEE_OTHER,
        "{}",
        dismissed.body
    );
    let shown = fin.get(dismissed.location()).await;
    assert!(
        shown.body.contains("The item was dismissed."),
        "{}",
        shown.body
    );
    assert!(shown.body.contains("<td>dismissed</td>"), "{}", shown.body);
    assert_escaped(&shown, HOSTILE);
    let (_, item) = app.get(Role::Viewer, &api_path).await;
    assert_eq!(item["status"], "dismissed");
    assert_eq!(item["dismissal_reason"], HOSTILE);
    assert_eq!(item["updated_by"], "user:fin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhook_deliveries_and_parked_outbound_messages_are_retried_from_the_console() {
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
    let app = App::start_sending(
        TestDatabase::sqlite(),
        eventlog::SubscriptionOptions::default(),
        outbound,
    )
    .await;

    // A Stripe delivery about a payment we do not know: unmatched.
    let file = "../adapters/tests/fixtures/webhooks/stripe/evt_payment_intent.succeeded.json";
    let mut delivery: Value =
        serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    delivery["id"] = json!("evt_console_unmatched");
    delivery["data"]["object"]["metadata"] =
        json!({"payment_id": uuid::Uuid::now_v7(), "order_id": uuid::Uuid::now_v7()});
    assert_eq!(app.stripe_delivery(&delivery).await, StatusCode::ACCEPTED);
    delivery_is(&app, "evt_console_unmatched", |d| {
        d["status"] == "unmatched"
    })
    .await;

    // A viewer sees neither; an operator sees the outbound side only.
    let mut vic = signed_in(&app, "vic", Role::Viewer).await;
    assert_eq!(
        vic.get("/console/deliveries").await.status,
        StatusCode::FORBIDDEN
    );
    let mut ops = signed_in(&app, "ops", Role::Operator).await;
    let seen = ops.get("/console/deliveries").await;
    assert_eq!(seen.status, StatusCode::OK);
    assert!(!seen.body.contains("evt_console_unmatched"));
    assert!(seen.body.contains("Outbound destinations"));
    let retry = [
        ("csrf", seen.csrf()),
        ("source", "stripe".to_owned()),
        ("event_id", "evt_console_unmatched".to_owned()),
    ];
    let retry: Vec<(&str, &str)> = retry.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let posted = ops.post("/console/deliveries/retry", &retry).await;
    assert_eq!(posted.status, StatusCode::FORBIDDEN);

    // An admin retries it: processed again (still unmatched, one attempt more).
    let mut boss = signed_in(&app, "boss", Role::Admin).await;
    let page = boss
        .get("/console/deliveries?source=stripe&status=unmatched")
        .await;
    assert!(
        page.body.contains("Retry evt_console_unmatched"),
        "{}",
        page.body
    );
    let forged = boss.post("/console/deliveries/retry", &retry[1..]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let csrf = page.csrf();
    let retry = [
        ("csrf", csrf.as_str()),
        ("source", "stripe"),
        ("event_id", "evt_console_unmatched"),
    ];
    let retried = boss.post("/console/deliveries/retry", &retry).await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.body);
    delivery_is(&app, "evt_console_unmatched", |d| {
        d["attempts"] == 2 && d["status"] == "unmatched"
    })
    .await;

    // The CRM refuses an order's message until it parks; fixed, it is retried from the page.
    let (status, _) = app
        .post(Role::Operator, "/api/v1/orders", new_order())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let page = page_until(&mut ops, "/console/deliveries", |b| {
        b.contains("<td>parked</td>")
    })
    .await;
    // The dashboard says where to look.
    let dashboard = ops.get("/console").await;
    assert!(
        dashboard.body.contains("crm: circuit") && dashboard.body.contains("1 parked"),
        "{}",
        dashboard.body
    );
    assert!(dashboard.body.contains("read models and process managers"));
    let form = after(&page, "/console/deliveries/messages/retry");
    let (key, event_id) = (field(form, "key"), field(form, "event_id"));
    crm.reset().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(201))
        .mount(&crm)
        .await;
    let fields = [
        ("csrf", page.csrf()),
        ("key", key),
        ("destination", "crm".to_owned()),
        ("event_id", event_id),
    ];
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let retried = ops
        .post("/console/deliveries/messages/retry", &fields)
        .await;
    assert_eq!(retried.status, StatusCode::SEE_OTHER, "{}", retried.body);
    page_until(&mut ops, "/console/deliveries", |b| {
        b.contains("No message is set aside.")
    })
    .await;
    assert_eq!(crm.received_requests().await.unwrap().len(), 1);
}
