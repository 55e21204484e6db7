//! Simulated EasyPost: the shipments and label purchases the service's `easypost` destination
//! makes (rates per destination country; an address whose ZIP code does not exist refused with
//! EasyPost's error), a label to look at, and the tracker of each parcel, whose scans the demo's
//! driver moves along and which EasyPost sends as `tracker.created` / `tracker.updated` events
//! carrying the whole history (docs/integrations/easypost.md).

use std::{collections::HashMap, time::Duration};

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

use super::{
    data::UNKNOWN_ZIP,
    partners::{answer, authorized, digits, lock, random, Partners, Source},
};

/// What simulated EasyPost knows: shipments by id, and which shipment a tracking code is.
#[derive(Debug, Default)]
pub struct Book {
    shipments: HashMap<String, Shipment>,
    by_tracking: HashMap<String, String>,
}

#[derive(Debug)]
struct Shipment {
    json: Value,
    created: DateTime<Utc>,
    tracker: Option<Tracker>,
}

#[derive(Debug)]
struct Tracker {
    id: String,
    carrier: String,
    details: Vec<Value>,
    status: String,
    /// The time of the newest scan (each scan is later than the one before).
    last: DateTime<Utc>,
    created: String,
}

/// Where parcels leave from (the `from_address` the service is configured with).
pub fn warehouse() -> Value {
    json!({
        "name": "Demo Shop Warehouse",
        "street1": "1 Dock Rd",
        "city": "Austin",
        "state": "TX",
        "zip": "78701",
        "country": "US",
        "phone": "+15125550100",
    })
}

/// A parcel's next scan, as the carrier reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Picked up at the warehouse.
    PickedUp,
    /// Through the carrier's hub.
    AtHub,
    /// On the van.
    OutForDelivery,
    /// No one was home.
    Missed,
    /// Handed over.
    Delivered,
}

impl Scan {
    /// EasyPost's status, its detail and the carrier's message.
    fn words(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Self::PickedUp => ("in_transit", "arrived_at_facility", "Picked up"),
            Self::AtHub => ("in_transit", "departed_facility", "Departed sort facility"),
            Self::OutForDelivery => ("out_for_delivery", "out_for_delivery", "Out for delivery"),
            Self::Missed => (
                "failure",
                "delivery_attempt_failed",
                "Delivery attempted: no one was home",
            ),
            Self::Delivered => ("delivered", "arrived_at_destination", "Delivered"),
        }
    }
}

fn location(city: &Value, state: &Value, zip: &Value, country: &Value) -> Value {
    json!({"object": "TrackingLocation", "city": city, "state": state, "zip": zip, "country": country})
}

impl Tracker {
    /// Adds a scan at `at` (moved after the newest one if the clock has not).
    fn scan(&mut self, status: &str, detail: &str, message: &str, place: Value) {
        let mut at = Utc::now();
        if at <= self.last + chrono::Duration::seconds(1) {
            at = self.last + chrono::Duration::seconds(1);
        }
        self.last = at;
        self.status = status.to_owned();
        self.details.push(json!({
            "object": "TrackingDetail",
            "message": message,
            "description": message,
            "status": status,
            "status_detail": detail,
            "datetime": at.to_rfc3339_opts(SecondsFormat::Secs, true),
            "source": self.carrier,
            "tracking_location": place,
        }));
    }

    fn json(&self, shipment: &Value) -> Value {
        let code = shipment["tracking_code"].clone();
        json!({
            "id": self.id,
            "object": "Tracker",
            "mode": "test",
            "tracking_code": code,
            "status": self.status,
            "status_detail": self.details.last().map_or(Value::Null, |d| d["status_detail"].clone()),
            "carrier": self.carrier,
            "shipment_id": shipment["id"],
            "created_at": self.created,
            "updated_at": self.last.to_rfc3339_opts(SecondsFormat::Secs, true),
            "est_delivery_date": (self.last + chrono::Duration::days(3))
                .to_rfc3339_opts(SecondsFormat::Secs, true),
            "signed_by": null,
            "weight": null,
            "tracking_details": self.details,
            "public_url": format!("https://track.easypost.com/{}", self.id),
        })
    }
}

/// An EasyPost event about a tracker.
fn event(description: &str, tracker: Value, previous: Option<&str>) -> Value {
    let now = Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true);
    json!({
        "id": format!("evt_{}", random(24)),
        "object": "Event",
        "mode": "test",
        "description": description,
        "status": "pending",
        "previous_attributes": previous.map_or(json!({}), |status| json!({"status": status})),
        "pending_urls": [],
        "completed_urls": [],
        "user_id": "user_demo",
        "created_at": now,
        "updated_at": now,
        "result": tracker,
    })
}

fn error(status: u16, code: &str, message: &str) -> Response {
    answer(
        status,
        json!({"error": {"code": code, "message": message, "errors": []}}),
    )
}

/// The rates EasyPost offers for a parcel to `country`.
fn rates(shipment_id: &str, country: &str) -> Value {
    let offers: &[(&str, &str, &str)] = if country == "US" {
        &[
            ("USPS", "GroundAdvantage", "5.95"),
            ("USPS", "Priority", "8.70"),
            ("UPS", "Ground", "10.35"),
        ]
    } else {
        &[
            ("DHLExpress", "ExpressWorldwideNonDoc", "34.90"),
            ("USPS", "PriorityMailInternational", "41.75"),
        ]
    };
    offers
        .iter()
        .map(|(carrier, service, rate)| {
            json!({
                "id": format!("rate_{}", random(24)),
                "object": "Rate",
                "carrier": carrier,
                "service": service,
                "rate": rate,
                "currency": "USD",
                "shipment_id": shipment_id,
            })
        })
        .collect()
}

/// `GET /v2/shipments` (`purchased=false`, `start_datetime`): the unbought shipments.
pub async fn list(
    State(partners): State<Partners>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !authorized(&headers, &partners.inner().keys.easypost_authorization) {
        return error(401, "APIKEY.INACTIVE", "The API key is not valid.");
    }
    let since = query
        .get("start_datetime")
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let book = lock(&partners.inner().easypost);
    let shipments: Vec<Value> = book
        .shipments
        .values()
        .filter(|s| s.json["postage_label"].is_null())
        .filter(|s| since.is_none_or(|since| s.created >= since))
        .map(|s| s.json.clone())
        .collect();
    answer(200, json!({"shipments": shipments, "has_more": false}))
}

/// `POST /v2/shipments`: a shipment with its rates, or EasyPost's refusal of the address.
pub async fn create(State(partners): State<Partners>, headers: HeaderMap, body: Bytes) -> Response {
    if !authorized(&headers, &partners.inner().keys.easypost_authorization) {
        return error(401, "APIKEY.INACTIVE", "The API key is not valid.");
    }
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return error(400, "PARAMETER.INVALID", "The request body is not JSON.");
    };
    let asked = &request["shipment"];
    let to = &asked["to_address"];
    if to["zip"].as_str() == Some(UNKNOWN_ZIP) {
        return error(
            422,
            "ADDRESS.VERIFY.FAILURE",
            &format!("Unable to verify the address: ZIP code {UNKNOWN_ZIP} does not exist."),
        );
    }
    let id = format!("shp_{}", random(24));
    let created = Utc::now();
    let json = json!({
        "id": id,
        "object": "Shipment",
        "mode": "test",
        "reference": asked["reference"],
        "to_address": to,
        "from_address": asked["from_address"],
        "parcel": asked["parcel"],
        "rates": rates(&id, to["country"].as_str().unwrap_or("US")),
        "postage_label": null,
        "tracking_code": null,
        "selected_rate": null,
        "tracker": null,
        "created_at": created.to_rfc3339_opts(SecondsFormat::Secs, true),
    });
    lock(&partners.inner().easypost).shipments.insert(
        id,
        Shipment {
            json: json.clone(),
            created,
            tracker: None,
        },
    );
    answer(201, json)
}

/// `GET /v2/shipments/{id}`.
pub async fn show(
    State(partners): State<Partners>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(&headers, &partners.inner().keys.easypost_authorization) {
        return error(401, "APIKEY.INACTIVE", "The API key is not valid.");
    }
    match lock(&partners.inner().easypost).shipments.get(&id) {
        Some(shipment) => answer(200, shipment.json.clone()),
        None => error(
            404,
            "NOT_FOUND",
            "The requested resource could not be found.",
        ),
    }
}

/// `POST /v2/shipments/{id}/buy`: the label, its tracking code, and a tracker (whose
/// `tracker.created` follows).
pub async fn buy(
    State(partners): State<Partners>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if !authorized(&headers, &partners.inner().keys.easypost_authorization) {
        return error(401, "APIKEY.INACTIVE", "The API key is not valid.");
    }
    let rate_id = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["rate"]["id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let base = partners.base().to_owned();
    let (json, news) = {
        let mut book = lock(&partners.inner().easypost);
        let Some(shipment) = book.shipments.get_mut(&id) else {
            return error(
                404,
                "NOT_FOUND",
                "The requested resource could not be found.",
            );
        };
        if !shipment.json["postage_label"].is_null() {
            return error(
                422,
                "SHIPMENT.POSTAGE.EXISTS",
                "This shipment already has postage.",
            );
        }
        let Some(rate) = shipment.json["rates"]
            .as_array()
            .and_then(|rates| rates.iter().find(|r| r["id"] == rate_id.as_str()))
            .cloned()
        else {
            return error(
                422,
                "SHIPMENT.RATE.INVALID",
                "The rate is not one of this shipment's.",
            );
        };
        let carrier = rate["carrier"].as_str().unwrap_or("USPS").to_owned();
        let code = if carrier == "USPS" {
            format!("9400{}", digits(18))
        } else {
            digits(10)
        };
        let now = Utc::now();
        let mut tracker = Tracker {
            id: format!("trk_{}", random(24)),
            carrier,
            details: Vec::new(),
            status: "pre_transit".to_owned(),
            last: now - chrono::Duration::seconds(1),
            created: now.to_rfc3339_opts(SecondsFormat::Secs, true),
        };
        let from = warehouse();
        tracker.scan(
            "pre_transit",
            "label_created",
            "Shipping label created",
            location(
                &from["city"],
                &from["state"],
                &from["zip"],
                &from["country"],
            ),
        );
        let json = &mut shipment.json;
        json["tracking_code"] = json!(code);
        json["selected_rate"] = rate;
        json["postage_label"] = json!({
            "object": "PostageLabel",
            "id": format!("pl_{}", random(24)),
            "label_url": format!("{base}/easypost/labels/{id}.svg"),
            "label_file_type": "image/svg+xml",
            "label_date": tracker.created,
        });
        json["tracker"] = json!({"id": tracker.id, "object": "Tracker"});
        let news = event("tracker.created", tracker.json(json), None);
        let json = json.clone();
        shipment.tracker = Some(tracker);
        book.by_tracking.insert(code, id);
        (json, news)
    };
    partners.deliver_later(Source::EasyPost, news, Duration::from_millis(800));
    answer(200, json)
}

/// A label to look at: `GET /easypost/labels/{shipment}.svg`.
pub async fn label(State(partners): State<Partners>, Path(file): Path<String>) -> Response {
    let id = file.strip_suffix(".svg").unwrap_or(&file);
    let book = lock(&partners.inner().easypost);
    let Some(shipment) = book.shipments.get(id) else {
        return error(
            404,
            "NOT_FOUND",
            "The requested resource could not be found.",
        );
    };
    let text = |value: &Value| {
        value
            .as_str()
            .unwrap_or_default()
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let json = &shipment.json;
    let lines = [
        text(&json["selected_rate"]["carrier"]),
        text(&json["selected_rate"]["service"]),
        text(&json["to_address"]["name"]),
        text(&json["to_address"]["street1"]),
        format!(
            "{} {}",
            text(&json["to_address"]["zip"]),
            text(&json["to_address"]["city"])
        ),
        text(&json["to_address"]["country"]),
        format!("Tracking {}", text(&json["tracking_code"])),
    ];
    let mut svg = String::from(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"600\">\
         <rect width=\"400\" height=\"600\" fill=\"white\" stroke=\"black\" stroke-width=\"4\"/>",
    );
    for (index, line) in lines.iter().enumerate() {
        svg.push_str(&format!(
            "<text x=\"24\" y=\"{}\" font-family=\"monospace\" font-size=\"20\">{line}</text>",
            60 + index * 40
        ));
    }
    svg.push_str("</svg>");
    ([(header::CONTENT_TYPE, "image/svg+xml")], svg).into_response()
}

impl Partners {
    /// The carrier scans the parcel with `tracking_code`; EasyPost sends `tracker.updated`.
    pub async fn easypost_scan(&self, tracking_code: &str, scan: Scan) -> anyhow::Result<()> {
        let news = {
            let mut book = lock(&self.inner().easypost);
            let id = book
                .by_tracking
                .get(tracking_code)
                .cloned()
                .ok_or_else(|| anyhow::anyhow!("no parcel {tracking_code} at EasyPost"))?;
            let shipment = book
                .shipments
                .get_mut(&id)
                .ok_or_else(|| anyhow::anyhow!("no shipment {id} at EasyPost"))?;
            let to = &shipment.json["to_address"];
            let place = match scan {
                Scan::PickedUp => {
                    let from = warehouse();
                    location(
                        &from["city"],
                        &from["state"],
                        &from["zip"],
                        &from["country"],
                    )
                }
                Scan::AtHub if to["country"] == "US" => location(
                    &json!("DALLAS"),
                    &json!("TX"),
                    &json!("75261"),
                    &json!("US"),
                ),
                Scan::AtHub => location(
                    &json!("LEIPZIG"),
                    &Value::Null,
                    &json!("04435"),
                    &json!("DE"),
                ),
                _ => location(&to["city"], &to["state"], &to["zip"], &to["country"]),
            };
            let tracker = shipment
                .tracker
                .as_mut()
                .ok_or_else(|| anyhow::anyhow!("shipment {id} has no label"))?;
            let previous = tracker.status.clone();
            let (status, detail, message) = scan.words();
            tracker.scan(status, detail, message, place);
            event(
                "tracker.updated",
                tracker.json(&shipment.json),
                Some(&previous),
            )
        };
        self.deliver(Source::EasyPost, &news).await
    }
}
