//! The console's orders, payments and shipments over the real router and server, as a browser
//! without script speaks to them: filters, the order's timeline, and each action through the
//! same commands and permissions as the REST API (cancel, allocate, capture, void, label,
//! dispatch), refused without its permission or its CSRF token, and hostile text escaped.
#![allow(clippy::unwrap_used)]

mod support;

use api::auth::Role;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::{
    console::{user_with_password, Answer, Browser, PASSWORD},
    App,
};

const HOSTILE: &str = "<script>alert(1)</script>";

/// A browser signed in as a new user `name` of `role`.
async fn signed_in(app: &App, name: &str, role: Role) -> Browser {
    user_with_password(app, name, role).await;
    let mut browser = Browser::new(app);
    let answer = browser.sign_in(name, PASSWORD).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    browser
}

/// An order placed through the REST API with external reference `reference`, once the order
/// list shows it: its id.
async fn placed(app: &App, reference: &str) -> String {
    let mut order = support::new_order();
    order["external_reference"] = json!(reference);
    let (status, body) = app.post(Role::Operator, "/api/v1/orders", order).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    app.eventually(&format!("/api/v1/orders/{id}"), |_| true)
        .await;
    id
}

/// A payment of 25.00 EUR requested for `order` (nothing from the provider yet): its id.
async fn payment_for(app: &App, order: &str) -> String {
    let (status, body) = app
        .post(
            Role::Operator,
            "/api/v1/payments",
            json!({"order_id": order, "amount_minor": 2500, "currency": "EUR", "provider": "stripe"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    app.eventually(&format!("/api/v1/payments/{id}"), |_| true)
        .await;
    id
}

/// The value of hidden field `name` in the form posting to `action`.
fn field(page: &Answer, action: &str, name: &str) -> String {
    let form = format!("action=\"{action}\"");
    let start = page
        .body
        .find(&form)
        .unwrap_or_else(|| panic!("no form posting to {action}: {}", page.body));
    let rest = &page.body[start..];
    let rest = &rest[..rest.find("</form>").unwrap()];
    let marker = format!("name=\"{name}\" value=\"");
    let at = rest.find(&marker).expect("the field") + marker.len();
    rest[at..at + rest[at..].find('"').unwrap()].to_owned()
}

/// Whether `body` shows `text` escaped and nowhere as markup.
fn shows_escaped(body: &str, text: &str) -> bool {
    let entities = text.replace('<', "&#60;").replace('>', "&#62;");
    let named = text.replace('<', "&lt;").replace('>', "&gt;");
    !body.contains(text) && (body.contains(&entities) || body.contains(&named))
}

/// The rows of the order list for `query`: the order ids linked.
async fn listed(browser: &mut Browser, query: &str) -> (StatusCode, Vec<String>, String) {
    let page = browser.get(&format!("/console/orders?{query}")).await;
    let ids = page
        .body
        .match_indices("<td><a href=\"/console/orders/")
        .map(|(at, marker)| {
            let rest = &page.body[at + marker.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect();
    (page.status, ids, page.body)
}

/// Follows a redirect after an action: the page it sends to.
async fn follow(browser: &mut Browser, answer: &Answer) -> Answer {
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
    let location = answer.location().to_owned();
    browser.get(&location).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_filters_orders_by_status_and_reference_and_sees_the_matching_one_only() {
    let app = App::postgres().await;
    let wanted = placed(&app, "SHOP-7").await;
    let other = placed(&app, "SHOP-70").await;
    let cancelled = placed(&app, "SHOP-7-OLD").await;
    let (status, body) = app
        .post(
            Role::Operator,
            &format!("/api/v1/orders/{cancelled}/cancel"),
            json!({"reason": "duplicate"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.eventually(&format!("/api/v1/orders/{cancelled}"), |o| {
        o["status"] == "cancelled"
    })
    .await;
    let mut ana = signed_in(&app, "ana", Role::Operator).await;

    let (status, all, _) = listed(&mut ana, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all, [cancelled.clone(), other.clone(), wanted.clone()]);
    let (_, found, body) = listed(&mut ana, "status=placed&reference=SHOP-7").await;
    assert_eq!(found, [wanted.as_str()], "{body}");
    assert!(
        body.contains("<option value=\"placed\" selected>"),
        "{body}"
    );
    let (_, found, _) = listed(&mut ana, "status=cancelled&reference=SHOP-7").await;
    assert!(found.is_empty());
    let (_, found, _) = listed(&mut ana, "status=cancelled&customer=&reference=").await;
    assert_eq!(found, [cancelled.as_str()]);
    let today = chrono::Utc::now().date_naive();
    let (_, found, _) = listed(&mut ana, &format!("placed_from={today}&placed_to={today}")).await;
    assert_eq!(found.len(), 3);
    let yesterday = today.pred_opt().unwrap();
    let (_, found, _) = listed(&mut ana, &format!("placed_to={yesterday}")).await;
    assert!(found.is_empty());
    // The same filter through the REST API.
    let (_, page) = app
        .get(Role::Viewer, "/api/v1/orders?external_reference=SHOP-7")
        .await;
    assert_eq!(page["items"][0]["order_id"], json!(wanted));
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    // Filters that are not filters: said, with a 422, not a 500 or an empty list.
    let (status, _, body) = listed(&mut ana, "status=gone").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("Status: choose one of the list."), "{body}");
    let (status, _, body) = listed(&mut ana, "placed_from=yesterday").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("Placed from: give a day as YYYY-MM-DD."));
    let (status, _, body) = listed(&mut ana, "cursor=garbage").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body.contains("start again from the first page"));

    // The order's page: its lines and totals, and its timeline (to whoever may see the order).
    let page = ana.get(&format!("/console/orders/{wanted}")).await;
    assert_eq!(page.status, StatusCode::OK);
    for shown in [
        "SHOP-7",
        "SKU-A",
        "Mug",
        "10.00 EUR",
        "20.00 EUR",
        "25.00 EUR",
        "unpaid",
    ] {
        assert!(page.body.contains(shown), "{shown}: {}", page.body);
    }
    let timeline = &page.body[page.body.find("id=\"timeline\"").unwrap()..];
    assert!(
        timeline.contains("<td>OrderPlaced</td><td>user:operator</td><td>api</td>"),
        "{timeline}"
    );
    let missing = ana.get("/console/orders/no-such-order").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    // Who did what, through which door.
    let mut ada = signed_in(&app, "ada", Role::Admin).await;
    let page = ada.get(&format!("/console/orders/{cancelled}")).await;
    let timeline = &page.body[page.body.find("id=\"timeline\"").unwrap()..];
    assert!(timeline.contains("OrderPlaced"), "{timeline}");
    assert!(timeline.contains("OrderCancelled"), "{timeline}");
    assert!(
        timeline.contains("<td>user:operator</td><td>api</td>"),
        "{timeline}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_cancels_an_order_and_the_timeline_names_them_with_source_console() {
    let app = App::postgres().await;
    let order = placed(&app, HOSTILE).await;
    let mut ana = signed_in(&app, "ana", Role::Operator).await;
    let path = format!("/console/orders/{order}");
    let action = format!("{path}/cancel");

    // A hostile external reference shows as text in the list and on the page.
    let (_, found, body) = listed(&mut ana, "").await;
    assert_eq!(found, [order.as_str()]);
    assert!(shows_escaped(&body, HOSTILE), "{body}");
    let page = ana.get(&path).await;
    assert!(shows_escaped(&page.body, HOSTILE), "{}", page.body);

    // A reason the domain refuses (too long) comes back in the form, escaped, with a 422.
    let long = format!("{HOSTILE}{}", "x".repeat(2000));
    let refused = ana
        .post(
            &action,
            &[
                ("csrf", &field(&page, &action, "csrf")),
                ("key", &field(&page, &action, "key")),
                ("reason", &long),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("Give a reason"), "{}", refused.body);
    assert!(shows_escaped(&refused.body, HOSTILE), "{}", refused.body);
    let (_, still) = app
        .get(Role::Viewer, &format!("/api/v1/orders/{order}"))
        .await;
    assert_eq!(still["status"], "placed");

    let reason = format!("customer called: {HOSTILE}");
    let cancelled = ana
        .post(
            &action,
            &[
                ("csrf", &field(&page, &action, "csrf")),
                ("key", &field(&page, &action, "key")),
                ("reason", &reason),
            ],
        )
        .await;
    assert!(
        cancelled
            .location()
            .starts_with(&format!("{path}?done=cancelled&min_position=")),
        "{}",
        cancelled.location()
    );
    let after = follow(&mut ana, &cancelled).await;
    assert_eq!(after.status, StatusCode::OK);
    assert!(
        after.body.contains("The order is cancelled."),
        "{}",
        after.body
    );
    assert!(!after.body.contains(&format!("action=\"{action}\"")));
    let (_, order_now) = app
        .get(Role::Viewer, &format!("/api/v1/orders/{order}"))
        .await;
    assert_eq!(order_now["status"], "cancelled");

    // The audit trail names the person and the console; the reason is the one typed.
    let (_, history) = app
        .get(
            Role::Auditor,
            &format!("/api/v1/audit/streams/order/{order}"),
        )
        .await;
    let last = history.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["event_type"], "OrderCancelled");
    assert_eq!(last["metadata"]["actor"], "user:ana");
    assert_eq!(last["metadata"]["source"], "console");
    assert_eq!(last["payload"]["reason"], json!(reason));
    let mut ada = signed_in(&app, "ada", Role::Auditor).await;
    let page = ada.get(&path).await;
    let timeline = &page.body[page.body.find("id=\"timeline\"").unwrap()..];
    assert!(
        timeline.contains("<td>OrderCancelled</td><td>user:ana</td><td>console</td>"),
        "{timeline}"
    );
    assert!(timeline.contains("<td>OrderPlaced</td><td>user:operator</td><td>api</td>"));
    assert!(
        !page.body.contains(&format!("action=\"{action}\"")),
        "an auditor cancels nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_viewer_sees_no_action_and_a_forged_cancel_is_refused_and_changes_nothing() {
    let app = App::postgres().await;
    let order = placed(&app, "SHOP-9").await;
    let path = format!("/console/orders/{order}");
    let action = format!("{path}/cancel");
    let mut vic = signed_in(&app, "vic", Role::Viewer).await;
    let page = vic.get(&path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page
        .body
        .contains("<form method=\"post\" action=\"/console/orders/"));
    assert!(!page.body.contains("Cancel the order"));
    // The viewer's own session token does not make up for the permission.
    let csrf = page.csrf();
    let forged = vic
        .post(
            &action,
            &[("csrf", &csrf), ("key", "k1"), ("reason", "mine now")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert!(forged.body.contains("orders.cancel"), "{}", forged.body);
    let allocate = vic
        .post(
            &format!("{path}/shipments"),
            &[
                ("csrf", &csrf),
                ("carrier", "dhl"),
                ("sku_0", "SKU-A"),
                ("quantity_0", "1"),
            ],
        )
        .await;
    assert_eq!(allocate.status, StatusCode::FORBIDDEN);

    // An operator's form posted without its token (from another site) is refused too.
    let mut ana = signed_in(&app, "ana", Role::Operator).await;
    let page = ana.get(&path).await;
    assert!(page.body.contains("Cancel the order"));
    let key = field(&page, &action, "key");
    for csrf in ["", "not-the-token"] {
        let forged = ana
            .post(
                &action,
                &[("csrf", csrf), ("key", &key), ("reason", "forged")],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        assert!(forged.body.contains("CSRF token"), "{}", forged.body);
    }
    let without = ana.post(&action, &[("reason", "forged")]).await;
    assert_eq!(without.status, StatusCode::FORBIDDEN);

    let (_, now) = app
        .get(Role::Viewer, &format!("/api/v1/orders/{order}"))
        .await;
    assert_eq!(now["status"], "placed");
    let (_, history) = app
        .get(
            Role::Auditor,
            &format!("/api/v1/audit/streams/order/{order}"),
        )
        .await;
    assert!(
        !history
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event_type"] == "OrderCancelled"),
        "{history}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn finance_captures_one_payment_and_voids_another_from_the_console() {
    let app = App::postgres().await;
    let first = placed(&app, "SHOP-11").await;
    let second = placed(&app, "SHOP-12").await;
    let to_capture = payment_for(&app, &first).await;
    let to_void = payment_for(&app, &second).await;

    // An operator may not capture or void: no form, and a post is 403.
    let mut ana = signed_in(&app, "ana", Role::Operator).await;
    let capture_path = format!("/console/payments/{to_capture}");
    let capture = format!("{capture_path}/capture");
    let page = ana.get(&capture_path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("25.00 EUR"), "{}", page.body);
    assert!(!page
        .body
        .contains("<button type=\"submit\">Capture</button>"));
    let refused = ana
        .post(&capture, &[("csrf", &page.csrf()), ("amount", "25.00")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let mut fin = signed_in(&app, "fin", Role::Finance).await;
    // The payment list filters by order and status.
    let list = fin
        .get(&format!("/console/payments?order={first}&status=pending"))
        .await;
    assert!(list.body.contains(&to_capture), "{}", list.body);
    assert!(!list.body.contains(&to_void));
    let page = fin.get(&capture_path).await;
    let csrf = field(&page, &capture, "csrf");
    let key = field(&page, &capture, "key");
    assert!(page.body.contains("value=\"25.00\""), "{}", page.body);
    let bad = fin
        .post(
            &capture,
            &[
                ("csrf", &csrf),
                ("key", &key),
                ("amount", "25.001"),
                ("reference", HOSTILE),
            ],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("Amount: in EUR"), "{}", bad.body);
    assert!(shows_escaped(&bad.body, HOSTILE), "{}", bad.body);
    let captured = fin
        .post(
            &capture,
            &[
                ("csrf", &csrf),
                ("key", &key),
                ("amount", "25.00"),
                ("reference", ""),
            ],
        )
        .await;
    let after = follow(&mut fin, &captured).await;
    assert!(after.body.contains("Capture requested"), "{}", after.body);
    app.eventually(&format!("/api/v1/payments/{to_capture}"), |p| {
        p["status"] == "captured" && p["captured_minor"] == 2500
    })
    .await;
    app.eventually(&format!("/api/v1/orders/{first}"), |o| {
        o["payment_status"] == "paid"
    })
    .await;

    let void_path = format!("/console/payments/{to_void}");
    let void = format!("{void_path}/void");
    let page = fin.get(&void_path).await;
    let fields = |reason: &'static str| {
        vec![
            ("csrf", field(&page, &void, "csrf")),
            ("key", field(&page, &void, "key")),
            ("reason", reason.to_owned()),
        ]
    };
    let no_csrf = fin.post(&void, &[("reason", "no token")]).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let blank = fin
        .post(
            &void,
            &fields("  ")
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
    assert_eq!(blank.status, StatusCode::UNPROCESSABLE_ENTITY);
    let voided = fin
        .post(
            &void,
            &fields("customer changed their mind")
                .iter()
                .map(|(k, v)| (*k, v.as_str()))
                .collect::<Vec<_>>(),
        )
        .await;
    let after = follow(&mut fin, &voided).await;
    assert!(after.body.contains("Void requested"), "{}", after.body);
    let payment = app
        .eventually(&format!("/api/v1/payments/{to_void}"), |p| {
            p["status"] == "voided"
        })
        .await;
    assert_eq!(payment["captured_minor"], 0);
    let (_, history) = app
        .get(
            Role::Auditor,
            &format!("/api/v1/audit/streams/payment/{to_void}"),
        )
        .await;
    let last: &Value = history.as_array().unwrap().last().unwrap();
    assert_eq!(last["metadata"]["actor"], "user:fin");
    assert_eq!(last["metadata"]["source"], "console");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_allocates_a_shipment_once_labels_it_and_dispatches_it() {
    let app = App::postgres().await;
    let order = placed(&app, "SHOP-21").await;
    let mut ana = signed_in(&app, "ana", Role::Operator).await;
    let path = format!("/console/orders/{order}");
    let action = format!("{path}/shipments");
    let page = ana.get(&path).await;
    let form = [
        ("csrf", field(&page, &action, "csrf")),
        ("key", field(&page, &action, "key")),
        ("carrier", "dhl".to_owned()),
        ("sku_0", field(&page, &action, "sku_0")),
        ("quantity_0", "2".to_owned()),
        ("sku_1", field(&page, &action, "sku_1")),
        ("quantity_1", "0".to_owned()),
    ];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // Posted twice (a double click): one shipment.
    for _ in 0..2 {
        let allocated = ana.post(&action, &form).await;
        assert_eq!(
            allocated.status,
            StatusCode::SEE_OTHER,
            "{}",
            allocated.body
        );
    }
    let shipments = app
        .eventually(&format!("/api/v1/shipments?order_id={order}"), |page| {
            !page["items"].as_array().unwrap().is_empty()
        })
        .await;
    let items = shipments["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{shipments}");
    assert_eq!(items[0]["quantity"], 2);
    let shipment = items[0]["shipment_id"].as_str().unwrap().to_owned();
    let page = ana.get(&path).await;
    assert!(page
        .body
        .contains(&format!("/console/shipments/{shipment}")));

    // No carrier integration is configured here: the label is recorded by its tracking number.
    let shipment_path = format!("/console/shipments/{shipment}");
    let page = ana.get(&shipment_path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("Buy a label"), "{}", page.body);
    let label = format!("{shipment_path}/label");
    let tracking = format!("TRK-{HOSTILE}");
    let labelled = ana
        .post(
            &label,
            &[
                ("csrf", &field(&page, &label, "csrf")),
                ("key", &field(&page, &label, "key")),
                ("tracking_number", &tracking),
            ],
        )
        .await;
    let page = follow(&mut ana, &labelled).await;
    assert!(
        page.body.contains("The label is recorded."),
        "{}",
        page.body
    );
    assert!(shows_escaped(&page.body, &tracking), "{}", page.body);
    let dispatch = format!("{shipment_path}/dispatch");
    let dispatched = ana
        .post(
            &dispatch,
            &[
                ("csrf", &field(&page, &dispatch, "csrf")),
                ("key", &field(&page, &dispatch, "key")),
            ],
        )
        .await;
    let page = follow(&mut ana, &dispatched).await;
    assert!(
        page.body.contains("The shipment is dispatched."),
        "{}",
        page.body
    );
    let (_, now) = app
        .get(Role::Viewer, &format!("/api/v1/shipments/{shipment}"))
        .await;
    assert_eq!(now["status"], "in_transit", "{now}");
    assert_eq!(now["tracking_number"], json!(tracking));
    let list = ana
        .get(&format!(
            "/console/shipments?order={order}&status=in_transit"
        ))
        .await;
    assert!(list.body.contains(&shipment), "{}", list.body);

    // A viewer sees the shipment but no action.
    let mut vic = signed_in(&app, "vic", Role::Viewer).await;
    let page = vic.get(&shipment_path).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(&format!("action=\"{dispatch}\"")));
    let refused = vic
        .post(&dispatch, &[("csrf", &page.csrf()), ("key", "k")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_sqlite_the_order_list_pages_with_the_rest_apis_cursor_and_the_timeline_names_actors() {
    let app = App::sqlite().await;
    let mut last = String::new();
    for n in 0..51 {
        last = placed(&app, &format!("SHOP-{n}")).await;
    }
    let mut ada = signed_in(&app, "ada", Role::Admin).await;
    let (status, first, body) = listed(&mut ada, "status=placed").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(first.len(), 50);
    let (_, rest) = app
        .get(Role::Viewer, "/api/v1/orders?status=placed&limit=50")
        .await;
    let cursor = rest["next_cursor"].as_str().unwrap();
    let next = form_next(&body);
    let url = reqwest::Url::parse(&format!("{}{next}", app.base)).unwrap();
    assert_eq!(url.path(), "/console/orders");
    let query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert_eq!(
        query,
        [
            ("status".to_owned(), "placed".to_owned()),
            ("cursor".to_owned(), cursor.to_owned())
        ]
    );
    let (_, second, body) = listed(&mut ada, next.trim_start_matches("/console/orders?")).await;
    assert_eq!(second.len(), 1);
    assert!(!first.contains(&second[0]));
    assert!(body.contains("First page"));
    assert!(!body.contains("Next page"));

    let page = ada.get(&format!("/console/orders/{last}")).await;
    assert!(
        page.body
            .contains("<td>OrderPlaced</td><td>user:operator</td><td>api</td>"),
        "{}",
        page.body
    );
}

/// The href of the list's "Next page" link, as a browser reads it.
fn form_next(body: &str) -> String {
    let end = body.find("\">Next page</a>").expect("a next page");
    let start = body[..end].rfind("href=\"").unwrap() + "href=\"".len();
    body[start..end].replace("&amp;", "&").replace("&#38;", "&")
}
