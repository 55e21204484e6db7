//! Text messages over HTTP, in the shape of the most common provider's API (form-encoded
//! `POST /2010-04-01/Accounts/{account_sid}/Messages.json` with `To`, `From` and `Body`, basic
//! auth with the account id and its token, `Idempotency-Key` = the event id): a parcel out for
//! delivery, and a delivery that failed. The number is the customer's phone in the CRM's copy:
//! without one, the message waits for it as an attention item.

use domain::shipment::ShipmentEvent;
use eventlog::RecordedEvent;
use uuid::Uuid;

use super::{
    config::SmsConfig,
    decode,
    http::{Credentials, HttpBody, HttpMessage, HttpPartner},
    order_lane, Answer, Destination, Facts, Limits, Needs, SendError, SetupError, Unmappable,
};

/// The SMS provider's API.
#[derive(Debug)]
pub struct Sms {
    partner: HttpPartner,
    account_sid: String,
    from: String,
}

const EVENT_TYPES: [&str; 2] = ["ShipmentOutForDelivery", "ShipmentDeliveryFailed"];

impl Destination for Sms {
    const NAME: &'static str = "sms";
    const NEEDS: Needs = Needs {
        order: true,
        shipment: true,
        contact: true,
    };
    type Message = HttpMessage;
    type Config = SmsConfig;

    fn limits(config: &SmsConfig) -> &Limits {
        &config.limits
    }

    async fn connect(config: &SmsConfig) -> Result<Self, SetupError> {
        let sid_ok = !config.account_sid.is_empty()
            && config
                .account_sid
                .chars()
                .all(|c| c.is_ascii_alphanumeric());
        if !sid_ok {
            return Err(SetupError::new(
                Self::NAME,
                "account_sid must be letters and digits",
            ));
        }
        let credentials = Credentials::Basic {
            user: config.account_sid.clone(),
            password: config.auth_token.clone(),
        };
        let partner = HttpPartner::new(Self::NAME, &config.base_url, credentials, &config.limits)?;
        Ok(Self {
            partner,
            account_sid: config.account_sid.clone(),
            from: config.from.clone(),
        })
    }

    fn lane(event: &RecordedEvent) -> Option<String> {
        order_lane(event, &EVENT_TYPES)
    }

    fn message(
        &self,
        event: &RecordedEvent,
        facts: &Facts,
    ) -> Result<Option<HttpMessage>, Unmappable> {
        let Some(shipment_event) = decode::<ShipmentEvent>(event)? else {
            return Ok(None);
        };
        let (Some(shipment), Some(order)) = (&facts.shipment, &facts.order) else {
            return Err(Unmappable::Unreadable(format!(
                "no shipment or order for {}",
                event.stream
            )));
        };
        let reference = order
            .external_reference
            .as_ref()
            .map_or_else(|| order.order_id.to_string(), ToString::to_string);
        let body = match shipment_event {
            ShipmentEvent::ShipmentOutForDelivery(_) => match &shipment.tracking_number {
                Some(number) => format!(
                    "Your order {reference} is out for delivery today with {} (tracking {number}).",
                    shipment.carrier
                ),
                None => format!(
                    "Your order {reference} is out for delivery today with {}.",
                    shipment.carrier
                ),
            },
            ShipmentEvent::ShipmentDeliveryFailed(failed) => format!(
                "We could not deliver your order {reference}: {}. {} will try again or contact you.",
                failed.reason, shipment.carrier
            ),
            _ => return Ok(None),
        };
        let phone = facts
            .contact
            .as_ref()
            .and_then(|contact| contact.phone.clone())
            .ok_or_else(|| {
                Unmappable::Missing(format!(
                    "no phone number for customer {}: the CRM has not sent one",
                    order.customer_id
                ))
            })?;
        Ok(Some(HttpMessage {
            method: "POST",
            path: format!("/2010-04-01/Accounts/{}/Messages.json", self.account_sid),
            body: HttpBody::Form(vec![
                ("To".to_owned(), phone),
                ("From".to_owned(), self.from.clone()),
                ("Body".to_owned(), body),
            ]),
        }))
    }

    async fn send(&self, message: &HttpMessage, key: Uuid) -> Result<Answer, SendError> {
        self.partner.send(message, key).await
    }
}
