//! Labels bought at EasyPost, against a real HTTP server answering in EasyPost's shapes: the
//! exact requests of a purchase (look for the request's shipment, make it, look at it, buy the
//! cheapest allowed rate), and what is recorded; no rate of the allowed carriers fails the
//! request after one look, shown to a person. (A crash between the steps: api/tests/
//! easypost_crash.rs.)

use adapters::outbound::{config::EasyPostConfig, easypost::EasyPost, Destination};
use commands::CommandHandler;
use domain::{
    order::{Order, OrderCommand},
    shipment::{Shipment, ShipmentCommand, ShipmentLine},
    Code, Quantity, Sku,
};
use eventlog::{testing::TestDatabase, EventLog};
use serde_json::{json, Value};
use wiremock::{
    matchers::{method, path},
    Mock, MockServer, ResponseTemplate,
};

use crate::support::*;

eventlog::on_both_backends!(
    a_label_is_bought_with_easyposts_own_requests_and_recorded,
    no_rate_of_the_allowed_carriers_fails_the_request_shown_to_a_person,
);

fn config(server: &MockServer) -> EasyPostConfig {
    serde_json::from_value(json!({
        "base_url": server.uri(), "api_key": "EZTK_backoffice",
        "carriers": ["USPS"],
        "parcel": {"length_in": 10, "width_in": 8, "height_in": 4, "weight_oz": 16},
        "from_address": {"name": "Shop Warehouse", "street1": "1 Dock Rd", "city": "Austin",
                         "state": "TX", "zip": "78701", "country": "US"},
    }))
    .unwrap()
}

/// Order 1's shipment 1, with a label asked of the carrier integration for a 12x9x3 in parcel.
async fn label_requested(handler: &CommandHandler) {
    place(handler, 1).await;
    let lines = vec![ShipmentLine {
        sku: Sku::parse("MUG").unwrap(),
        quantity: Quantity::parse(2).unwrap(),
    }];
    let id = shipment_id(1);
    handler
        .execute::<Order>(
            &order_id(1),
            OrderCommand::AllocateShipment {
                shipment_id: id.parse().unwrap(),
                carrier: Code::parse("usps").unwrap(),
                lines: lines.clone(),
            },
            &meta("allocate"),
        )
        .await
        .unwrap();
    for (key, command) in [
        (
            "create",
            ShipmentCommand::CreateShipment {
                shipment_id: id.parse().unwrap(),
                order_id: order_id(1).parse().unwrap(),
                carrier: Code::parse("usps").unwrap(),
                lines,
            },
        ),
        (
            "label",
            ShipmentCommand::RequestLabel {
                parcel: Some(domain::shipment::Parcel {
                    length_in: 12,
                    width_in: 9,
                    height_in: 3,
                    weight_oz: 20,
                }),
            },
        ),
    ] {
        handler
            .execute::<Shipment>(&id, command, &meta(key))
            .await
            .unwrap();
    }
}

/// EasyPost's shipment `shp_1`, unbought, with three rates (the cheapest is UPS's).
fn unbought() -> Value {
    json!({
        "id": "shp_1", "object": "Shipment", "reference": "[the request]",
        "postage_label": null, "tracking_code": null, "selected_rate": null,
        "rates": [
            {"id": "rate_ups", "object": "Rate", "carrier": "UPS", "service": "Ground",
             "rate": "3.99", "currency": "USD"},
            {"id": "rate_prio", "object": "Rate", "carrier": "USPS", "service": "Priority",
             "rate": "7.58", "currency": "USD"},
            {"id": "rate_ga", "object": "Rate", "carrier": "USPS", "service": "GroundAdvantage",
             "rate": "5.49", "currency": "USD"},
        ],
    })
}

/// Order 1's shipment with a label asked for, then the EasyPost destination run against
/// `server` until the request is answered (bought or failed): the handler.
async fn requested_and_answered(log: &EventLog, server: &MockServer) -> CommandHandler {
    let handler = CommandHandler::new(log.clone());
    label_requested(&handler).await;
    let limits = quick_limits();
    let easypost = outbound(
        log,
        EasyPost::connect(&config(server)).await.unwrap(),
        limits.clone(),
    );
    let pending = || async {
        let (shipment, _) = handler.load::<Shipment>(&shipment_id(1)).await.unwrap();
        shipment.unwrap().label_request.is_some()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while pending().await {
        assert!(std::time::Instant::now() < deadline, "never answered");
        let within = std::time::Duration::from_secs(30);
        run_until(log, &easypost, &limits, within, || true).await;
    }
    handler
}

async fn answer(server: &MockServer, verb: &str, at: &str, status: u16, body: Value) {
    Mock::given(method(verb))
        .and(path(at))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(server)
        .await;
}

async fn a_label_is_bought_with_easyposts_own_requests_and_recorded(
    _db: &TestDatabase,
    log: EventLog,
) {
    let server = MockServer::start().await;
    let mut bought = unbought();
    bought["tracking_code"] = json!("9400100000000000000001");
    bought["postage_label"] = json!({"object": "PostageLabel",
        "label_url": "https://easypost-files.test/shp_1.png"});
    bought["selected_rate"] = bought["rates"][2].clone();
    answer(
        &server,
        "GET",
        "/v2/shipments",
        200,
        json!({"shipments": [], "has_more": false}),
    )
    .await;
    answer(&server, "POST", "/v2/shipments", 201, unbought()).await;
    answer(&server, "GET", "/v2/shipments/shp_1", 200, unbought()).await;
    answer(&server, "POST", "/v2/shipments/shp_1/buy", 200, bought).await;
    let handler = requested_and_answered(&log, &server).await;
    let labelled = || async {
        let (shipment, _) = handler.load::<Shipment>(&shipment_id(1)).await.unwrap();
        shipment.unwrap().purchased_label
    };
    let label = labelled().await.unwrap();
    assert_eq!(
        (
            label.provider_shipment_id.as_str(),
            label.carrier.as_str(),
            label.service.as_str(),
            label.cost.amount_minor,
            label.cost.currency.as_str(),
            label.label_url.as_str(),
        ),
        (
            "shp_1",
            "USPS",
            "GroundAdvantage",
            549,
            "USD",
            "https://easypost-files.test/shp_1.png"
        ),
        "the cheapest rate of the allowed carrier, as EasyPost sold it"
    );
    let (shipment, _) = handler.load::<Shipment>(&shipment_id(1)).await.unwrap();
    assert_eq!(
        shipment.unwrap().tracking_number.unwrap().as_str(),
        "9400100000000000000001"
    );

    let request = events(&log)
        .await
        .into_iter()
        .find(|e| e.event_type == "ShipmentLabelRequested")
        .unwrap()
        .event_id
        .to_string();
    let requests: Vec<Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| {
            let auth = r.headers.get("authorization").unwrap().to_str().unwrap();
            assert_eq!(
                auth, "Basic RVpUS19iYWNrb2ZmaWNlOg==",
                "the key as the basic-auth user"
            );
            let body = serde_json::from_slice::<Value>(&r.body).unwrap_or(Value::Null);
            let query = r.url.query().map(|q| {
                q.split('&')
                    .filter(|pair| !pair.starts_with("start_datetime="))
                    .collect::<Vec<_>>()
                    .join("&")
            });
            let text = json!({"method": r.method.as_str(), "path": r.url.path(),
                              "query": query, "body": body})
            .to_string()
            .replace(&request, "[the request's event id]");
            serde_json::from_str(&text).unwrap()
        })
        .collect();
    insta::assert_json_snapshot!("easypost_requests", requests);
}

async fn no_rate_of_the_allowed_carriers_fails_the_request_shown_to_a_person(
    _db: &TestDatabase,
    log: EventLog,
) {
    let server = MockServer::start().await;
    let mut ups_only = unbought();
    ups_only["rates"] = json!([ups_only["rates"][0].clone()]);
    answer(
        &server,
        "GET",
        "/v2/shipments",
        200,
        json!({"shipments": [], "has_more": false}),
    )
    .await;
    answer(&server, "POST", "/v2/shipments", 201, ups_only.clone()).await;
    answer(&server, "GET", "/v2/shipments/shp_1", 200, ups_only).await;
    let handler = requested_and_answered(&log, &server).await;
    let failed = || async {
        events(&log)
            .await
            .into_iter()
            .find(|e| e.event_type == "ShipmentLabelFailed")
    };
    let failure = failed().await.unwrap();
    assert_eq!(failure.payload["code"], "no_rate");
    shown_to_a_person(&events(&log).await);
    let (shipment, _) = handler.load::<Shipment>(&shipment_id(1)).await.unwrap();
    let shipment = shipment.unwrap();
    assert_eq!(
        (shipment.label_request, shipment.purchased_label),
        (None, None)
    );
    let buys = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/buy"))
        .count();
    assert_eq!(buys, 0, "nothing bought");
}
