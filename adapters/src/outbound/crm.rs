//! The CRM, source of truth for contacts: a placed, delivered or refunded order becomes an
//! activity on the customer's timeline (`POST /customers/{customer_id}/activities`, bearer
//! token, `Idempotency-Key` = the event id, also the activity's `id`). Contract:
//! docs/integrations/crm.md.

use domain::{order::OrderEvent, payment::PaymentEvent, shipment::ShipmentEvent};
use eventlog::RecordedEvent;
use serde_json::json;
use uuid::Uuid;

use super::{
    config::CrmConfig,
    decode,
    http::{Credentials, HttpBody, HttpMessage, HttpPartner},
    order_lane, Answer, Destination, Facts, Limits, Needs, SendError, SetupError, Unmappable,
};

/// The CRM's activity API.
#[derive(Debug)]
pub struct Crm {
    partner: HttpPartner,
}

const EVENT_TYPES: [&str; 3] = ["OrderPlaced", "ShipmentDelivered", "PaymentRefunded"];

impl Destination for Crm {
    const NAME: &'static str = "crm";
    const NEEDS: Needs = Needs {
        order: true,
        shipment: false,
        contact: false,
    };
    type Message = HttpMessage;
    type Config = CrmConfig;

    fn limits(config: &CrmConfig) -> &Limits {
        &config.limits
    }

    async fn connect(config: &CrmConfig) -> Result<Self, SetupError> {
        let credentials = Credentials::Bearer(config.token.clone());
        let partner = HttpPartner::new(Self::NAME, &config.base_url, credentials, &config.limits)?;
        Ok(Self { partner })
    }

    fn lane(event: &RecordedEvent) -> Option<String> {
        order_lane(event, &EVENT_TYPES)
    }

    fn message(
        &self,
        event: &RecordedEvent,
        facts: &Facts,
    ) -> Result<Option<HttpMessage>, Unmappable> {
        let (kind, summary, amount) = if let Some(OrderEvent::OrderPlaced(placed)) =
            decode::<OrderEvent>(event)?
        {
            let items: u32 = placed.lines.iter().map(|l| l.quantity.get()).sum();
            (
                "order_placed",
                format!("Order placed: {items} items, {}", placed.total.shown()),
                Some(placed.total),
            )
        } else if let Some(ShipmentEvent::ShipmentDelivered(_)) = decode::<ShipmentEvent>(event)? {
            ("order_delivered", "Parcel delivered".to_owned(), None)
        } else if let Some(PaymentEvent::PaymentRefunded(refunded)) = decode::<PaymentEvent>(event)?
        {
            (
                "order_refunded",
                format!("Refund issued: {}", refunded.amount.shown()),
                Some(refunded.amount),
            )
        } else {
            return Ok(None);
        };
        let order = facts.order.as_ref().ok_or_else(|| {
            Unmappable::Unreadable(format!("no order for event {}", event.event_id))
        })?;
        Ok(Some(HttpMessage {
            method: "POST",
            path: format!("/customers/{}/activities", order.customer_id),
            body: HttpBody::Json(json!({
                "id": event.event_id,
                "type": kind,
                "occurred_at": event.recorded_at,
                "order_id": order.order_id,
                "external_reference": order.external_reference,
                "summary": summary,
                "amount_minor": amount.map(|m| m.amount_minor),
                "currency": amount.map(|m| m.currency),
            })),
        }))
    }

    async fn send(&self, message: &HttpMessage, key: Uuid) -> Result<Answer, SendError> {
        self.partner.send(message, key).await
    }
}
