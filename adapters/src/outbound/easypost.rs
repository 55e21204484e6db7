//! Labels bought at EasyPost (docs/integrations/easypost.md, ADR 0013): a label asked for here
//! (`ShipmentLabelRequested`) makes EasyPost's shipment (`POST /v2/shipments`: the order's
//! shipping address, the configured warehouse and parcel, the request's parcel if it names one);
//! its id is recorded (`ShipmentProviderShipmentRecorded`) before anything is bought, and that
//! event buys the cheapest rate of the allowed carriers and services (`POST
//! /v2/shipments/{id}/buy`), whose tracking code, label, carrier, service and cost are recorded.
//!
//! EasyPost has no idempotency keys, so each step first looks for what an earlier attempt did:
//! the shipment made for this request (its `reference` is the request's event id) among the
//! unbought ones made since the request, and whether the recorded shipment is bought already.
//! A crash between any two calls therefore makes at most one shipment per request that is kept,
//! and buys one label.

use chrono::{DateTime, SecondsFormat, Utc};
use domain::{
    shipment::{Parcel, PurchasedLabel, ShipmentCommand, ShipmentEvent},
    Code, Currency, ExternalRef, Money, NonEmptyText, ShipmentId,
};
use eventlog::RecordedEvent;
use serde::Serialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{
    config::{EasyPostConfig, FromAddress},
    decode,
    http::{Credentials, HttpBody, HttpMessage, HttpPartner},
    Answer, Destination, Facts, FollowUp, Limits, Needs, SendError, SetupError, Unmappable,
};

/// EasyPost's API.
#[derive(Debug)]
pub struct EasyPost {
    partner: HttpPartner,
    from_address: FromAddress,
    parcel: Parcel,
    carriers: Vec<String>,
    services: Vec<String>,
}

/// A step of a label purchase.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum EasyPostMessage {
    /// Make EasyPost's shipment, unless one with this `reference` was made since `since`.
    Create {
        /// Unbought shipments made from this time on are looked through first.
        since: DateTime<Utc>,
        /// The request's event id, stored by EasyPost on the shipment.
        reference: String,
        /// `POST /v2/shipments`'s body.
        body: Value,
    },
    /// Buy the cheapest allowed rate of EasyPost's shipment, unless it is bought already.
    Buy {
        /// EasyPost's shipment id (`shp_…`).
        shipment_id: String,
    },
}

const EVENT_TYPES: [&str; 2] = ["ShipmentLabelRequested", "ShipmentProviderShipmentRecorded"];

/// How far before the request the look for its shipment starts (clocks differ).
const LOOK_BACK: chrono::Duration = chrono::Duration::minutes(10);

impl Destination for EasyPost {
    const NAME: &'static str = "easypost";
    const NEEDS: Needs = Needs {
        order: true,
        shipment: false,
        contact: false,
    };
    type Message = EasyPostMessage;
    type Config = EasyPostConfig;

    fn limits(config: &EasyPostConfig) -> &Limits {
        &config.limits
    }

    async fn connect(config: &EasyPostConfig) -> Result<Self, SetupError> {
        if config.parcel.is_empty() {
            return Err(SetupError::new(
                Self::NAME,
                "parcel: length_in, width_in, height_in and weight_oz must be at least 1",
            ));
        }
        let credentials = Credentials::KeyAsUser(config.api_key.clone());
        let partner = HttpPartner::new(Self::NAME, &config.base_url, credentials, &config.limits)?;
        Ok(Self {
            partner,
            from_address: config.from_address.clone(),
            parcel: config.parcel,
            carriers: config.carriers.clone(),
            services: config.services.clone(),
        })
    }

    /// One lane per shipment: its steps go in the order they were recorded.
    fn lane(event: &RecordedEvent) -> Option<String> {
        (event.stream.aggregate_type == domain::shipment::AGGREGATE_TYPE
            && EVENT_TYPES.contains(&event.event_type.as_str()))
        .then(|| event.stream.to_string())
    }

    fn message(
        &self,
        event: &RecordedEvent,
        facts: &Facts,
    ) -> Result<Option<EasyPostMessage>, Unmappable> {
        match decode::<ShipmentEvent>(event)? {
            Some(ShipmentEvent::ShipmentLabelRequested(requested)) => {
                let order = facts.order.as_ref().ok_or_else(|| {
                    Unmappable::Unreadable(format!(
                        "order {} is not in the log",
                        requested.order_id
                    ))
                })?;
                let to = &order.shipping_address;
                let parcel = requested.parcel.unwrap_or(self.parcel);
                let reference = event.event_id.to_string();
                let mut to_address = json!({
                    "name": to.recipient.as_str(),
                    "street1": to.line1.as_str(),
                    "street2": to.line2.as_ref().map(|l| l.as_str()),
                    "city": to.city.as_str(),
                    "zip": to.postal_code.as_ref().map(|p| p.as_str()),
                    "country": to.country.as_str(),
                });
                if let Some(fields) = to_address.as_object_mut() {
                    fields.retain(|_, value| !value.is_null());
                }
                Ok(Some(EasyPostMessage::Create {
                    since: requested.requested_at - LOOK_BACK,
                    body: json!({"shipment": {
                        "reference": reference,
                        "to_address": to_address,
                        "from_address": self.from_address,
                        "parcel": {
                            "length": parcel.length_in,
                            "width": parcel.width_in,
                            "height": parcel.height_in,
                            "weight": parcel.weight_oz,
                        },
                    }}),
                    reference,
                }))
            }
            Some(ShipmentEvent::ShipmentProviderShipmentRecorded(recorded)) => {
                Ok(Some(EasyPostMessage::Buy {
                    shipment_id: recorded.provider_shipment_id.to_string(),
                }))
            }
            _ => Ok(None),
        }
    }

    async fn send(&self, message: &EasyPostMessage, key: Uuid) -> Result<Answer, SendError> {
        match message {
            EasyPostMessage::Create {
                since,
                reference,
                body,
            } => {
                if let Some(made) = self.made_for(reference, *since, key).await? {
                    return Ok(made);
                }
                let create = HttpMessage {
                    method: "POST",
                    path: "/v2/shipments".to_owned(),
                    body: HttpBody::Json(body.clone()),
                };
                self.partner.send(&create, key).await
            }
            EasyPostMessage::Buy { shipment_id } => self.buy(shipment_id, key).await,
        }
    }

    /// EasyPost's shipment (its id recorded), or the label it sold (recorded as bought).
    fn follow_up(event: &RecordedEvent, answer: &Answer) -> Result<Option<FollowUp>, String> {
        let shipment_id: ShipmentId = event
            .stream
            .aggregate_id
            .parse()
            .map_err(|_| format!("no shipment id in {}", event.stream))?;
        let shipment = answer
            .json
            .as_ref()
            .filter(|json| json["id"].as_str().is_some_and(|id| id.starts_with("shp_")))
            .ok_or_else(|| "EasyPost's answer is not a shipment".to_owned())?;
        let command = match event.event_type.as_str() {
            "ShipmentLabelRequested" => ShipmentCommand::RecordProviderShipment {
                provider_shipment_id: reference(&shipment["id"], "id")?,
            },
            _ => bought(shipment)?,
        };
        Ok(Some(FollowUp::Shipment {
            shipment_id,
            command,
        }))
    }

    /// EasyPost refusing a step for good (a 4xx with its error: an address it cannot use, a
    /// shipment it cannot buy), or no rate of the allowed carriers: the request fails, shown
    /// to a person, and may be asked again.
    fn refused(event: &RecordedEvent, refusal: &SendError) -> Option<FollowUp> {
        let SendError::Rejected {
            status: Some(400 | 402 | 404 | 422) | None,
            answer: Some(answer),
            ..
        } = refusal
        else {
            return None;
        };
        let error: Value = serde_json::from_str::<Value>(answer).ok()?["error"].clone();
        let code = Code::parse(error["code"].as_str()?)
            .or_else(|_| Code::parse("easypost_error"))
            .ok()?;
        let message = NonEmptyText::fitted(error["message"].as_str().unwrap_or("EasyPost refused"));
        Some(FollowUp::Shipment {
            shipment_id: event.stream.aggregate_id.parse().ok()?,
            command: ShipmentCommand::RecordLabelFailed { code, message },
        })
    }
}

impl EasyPost {
    /// The unbought shipment made for `reference` since `since`, if an earlier attempt made
    /// one.
    async fn made_for(
        &self,
        reference: &str,
        since: DateTime<Utc>,
        key: Uuid,
    ) -> Result<Option<Answer>, SendError> {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("purchased", "false")
            .append_pair("page_size", "100")
            .append_pair(
                "start_datetime",
                &since.to_rfc3339_opts(SecondsFormat::Secs, true),
            )
            .finish();
        let list = self.get(&format!("/v2/shipments?{query}"), key).await?;
        let found = list.json.as_ref().and_then(|json| {
            json["shipments"]
                .as_array()?
                .iter()
                .find(|shipment| shipment["reference"].as_str() == Some(reference))
                .cloned()
        });
        Ok(found.map(|shipment| Answer {
            status: list.status,
            body: None,
            json: Some(shipment),
        }))
    }

    /// Buys the cheapest allowed rate of `shipment_id`, unless it is bought already.
    async fn buy(&self, shipment_id: &str, key: Uuid) -> Result<Answer, SendError> {
        let path = format!("/v2/shipments/{shipment_id}");
        let current = self.get(&path, key).await?;
        let shipment = current.json.clone().unwrap_or(Value::Null);
        if shipment["postage_label"].is_object() {
            return Ok(current);
        }
        let Some(rate) = self.cheapest(&shipment["rates"]) else {
            return Err(SendError::Rejected {
                status: None,
                error: "no rate of the allowed carriers and services".to_owned(),
                answer: Some(
                    json!({"error": {
                        "code": "no_rate",
                        "message": format!(
                            "EasyPost offers no rate of carriers {:?} and services {:?}",
                            self.carriers, self.services
                        ),
                    }})
                    .to_string(),
                ),
            });
        };
        let buy = HttpMessage {
            method: "POST",
            path: format!("{path}/buy"),
            body: HttpBody::Json(json!({"rate": {"id": rate}})),
        };
        self.partner.send(&buy, key).await
    }

    async fn get(&self, path: &str, key: Uuid) -> Result<Answer, SendError> {
        let get = HttpMessage {
            method: "GET",
            path: path.to_owned(),
            body: HttpBody::Empty,
        };
        self.partner.send(&get, key).await
    }

    /// The id of the cheapest rate whose carrier and service are allowed.
    fn cheapest(&self, rates: &Value) -> Option<String> {
        let allowed = |list: &[String], value: &Value| {
            list.is_empty() || value.as_str().is_some_and(|v| list.iter().any(|a| a == v))
        };
        rates
            .as_array()?
            .iter()
            .filter(|rate| {
                allowed(&self.carriers, &rate["carrier"])
                    && allowed(&self.services, &rate["service"])
            })
            .filter_map(|rate| {
                let currency = Currency::parse(rate["currency"].as_str()?).ok()?;
                let minor = minor_units(rate["rate"].as_str()?, currency)?;
                Some((minor, rate["id"].as_str()?.to_owned()))
            })
            .min()
            .map(|(_, id)| id)
    }
}

/// What EasyPost sold: its bought shipment read as the label recorded.
fn bought(shipment: &Value) -> Result<ShipmentCommand, String> {
    let rate = &shipment["selected_rate"];
    let currency = rate["currency"]
        .as_str()
        .and_then(|c| Currency::parse(c).ok())
        .ok_or("EasyPost's selected rate has no currency")?;
    let cost = rate["rate"]
        .as_str()
        .and_then(|r| minor_units(r, currency))
        .ok_or("EasyPost's selected rate has no amount")?;
    Ok(ShipmentCommand::RecordPurchasedLabel {
        tracking_number: reference(&shipment["tracking_code"], "tracking_code")?,
        label: PurchasedLabel {
            provider: Code::parse(EasyPost::NAME).map_err(|e| e.to_string())?,
            provider_shipment_id: reference(&shipment["id"], "id")?,
            label_url: text(
                &shipment["postage_label"]["label_url"],
                "postage_label.label_url",
            )?,
            carrier: text(&rate["carrier"], "selected_rate.carrier")?,
            service: text(&rate["service"], "selected_rate.service")?,
            cost: Money::new(cost, currency),
        },
    })
}

fn reference(value: &Value, field: &str) -> Result<ExternalRef, String> {
    value
        .as_str()
        .and_then(|v| ExternalRef::parse(v).ok())
        .ok_or_else(|| format!("EasyPost's answer has no usable {field}"))
}

fn text(value: &Value, field: &str) -> Result<NonEmptyText, String> {
    value
        .as_str()
        .and_then(|v| NonEmptyText::parse(v).ok())
        .ok_or_else(|| format!("EasyPost's answer has no usable {field}"))
}

/// A decimal amount as EasyPost writes it (`"6.49"`) in `currency`'s minor units (649).
fn minor_units(amount: &str, currency: Currency) -> Option<i64> {
    let digits = currency.minor_digits() as usize;
    let (whole, fraction) = amount.trim().split_once('.').unwrap_or((amount.trim(), ""));
    if fraction.len() > digits || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = whole.parse().ok().filter(|w: &i64| *w >= 0)?;
    let fraction: i64 = format!("{fraction:0<digits$}").parse().unwrap_or(0);
    whole
        .checked_mul(10_i64.pow(u32::try_from(digits).ok()?))?
        .checked_add(fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_in_minor_units() {
        assert_eq!(minor_units("6.49", Currency::USD), Some(649));
        assert_eq!(minor_units("6.5", Currency::USD), Some(650));
        assert_eq!(minor_units("12", Currency::USD), Some(1200));
        assert_eq!(minor_units("6.499", Currency::USD), None);
        assert_eq!(minor_units("-1.00", Currency::USD), None);
        assert_eq!(minor_units("six", Currency::USD), None);
    }
}
