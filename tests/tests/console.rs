//! The console's sign-in over the real router and server, as a browser without script speaks
//! to it: cookies, CSRF tokens in forms, the lockout, the headers, escaping.
#![allow(clippy::unwrap_used)]

mod support;

use api::auth::Role;
use reqwest::{header, StatusCode};
use support::{
    console::{user_with_password, Answer, Browser, PASSWORD},
    App,
};

/// The console's headers are on every answer.
fn assert_headers(answer: &Answer) {
    let header = |name: &str| {
        answer
            .headers
            .get(name)
            .map_or("", |value| value.to_str().unwrap())
    };
    assert_eq!(
        header("content-security-policy"),
        api::console::CONTENT_SECURITY_POLICY
    );
    assert!(!header("content-security-policy").contains("unsafe-inline"));
    assert_eq!(header("x-frame-options"), "DENY");
    assert_eq!(header("cache-control"), "no-store");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_signs_in_sees_the_dashboard_and_signs_out() {
    let app = App::postgres().await;
    user_with_password(&app, "ana", Role::Operator).await;
    let mut browser = Browser::new(&app);

    let first = browser.get("/console").await;
    assert_eq!(first.status, StatusCode::SEE_OTHER);
    assert_eq!(first.location(), "/console/sign-in");
    assert_headers(&first);

    let signed_in = browser.sign_in("ana", PASSWORD).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert_eq!(signed_in.location(), "/console");
    let cookie = signed_in.headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with("bo_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    let dashboard = browser.get("/console").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    assert_headers(&dashboard);
    assert!(dashboard
        .body
        .contains("Signed in as <strong>ana</strong> (operator)"));
    assert!(dashboard.body.contains("No orders placed today yet."));

    // An order placed: today's figures show it.
    let (status, _) = app
        .post(Role::Operator, "/api/v1/orders", support::new_order())
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let dashboard = browser.get("/console").await;
        if dashboard.body.contains("25.00 EUR") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{}", dashboard.body);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    // A sign-out without the session's CSRF token is refused; with it, the session ends.
    let forged = browser.post("/console/sign-out", &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_headers(&forged);
    let forged = browser
        .post("/console/sign-out", &[("csrf", "guess")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let csrf = browser.get("/console").await.csrf();
    let out = browser.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(browser.get("/console").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_wrong_passwords_lock_the_account_and_many_lock_the_address() {
    let app = App::sqlite().await;
    user_with_password(&app, "ana", Role::Finance).await;
    user_with_password(&app, "bea", Role::Viewer).await;
    let mut browser = Browser::new(&app);
    for _ in 0..5 {
        let wrong = browser.sign_in("ana", "not the password at all").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
        assert!(wrong.body.contains("Wrong name or password."));
    }
    let locked = browser.sign_in("ana", PASSWORD).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );
    assert!(locked.body.contains("Too many failed sign-ins"));
    // An unknown name fails the same way as a wrong password.
    let unknown = browser.sign_in("nobody", PASSWORD).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.body.contains("Wrong name or password."));

    // Another account from the same address still signs in, until the address has failed too
    // often itself.
    assert_eq!(
        browser.sign_in("bea", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    for n in 0..api::console::password::ADDRESS_FAILURES_BEFORE_LOCK {
        let name = format!("guess-{n}");
        browser.sign_in(&name, "not the password at all").await;
    }
    let mut other = Browser::new(&app);
    let locked = other.sign_in("bea", PASSWORD).await;
    assert_eq!(
        locked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        locked.body
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_sign_in_is_refused_and_a_deactivated_users_session_ends_at_its_next_request() {
    let app = App::sqlite().await;
    user_with_password(&app, "ana", Role::Operator).await;
    let mut browser = Browser::new(&app);
    // A sign-in form posted from elsewhere carries no token of this console's.
    let forged = browser
        .post(
            "/console/sign-in",
            &[("name", "ana"), ("password", PASSWORD), ("csrf", "x")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    assert_eq!(
        browser.sign_in("ana", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    assert_eq!(browser.get("/console").await.status, StatusCode::OK);
    assert!(api::users::deactivate_user(&app.log, "ana", "cli:test")
        .await
        .unwrap());
    let after = browser.get("/console").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.location(), "/console/sign-in");
    assert_eq!(
        browser.sign_in("ana", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hostile_name_is_shown_as_inert_text() {
    let app = App::sqlite().await;
    let name = "<script>alert(1)</script><img src=x onerror=alert(2)>";
    user_with_password(&app, name, Role::Viewer).await;
    let mut browser = Browser::new(&app);
    // Refused with the name echoed back into the form: escaped there too.
    let wrong = browser.sign_in(name, "not the password at all").await;
    assert!(!wrong.body.contains("<script>alert(1)"), "{}", wrong.body);
    assert_eq!(
        browser.sign_in(name, PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let dashboard = browser.get("/console").await;
    assert_eq!(dashboard.status, StatusCode::OK);
    assert!(
        !dashboard.body.contains("<script>alert(1)"),
        "{}",
        dashboard.body
    );
    assert!(!dashboard.body.contains("<img src=x"), "{}", dashboard.body);
    assert!(
        dashboard
            .body
            .contains("&#60;script&#62;alert(1)&#60;/script&#62;")
            || dashboard
                .body
                .contains("&lt;script&gt;alert(1)&lt;/script&gt;")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_link_works_once_and_not_once_expired() {
    let app = App::postgres().await;
    api::users::create_user(&app.log, "ana", Role::Finance, "cli:test")
        .await
        .unwrap();
    let token = api::users::issue_reset(&app.log, "ana", "cli:admin")
        .await
        .unwrap()
        .unwrap();
    assert!(api::users::issue_reset(&app.log, "nobody", "cli:admin")
        .await
        .unwrap()
        .is_none());
    let link = format!("/console/reset/{token}");
    let mut browser = Browser::new(&app);
    let form = browser.get(&link).await;
    assert_eq!(form.status, StatusCode::OK);
    assert_headers(&form);
    let csrf = form.csrf();
    // A refused password leaves the link working.
    let weak = browser
        .post(&link, &[("password", "short"), ("csrf", &csrf)])
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        weak.body.contains("at least 12 characters"),
        "{}",
        weak.body
    );
    let csrf = weak.csrf();
    let forged = Browser::new(&app)
        .post(&link, &[("password", PASSWORD), ("csrf", &csrf)])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "no CSRF cookie");
    let set = browser
        .post(&link, &[("password", PASSWORD), ("csrf", &csrf)])
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert!(set.body.contains("Your password is set"));
    assert_eq!(
        Browser::new(&app).sign_in("ana", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );

    // Once only.
    let again = browser.get(&link).await;
    assert_eq!(again.status, StatusCode::GONE);
    let csrf = browser.get("/console/sign-in").await.csrf();
    let again = browser
        .post(
            &link,
            &[("password", "another long password"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(again.status, StatusCode::GONE);

    // An expired link does nothing.
    let expired = api::users::issue_reset(&app.log, "ana", "cli:admin")
        .await
        .unwrap()
        .unwrap();
    eventlog::on_writer!(&app.log, |pool, _time| sqlx::query(
        "UPDATE password_resets SET expires_at_ms = 0 WHERE used_at_ms IS NULL"
    )
    .execute(pool)
    .await
    .map(|_| ())
    .unwrap());
    assert_eq!(
        browser
            .get(&format!("/console/reset/{expired}"))
            .await
            .status,
        StatusCode::GONE
    );
    assert!(
        !api::users::use_reset(&app.log, &expired, "another long password")
            .await
            .unwrap()
    );

    // The audit trail has who issued it and that ana set her password, never either secret.
    let (status, page) = app
        .get(
            Role::Auditor,
            "/api/v1/audit/events?stream_type=user&limit=500",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let trail = support::trail(&page["events"]);
    let expected: Vec<(String, String)> = [
        ("UserCreated", "cli:test"),
        ("UserPasswordResetIssued", "cli:admin"),
        ("UserPasswordChanged", "user:ana"),
        ("UserPasswordResetIssued", "cli:admin"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    // The fixture's role users come first; ana's events are the last four.
    assert_eq!(trail[trail.len() - 4..], expected[..]);
    let text = page.to_string();
    assert!(!text.contains(&token) && !text.contains(&expired));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_changes_their_own_password_with_the_current_one() {
    let app = App::sqlite().await;
    user_with_password(&app, "ana", Role::Operator).await;
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser.sign_in("ana", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
    let form = browser.get("/console/password").await;
    assert_eq!(form.status, StatusCode::OK);
    assert_headers(&form);
    let csrf = form.csrf();
    let new = "an even longer new password";

    let wrong = browser
        .post(
            "/console/password",
            &[("current", "not it at all"), ("new", new), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    let weak = browser
        .post(
            "/console/password",
            &[("current", PASSWORD), ("new", "short"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(weak.status, StatusCode::UNPROCESSABLE_ENTITY);
    let forged = browser
        .post(
            "/console/password",
            &[("current", PASSWORD), ("new", new), ("csrf", "guess")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // None of those changed it.
    assert_eq!(
        Browser::new(&app).sign_in("ana", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );

    let changed = browser
        .post(
            "/console/password",
            &[("current", PASSWORD), ("new", new), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER, "{}", changed.body);
    assert_eq!(changed.location(), "/console/sign-in");
    // Every session ended, this one too; the new password signs in, the old one does not.
    assert_eq!(browser.get("/console").await.status, StatusCode::SEE_OTHER);
    assert_eq!(
        Browser::new(&app).sign_in("ana", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        Browser::new(&app).sign_in("ana", new).await.status,
        StatusCode::SEE_OTHER
    );
    let (_, page) = app
        .get(
            Role::Auditor,
            "/api/v1/audit/events?stream_type=user&event_type=UserPasswordChanged",
        )
        .await;
    let actors: Vec<(String, String)> = support::trail(&page["events"]);
    assert_eq!(
        actors.last().unwrap(),
        &("UserPasswordChanged".to_owned(), "user:ana".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_sign_ins_a_quarter_of_an_hour_old_are_forgotten() {
    let app = App::sqlite().await;
    user_with_password(&app, "cleo", Role::Viewer).await;
    let mut browser = Browser::new(&app);
    for _ in 0..4 {
        let wrong = browser.sign_in("cleo", "not the password at all").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    // The four were long ago: the fifth starts the count again instead of locking.
    let long_ago = api::console::password::FAILURES_FORGOTTEN_AFTER_MS + 1_000;
    eventlog::on_writer!(&app.log, |pool, _time| sqlx::query(
        "UPDATE sign_in_failures SET last_failure_at_ms = last_failure_at_ms - $1"
    )
    .bind(long_ago)
    .execute(pool)
    .await
    .map(|_| ())
    .unwrap());
    let wrong = browser.sign_in("cleo", "not the password at all").await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        browser.sign_in("cleo", PASSWORD).await.status,
        StatusCode::SEE_OTHER,
        "not locked"
    );
}
