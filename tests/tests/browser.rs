//! The console in a real browser: headless Chromium driven over WebDriver (chromedriver), one
//! browser per person, against the real server (ADR 0025). Sign-in and out by keyboard, the
//! lockout, a reset link, what a viewer sees, forged posts, hostile text, the headers, axe-core
//! and the keyboard on every page, and a screenshot of each main page
//! (`BACKOFFICE_SCREENSHOTS=docs/console cargo test -p e2e --test browser` refreshes
//! docs/console/*.png).
//!
//! Needs Debian's `chromium` and `chromium-driver` and axe-core from npm, which `.ci/run`
//! installs; a test fails, saying so, without them.
#![allow(clippy::unwrap_used)]

mod support;

/// The harness: WebDriver over reqwest, and a person at a browser.
mod browser {
    pub mod person;
    pub mod webdriver;
}

use api::auth::Role;
use browser::{person::Person, webdriver::key, webdriver::Driver};
use reqwest::{header, StatusCode};
use serde_json::json;
use support::{
    console::{user_with_password, PASSWORD},
    App,
};

/// What the console holds for its pages to show: an order (reference, line name, address), a
/// paid one (a capture reference) with a shipment (a tracking number), and an attention item
/// (a refund refused on a cancellation, with its reason). The ids, for the pages of one.
struct Data {
    order: String,
    payment: String,
    shipment: String,
    attention: String,
}

/// Script and HTML that would run or make elements if a page inserted them unescaped.
const PAYLOADS: [&str; 3] = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "\"><svg onload=alert(1)>",
];

/// The console's pages for a signed-in person, each checked for its headers, by axe-core and
/// by keyboard, and screenshotted as `{name}.png`. A page built is one line here.
fn pages(data: &Data) -> Vec<(&'static str, String)> {
    vec![
        ("dashboard", "/console".to_owned()),
        ("orders", "/console/orders".to_owned()),
        ("order", format!("/console/orders/{}", data.order)),
        ("payments", "/console/payments".to_owned()),
        ("payment", format!("/console/payments/{}", data.payment)),
        ("shipments", "/console/shipments".to_owned()),
        ("shipment", format!("/console/shipments/{}", data.shipment)),
        ("attention", "/console/attention".to_owned()),
        (
            "attention-item",
            format!("/console/attention/{}", data.attention),
        ),
        ("deliveries", "/console/deliveries".to_owned()),
        ("projections", "/console/projections".to_owned()),
        ("users", "/console/users".to_owned()),
        ("audit", "/console/audit".to_owned()),
        ("password", "/console/password".to_owned()),
    ]
}

/// Makes [`Data`] through the REST API and a signed Stripe webhook; `hostile`, with a payload
/// of [`PAYLOADS`] in each free-text field.
async fn data(app: &App, hostile: bool) -> Data {
    let text = |payload: usize, plain: &'static str| {
        if hostile {
            PAYLOADS[payload]
        } else {
            plain
        }
    };
    let mut order = support::new_order();
    order["external_reference"] = json!(text(0, "SHOP-1042"));
    order["lines"][0]["name"] = json!(text(1, "Blue mug"));
    order["shipping_address"] = json!({
        "recipient": text(2, "Ana Lima"), "line1": text(0, "Hauptstrasse 1"),
        "city": text(1, "Berlin"), "country": "DE"
    });
    let (status, placed) = app.post(Role::Operator, "/api/v1/orders", order).await;
    assert_eq!(status, StatusCode::CREATED, "{placed}");

    let (paid, payment) = app.paid_order(text(2, "ch_3PqR7xKZ")).await;
    let lines = json!([{"sku": "SKU-A", "quantity": 2}, {"sku": "SKU-B", "quantity": 1}]);
    let (status, allocated) = app
        .post(
            Role::Operator,
            &format!("/api/v1/orders/{paid}/shipments"),
            json!({"carrier": "dhl", "lines": lines}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{allocated}");
    let shipment = allocated["id"].as_str().unwrap().to_owned();
    app.eventually(&format!("/api/v1/shipments/{shipment}"), |s| {
        s["status"] == "pending"
    })
    .await;
    let (status, labelled) = app
        .post(
            Role::Operator,
            &format!("/api/v1/shipments/{shipment}/label"),
            json!({"tracking_number": text(1, "00340434161094042557")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{labelled}");

    // A disputed payment cannot be refunded: cancelling its order leaves an attention item.
    let (disputed, _) = app.paid_order("ch_browser_1").await;
    let dispute = json!({
        "id": "evt_browser_dp", "object": "event", "type": "charge.dispute.created",
        "created": 1721950000, "livemode": false,
        "data": {"object": {
            "id": "dp_browser_1", "object": "dispute", "amount": 2500, "currency": "eur",
            "reason": "fraudulent", "status": "needs_response", "charge": "ch_browser_1",
            "payment_intent": null, "metadata": {"order_id": disputed}
        }}
    });
    assert_eq!(app.stripe_delivery(&dispute).await, StatusCode::ACCEPTED);
    app.eventually(
        "/api/v1/admin/webhooks/deliveries/stripe/evt_browser_dp",
        |d| d["status"] == "done",
    )
    .await;
    let (status, cancelled) = app
        .post(
            Role::Operator,
            &format!("/api/v1/orders/{disputed}/cancel"),
            json!({"reason": text(2, "The customer changed their mind")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    let items = app
        .eventually(&format!("/api/v1/attention?order_id={disputed}"), |page| {
            page["items"].as_array().is_some_and(|i| !i.is_empty())
        })
        .await;
    Data {
        order: placed["id"].as_str().unwrap().to_owned(),
        payment,
        shipment,
        attention: items["items"][0]["attention_id"]
            .as_str()
            .unwrap()
            .to_owned(),
    }
}

/// The console's headers on an answer.
fn assert_headers(page: &str, response: &reqwest::Response) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map_or("", |value| value.to_str().unwrap())
    };
    assert_eq!(
        header("content-security-policy"),
        api::console::CONTENT_SECURITY_POLICY,
        "{page}"
    );
    assert_eq!(header("x-frame-options"), "DENY", "{page}");
}

/// GETs `path` beside the browser, with its session cookie.
async fn get(app: &App, cookie: &str, path: &str) -> reqwest::Response {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{}{path}", app.base))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
}

/// axe-core finds nothing serious or critical on the open page.
async fn assert_accessible(person: &Person, page: &str) {
    let violations = person.accessibility_violations().await;
    assert!(
        violations.is_empty(),
        "{page}: axe-core reports {violations:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_person_signs_in_by_keyboard_and_signs_out() {
    let app = App::postgres().await;
    user_with_password(&app, "ana", Role::Operator).await;
    let driver = Driver::start().await;
    let ana = Person::new(&driver, &app.base).await;

    ana.open("/console").await;
    assert_eq!(ana.path().await, "/console/sign-in");
    // Tab only: the header's link first, then the name, the password and the button, each
    // showing its focus; Enter submits.
    ana.press(key::TAB).await;
    let first = ana.focused().await.unwrap();
    assert_eq!(first.what, "a \"backoffice\"");
    assert!(first.visible, "{first:?}");
    ana.tab_to("input#name").await;
    ana.press("ana").await;
    ana.press(key::TAB).await;
    assert_eq!(ana.focused().await.unwrap().what, "input#password");
    ana.press(PASSWORD).await;
    ana.press(key::TAB).await;
    let button = ana.focused().await.unwrap();
    assert_eq!(button.what, "button \"Sign in\"");
    assert!(button.visible, "{button:?}");
    ana.press(key::ENTER).await;
    ana.wait_for_path("/console").await;
    assert!(
        ana.text().await.contains("Signed in as ana (operator)"),
        "{}",
        ana.text().await
    );

    // Out by keyboard too: the session ends, and the console asks for a sign-in again.
    let sign_out = ana.tab_to("button \"Sign out\"").await;
    assert!(sign_out.visible, "{sign_out:?}");
    ana.press(key::ENTER).await;
    ana.wait_for_path("/console/sign-in").await;
    ana.open("/console").await;
    assert_eq!(ana.path().await, "/console/sign-in");
    assert_eq!(ana.h1().await, "Sign in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_wrong_passwords_lock_the_account_and_the_page_says_so() {
    let app = App::postgres().await;
    user_with_password(&app, "ana", Role::Operator).await;
    let driver = Driver::start().await;
    let guesser = Person::new(&driver, &app.base).await;
    for _ in 0..5 {
        guesser.sign_in("ana", "not the password at all").await;
        assert_eq!(guesser.path().await, "/console/sign-in");
        assert!(guesser.text().await.contains("Wrong name or password."));
    }
    // The right password too is refused now, in another browser as well.
    let ana = Person::new(&driver, &app.base).await;
    ana.sign_in("ana", PASSWORD).await;
    let text = ana.text().await;
    assert_eq!(ana.path().await, "/console/sign-in", "{text}");
    assert!(text.contains("Too many failed sign-ins"), "{text}");
    assert_accessible(&ana, "sign-in, locked").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_link_works_once() {
    let app = App::postgres().await;
    api::users::create_user(&app.log, "bea", Role::Finance, "cli:test")
        .await
        .unwrap();
    let token = api::users::issue_reset(&app.log, "bea", "user:admin")
        .await
        .unwrap()
        .unwrap();
    let link = format!("/console/reset/{token}");
    let driver = Driver::start().await;
    let bea = Person::new(&driver, &app.base).await;

    bea.open(&link).await;
    assert_eq!(bea.h1().await, "Set your password");
    assert_accessible(&bea, "reset").await;
    bea.assert_keyboard_works("reset").await;
    bea.screenshot("reset").await;
    bea.fill("password", "bea's own long password").await;
    bea.click_button("Set password").await;
    assert_eq!(bea.h1().await, "Password set");
    assert_accessible(&bea, "reset done").await;
    bea.sign_in("bea", "bea's own long password").await;
    assert_eq!(bea.path().await, "/console", "{}", bea.text().await);

    // Used: the link is refused, in any browser.
    let again = Person::new(&driver, &app.base).await;
    again.open(&link).await;
    assert_eq!(again.h1().await, "Gone");
    assert!(again
        .text()
        .await
        .contains("This link was used or has expired"));
    assert_eq!(again.count("input[name=password]").await, 0);
}

/// Alters the CSRF token of every form of the page, as a forged form would carry.
const FORGE: &str = "document.querySelectorAll('input[name=csrf]').forEach(i => i.value = 'x');";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_viewer_sees_no_action_and_forged_posts_are_refused() {
    let app = App::postgres().await;
    let data = data(&app, false).await;
    user_with_password(&app, "vic", Role::Viewer).await;
    let driver = Driver::start().await;
    let vic = Person::signed_in(&driver, &app.base, "vic", PASSWORD).await;

    // An admin is offered actions on an order; the viewer, on no page, any form that changes
    // something but its own: signing out, and changing its password on its page.
    user_with_password(&app, "ada", Role::Admin).await;
    let ada = Person::signed_in(&driver, &app.base, "ada", PASSWORD).await;
    ada.open(&format!("/console/orders/{}", data.order)).await;
    assert_eq!(ada.buttons("Cancel the order").await, 1);
    vic.open(&format!("/console/orders/{}", data.order)).await;
    assert_eq!(vic.buttons("Cancel the order").await, 0);
    for (name, path) in pages(&data) {
        vic.open(&path).await;
        let actions = vic
            .js("return [...document.querySelectorAll('form')]
                   .filter(f => f.method === 'post')
                   .map(f => new URL(f.action).pathname)
                   .filter(a => a !== '/console/sign-out' && a !== '/console/password');")
            .await;
        assert_eq!(actions, json!([]), "{name}: a viewer is offered {actions}");
    }

    // A sign-out whose CSRF token was altered: 403, and the session goes on.
    vic.open("/console").await;
    vic.js(FORGE).await;
    vic.click_button("Sign out").await;
    assert_eq!(vic.h1().await, "Forbidden");
    assert!(vic.text().await.contains("CSRF token"));
    assert_accessible(&vic, "forbidden").await;
    vic.open("/console").await;
    assert!(vic.text().await.contains("Signed in as vic (viewer)"));

    // A password change likewise: refused, and the old password still signs in.
    vic.open("/console/password").await;
    vic.fill("current", PASSWORD).await;
    vic.fill("new", "a new long enough password").await;
    vic.js(FORGE).await;
    vic.click_button("Change password").await;
    assert_eq!(vic.h1().await, "Forbidden");
    let again = Person::signed_in(&driver, &app.base, "vic", PASSWORD).await;
    assert!(again.text().await.contains("Signed in as vic (viewer)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_text_shows_as_inert_text_on_every_page() {
    let app = App::postgres().await;
    let data = data(&app, true).await;
    let driver = Driver::start().await;
    // The first signs in; the others are names on the users page.
    user_with_password(&app, PAYLOADS[0], Role::Admin).await;
    for name in &PAYLOADS[1..] {
        api::users::create_user(&app.log, name, Role::Viewer, "cli:test")
            .await
            .unwrap();
    }
    let person = Person::new(&driver, &app.base).await;
    for name in PAYLOADS {
        // Refused, the name comes back into the form: as its value, not as markup.
        person.sign_in(name, "not the password at all").await;
        person.assert_no_dialog().await;
        let echoed = person
            .js("return document.querySelector('input[name=name]').value;")
            .await;
        assert_eq!(echoed, json!(name));
        assert_inert(&person, "sign-in").await;
    }
    person.sign_in(PAYLOADS[0], PASSWORD).await;
    assert_eq!(person.path().await, "/console");
    let signed_in = format!("Signed in as {} (admin)", PAYLOADS[0]);
    for (page, path) in pages(&data) {
        person.open(&path).await;
        person.assert_no_dialog().await;
        assert_inert(&person, page).await;
        let text = person.text().await;
        assert!(text.contains(&signed_in), "{page}: {text}");
        let shown: &[&str] = match page {
            "users" => &PAYLOADS,
            "order" => &PAYLOADS[..2],
            "payment" => &PAYLOADS[2..],
            "shipment" => &PAYLOADS[1..2],
            _ => &[],
        };
        for payload in shown {
            assert!(
                text.contains(payload),
                "{page} does not show {payload}: {text}"
            );
        }
    }
}

/// No element or handler came from data on the open page: no script, no `img[src=x]`, no
/// `svg`, no `onload`/`onerror` attribute.
async fn assert_inert(person: &Person, page: &str) {
    for selector in ["script", "img[src=x]", "svg", "[onload]", "[onerror]"] {
        assert_eq!(
            person.count(selector).await,
            0,
            "{page}: {selector} in the page"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_page_has_its_headers_passes_axe_core_works_by_keyboard_and_is_screenshotted() {
    let app = App::postgres().await;
    let data = data(&app, false).await;
    user_with_password(&app, "ana", Role::Admin).await;
    let driver = Driver::start().await;

    // Before signing in.
    let ana = Person::new(&driver, &app.base).await;
    ana.open("/console/sign-in").await;
    assert_headers("sign-in", &get(&app, "", "/console/sign-in").await);
    assert_accessible(&ana, "sign-in").await;
    ana.assert_keyboard_works("sign-in").await;
    ana.screenshot("sign-in").await;
    // The check can fail: a field without its label is a critical violation.
    ana.js("document.querySelector('form').append(document.createElement('input'));")
        .await;
    let found = ana.accessibility_violations().await;
    assert!(
        found.iter().any(|v| v.starts_with("\"label\"")),
        "{found:?}"
    );

    ana.sign_in("ana", PASSWORD).await;
    ana.wait_for_path("/console").await;
    let cookie = ana.cookie_header().await;
    assert!(cookie.starts_with("bo_session="), "{cookie}");
    let pages = pages(&data);
    for (name, path) in &pages {
        let response = get(&app, &cookie, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{name}: {path}");
        assert_headers(name, &response);
        ana.open(path).await;
        assert_eq!(&ana.path().await, path);
        assert!(!ana.h1().await.is_empty(), "{name}: no h1");
        assert_accessible(&ana, name).await;
        ana.assert_keyboard_works(name).await;
        ana.screenshot(name).await;
    }

    // A section the console links to and serves is in the list above (so it is checked).
    ana.open("/console").await;
    let sections = ana
        .js("return [...document.querySelectorAll('nav a')].map(a => new URL(a.href).pathname);")
        .await;
    for section in sections.as_array().unwrap() {
        let section = section.as_str().unwrap();
        let served = get(&app, &cookie, section).await.status() != StatusCode::NOT_FOUND;
        let listed = pages.iter().any(|(_, path)| path == section);
        assert!(
            !served || listed,
            "{section} is served but not in pages(): add it there"
        );
    }
}
