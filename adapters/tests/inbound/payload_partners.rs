//! ERP and CRM payloads (our own Standard Webhooks contract), and the signed examples quoted in
//! `docs/integrations/`.

use adapters::inbound::{
    payload::{
        crm::{self, CrmEventKind},
        erp::{self, ErpEventKind},
        PayloadError,
    },
    signature::{StandardWebhookHeaders, StandardWebhooksVerifier},
};
use domain::Currency;
use serde_json::json;

use crate::fixtures::{at, bytes, json, text};

fn mutated(file: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
    let mut value = json(file);
    edit(&mut value);
    serde_json::to_vec(&value).unwrap()
}

#[test]
fn every_erp_fixture_parses_and_is_pinned() {
    for name in [
        "invoice.issued",
        "product.updated",
        "stock.updated",
        "supplier.updated",
    ] {
        let body = bytes(&format!("ours/erp/{name}.json"));
        let event = erp::parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(event.event_type, name);
        let key = erp::inbox_key("msg_1", &body).unwrap();
        assert_eq!(
            (key.event_type.as_str(), key.idempotency_key()),
            (name, "erp:msg_1".into())
        );
        insta::assert_json_snapshot!(format!("erp_{name}"), event);
    }
}

#[test]
fn erp_events_read_into_typed_invoice_product_and_stock() {
    let invoice = erp::parse(&bytes("ours/erp/invoice.issued.json")).unwrap();
    assert_eq!(invoice.timestamp.to_rfc3339(), "2024-07-25T23:26:40+00:00");
    let ErpEventKind::InvoiceIssued(invoice) = invoice.kind else {
        panic!("{invoice:?}")
    };
    assert_eq!(
        invoice.order_id.to_string(),
        "0190e8a0-0000-7000-8000-000000000001"
    );
    assert_eq!(invoice.invoice_number.as_str(), "INV-2024-000123");
    assert_eq!(
        (invoice.total().amount_minor, invoice.total().currency),
        (4998, Currency::EUR)
    );

    let product = erp::parse(&bytes("ours/erp/product.updated.json")).unwrap();
    let ErpEventKind::ProductUpdated(product) = product.kind else {
        panic!("{product:?}")
    };
    assert_eq!(product.sku.as_str(), "TSHIRT-BLK-M");
    assert_eq!(product.name.as_str(), "T-shirt, black, M");
    assert_eq!(product.price().amount_minor, 1999);
    assert!(product.active);

    let stock = erp::parse(&bytes("ours/erp/stock.updated.json")).unwrap();
    let ErpEventKind::StockUpdated(stock) = stock.kind else {
        panic!("{stock:?}")
    };
    assert_eq!((stock.sku.as_str(), stock.available), ("TSHIRT-BLK-M", 42));
    assert_eq!(stock.warehouse.as_ref().map(|w| w.as_str()), Some("BER-1"));

    let unknown = erp::parse(&bytes("ours/erp/supplier.updated.json")).unwrap();
    assert_eq!(
        unknown.kind,
        ErpEventKind::Unknown {
            event_type: "supplier.updated".into()
        }
    );
}

#[test]
fn erp_data_that_breaks_the_contract_is_a_data_error_naming_the_type() {
    let cases = [
        ("ours/erp/product.updated.json", json!({"price_minor": -1})),
        ("ours/erp/product.updated.json", json!({"currency": "eur"})),
        ("ours/erp/product.updated.json", json!({"sku": "T SHIRT"})),
        (
            "ours/erp/product.updated.json",
            json!({"price_minor": 19.99}),
        ),
        ("ours/erp/invoice.issued.json", json!({"order_id": "ORD-1"})),
        ("ours/erp/stock.updated.json", json!({"available": -3})),
    ];
    for (file, patch) in cases {
        let body = mutated(file, |event| {
            for (field, value) in patch.as_object().unwrap() {
                event["data"][field] = value.clone();
            }
        });
        let err = erp::parse(&body).unwrap_err();
        assert!(matches!(err, PayloadError::Data { .. }), "{patch}: {err:?}");
        assert!(err.to_string().starts_with("erp "), "{err}");
    }
    let stock = mutated("ours/erp/stock.updated.json", |e| {
        e["data"].as_object_mut().unwrap().remove("warehouse");
    });
    let ErpEventKind::StockUpdated(stock) = erp::parse(&stock).unwrap().kind else {
        panic!()
    };
    assert_eq!(stock.warehouse, None);
}

#[test]
fn every_crm_fixture_parses_and_is_pinned() {
    for name in ["contact.updated", "lead.created"] {
        let body = bytes(&format!("ours/crm/{name}.json"));
        let event = crm::parse(&body).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            crm::inbox_key("msg_9", &body).unwrap().idempotency_key(),
            "crm:msg_9"
        );
        insta::assert_json_snapshot!(format!("crm_{name}"), event);
    }
}

#[test]
fn a_contact_is_read_with_validated_email_and_phone_and_logs_without_them() {
    let event = crm::parse(&bytes("ours/crm/contact.updated.json")).unwrap();
    let CrmEventKind::ContactUpdated(contact) = event.kind else {
        panic!("{event:?}")
    };
    assert_eq!(
        contact.customer_id.to_string(),
        "0190e8a0-0000-7000-8000-0000000000c1"
    );
    assert_eq!(contact.name.as_str(), "Jenny Rosen");
    assert_eq!(contact.email.as_str(), "jenny.rosen@example.com");
    assert_eq!(
        contact.phone.as_ref().map(|p| p.as_str()),
        Some("+4930123456")
    );
    let logged = format!("{contact:?}");
    assert!(
        !logged.contains("jenny.rosen@") && !logged.contains("30123456"),
        "{logged}"
    );

    let without_phone = mutated("ours/crm/contact.updated.json", |e| {
        e["data"]["phone"] = json!(null)
    });
    let CrmEventKind::ContactUpdated(contact) = crm::parse(&without_phone).unwrap().kind else {
        panic!()
    };
    assert_eq!(contact.phone, None);

    for (field, bad) in [
        ("email", "jenny"),
        ("phone", "030 123456"),
        ("customer_id", "C-1"),
    ] {
        let body = mutated("ours/crm/contact.updated.json", |e| {
            e["data"][field] = json!(bad)
        });
        let err = crm::parse(&body).unwrap_err();
        assert_eq!(
            err.to_string(),
            "crm contact.updated event has invalid data",
            "{field}"
        );
    }
}

#[test]
fn a_partner_body_without_type_or_timestamp_is_an_envelope_error() {
    for body in [
        &br#"{"timestamp":"2024-07-25T23:26:40Z","data":{}}"#[..],
        br#"{"type":"x"}"#,
    ] {
        assert!(matches!(
            erp::parse(body),
            Err(PayloadError::Envelope { .. })
        ));
        assert!(matches!(
            crm::parse(body),
            Err(PayloadError::Envelope { .. })
        ));
    }
    let err = erp::inbox_key("", br#"{"type":"x"}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "erp event id is not usable as an inbox key"
    );
}

#[test]
fn the_signed_examples_in_the_integration_docs_verify_and_are_quoted_exactly() {
    let examples = json("ours/standard-webhooks-doc-examples.json");
    for example in examples["examples"].as_array().unwrap() {
        let body = bytes(text(example, "body_file"));
        let timestamp = text(example, "webhook-timestamp");
        let headers = StandardWebhookHeaders {
            id: Some(text(example, "webhook-id")),
            timestamp: Some(timestamp),
            signature: Some(text(example, "webhook-signature")),
        };
        let verifier = StandardWebhooksVerifier::new(text(example, "secret")).unwrap();
        let now = at(timestamp.parse().unwrap());
        assert_eq!(verifier.verify(&headers, &body, now), Ok(()), "{example}");

        let doc_path = format!("{}/../{}", env!("CARGO_MANIFEST_DIR"), text(example, "doc"));
        let doc = std::fs::read_to_string(&doc_path).unwrap();
        let quoted = [
            std::str::from_utf8(&body).unwrap(),
            text(example, "secret"),
            text(example, "webhook-id"),
            timestamp,
            text(example, "webhook-signature"),
        ];
        for part in quoted {
            assert!(doc.contains(part), "{doc_path} does not quote {part}");
        }
    }
}
