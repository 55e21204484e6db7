//! Every fixture payload, from the HTTP request to the read model.

use axum::http::StatusCode;
use eventlog::{testing::TestDatabase, EventLog, StreamId};
use projections::{payments::get_payment, shipments::list_shipments};
use serde_json::json;

use crate::support::*;

eventlog::on_both_backends!(
    every_fixture_goes_from_http_to_the_read_models,
    a_failed_and_a_cancelled_intent_fail_and_void_their_payments,
);

async fn every_fixture_goes_from_http_to_the_read_models(_db: &TestDatabase, log: EventLog) {
    let app = app(log).await;
    request_payment(&app, FIXTURE_PAYMENT).await;
    place_order(&app).await;
    labelled_shipment(&app, "0190e8a0-0000-7000-8000-0000000000d1", "1").await;
    project(&app.log).await;

    // The authorization (derived from the fixture intent) names our payment in its metadata;
    // later events find it by the provider reference it records.
    let authorized = intent(
        "requires_capture",
        1099,
        0,
        json!({"payment_id": FIXTURE_PAYMENT}),
    );
    let authorization = stripe_event(
        "evt_auth_0001",
        "payment_intent.amount_capturable_updated",
        authorized,
    );
    let deliveries = [
        (stripe(&authorization), "stripe", "evt_auth_0001"),
        (
            stripe(&fixture("stripe/evt_payment_intent.succeeded.json")),
            "stripe",
            "evt_test_derived_pi_succeeded_0001",
        ),
        (
            stripe(&fixture(
                "ours/stripe/evt_charge.refunded.partial.example.json",
            )),
            "stripe",
            "evt_ours_charge_refunded_partial_0001",
        ),
        (
            stripe(&fixture(
                "ours/stripe/evt_charge.dispute.created.example.json",
            )),
            "stripe",
            "evt_ours_dispute_created_0001",
        ),
    ];
    for (request, source, event_id) in deliveries {
        let (status, body) = send(&app.router, request).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["event_id"], event_id);
        // One at a time: each event is found through what the previous one recorded.
        work(&app).await;
        let row = delivery(&app, source, event_id).await;
        assert_eq!(row["status"], "done", "{row}");
    }
    let payment = get_payment(&app.log, FIXTURE_PAYMENT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            payment.status.as_str(),
            payment.authorized_minor,
            payment.captured_minor,
            payment.refunded_minor,
            payment.disputes,
            payment.provider_reference.as_deref()
        ),
        (
            "partially_refunded",
            1099,
            1099,
            500,
            1,
            Some(FIXTURE_INTENT)
        )
    );
    let history = app
        .log
        .read_stream(&StreamId::new("payment", FIXTURE_PAYMENT), 1)
        .await
        .unwrap();
    let refund = history
        .iter()
        .find(|e| e.event_type == "PaymentRefunded")
        .unwrap();
    // The refund we asked for is recorded under Stripe's id, naming our request (its
    // `metadata.refund_id`), so that our request and Stripe's word are one refund (ADR 0013).
    assert_eq!(refund.payload["refund_id"], "re_1Pgc72B7WZ01zgkWqPvrRrPE");
    assert_eq!(
        refund.payload["request"],
        "0190e8a0-0000-7000-8000-0000000000bb"
    );
    assert_eq!(
        refund.metadata.idempotency_key.as_deref(),
        Some("stripe:evt_ours_charge_refunded_partial_0001")
    );
    assert_eq!(refund.metadata.source.as_deref(), Some("webhook:stripe"));

    // EasyPost: every scan of the tracker lands on the shipment with tracking number "1".
    let mut body = fixture("easypost/tracker.updated.event-body.json");
    if body.last() == Some(&b'\n') {
        body.pop();
    }
    let (status, _) = send(&app.router, easypost(&body)).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // ERP and CRM, with the types we do not act on.
    for (source, file, id) in [
        ("erp", "ours/erp/invoice.issued.json", "msg_erp_invoice"),
        ("erp", "ours/erp/product.updated.json", "msg_erp_product"),
        ("erp", "ours/erp/stock.updated.json", "msg_erp_stock"),
        ("erp", "ours/erp/supplier.updated.json", "msg_erp_supplier"),
        ("crm", "ours/crm/contact.updated.json", "msg_crm_contact"),
        ("crm", "ours/crm/lead.created.json", "msg_crm_lead"),
    ] {
        let (status, body) = send(&app.router, standard(source, id, &fixture(file))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{file}: {body}");
    }
    let customer = stripe(&fixture("ours/stripe/evt_customer.created.example.json"));
    assert_eq!(send(&app.router, customer).await.0, StatusCode::ACCEPTED);
    assert_eq!(work(&app).await, 8);

    let shipments = list_shipments(
        &app.log,
        &projections::shipments::ShipmentFilter {
            tracking_number: Some("1".into()),
            ..Default::default()
        },
        None,
        10,
    )
    .await
    .unwrap();
    let shipment = projections::shipments::get_shipment(&app.log, &shipments.items[0].shipment_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(shipment.status, "in_transit");
    assert_eq!(shipment.tracking.len(), 7);

    let invoiced = app
        .log
        .read_stream(&StreamId::new("order", FIXTURE_ORDER), 1)
        .await
        .unwrap();
    let invoice = invoiced.last().unwrap();
    assert_eq!(invoice.event_type, "OrderInvoiced");
    assert_eq!(invoice.payload["invoice_number"], "INV-2024-000123");
    app.log
        .catch_up_projection(
            &projections::ReadModelProjection::new(app.log.clone(), projections::ReadModel::Orders),
            &Default::default(),
        )
        .await
        .unwrap();
    let order = projections::orders::get_order(&app.log, FIXTURE_ORDER)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(order.invoice_number.as_deref(), Some("INV-2024-000123"));

    assert_eq!(
        count(
            &app.log,
            "SELECT price_minor FROM erp_products WHERE sku = 'TSHIRT-BLK-M'"
        )
        .await,
        1999
    );
    assert_eq!(
        count(
            &app.log,
            "SELECT available FROM erp_stock WHERE warehouse = 'BER-1'"
        )
        .await,
        42
    );
    assert_eq!(
        count(
            &app.log,
            "SELECT count(*) FROM crm_customers WHERE email = 'jenny.rosen@example.com'"
        )
        .await,
        1
    );
    for (source, event_id, status) in [
        ("easypost", "evt_1", "done"),
        ("erp", "msg_erp_supplier", "ignored"),
        ("crm", "msg_crm_lead", "ignored"),
        ("stripe", "evt_ours_customer_created_0001", "ignored"),
        ("crm", "msg_crm_contact", "done"),
    ] {
        let row = delivery(&app, source, event_id).await;
        assert_eq!(row["status"], status, "{row}");
        assert_eq!(row["attempts_history"].as_array().unwrap().len(), 1);
    }
    let row = delivery(&app, "stripe", "evt_auth_0001").await;
    assert_eq!(row["headers"]["stripe-signature"], "[redacted]");
}

async fn a_failed_and_a_cancelled_intent_fail_and_void_their_payments(
    _db: &TestDatabase,
    log: EventLog,
) {
    let app = app(log).await;
    let failing = "0190e8a0-0000-7000-8000-0000000000f1";
    let cancelled = "0190e8a0-0000-7000-8000-0000000000f2";
    request_payment(&app, failing).await;
    request_payment(&app, cancelled).await;
    let authorize = stripe_event(
        "evt_auth_f1",
        "payment_intent.amount_capturable_updated",
        intent("requires_capture", 1099, 0, json!({"payment_id": failing})),
    );
    send(&app.router, stripe(&authorize)).await;
    work(&app).await;
    // The failure fixture carries no payment id: the provider reference finds the payment.
    let failed = fixture("stripe/evt_payment_intent.payment_failed.json");
    assert_eq!(
        send(&app.router, stripe(&failed)).await.0,
        StatusCode::ACCEPTED
    );
    let mut object = intent("canceled", 0, 0, json!({"payment_id": cancelled}));
    object["id"] = "pi_other_0002".into();
    let cancel = stripe_event("evt_cancel_f2", "payment_intent.canceled", object);
    assert_eq!(
        send(&app.router, stripe(&cancel)).await.0,
        StatusCode::ACCEPTED
    );
    work(&app).await;
    let failed = get_payment(&app.log, failing).await.unwrap().unwrap();
    assert_eq!(failed.status, "failed");
    assert!(failed.failure_code.is_some());
    let voided = get_payment(&app.log, cancelled).await.unwrap().unwrap();
    assert_eq!(voided.status, "voided");
}
