//! The ERP, source of truth for catalog and invoices: placed, cancelled, refunded and
//! dispatched orders go to its sales-order API as JSON in the Standard Webhooks shape
//! (`type`, `timestamp`, `data`), signed as a Standard Webhooks sender with our secret
//! (`webhook-id` = the event id, which is also the `Idempotency-Key`), so that the ERP verifies
//! us as we verify it. Its answer to a placed order names its sales order, recorded on the
//! order (`OrderSalesOrderRecorded`). Contract: docs/integrations/erp.md.

use domain::{
    order::{OrderCommand, OrderEvent},
    payment::PaymentEvent,
    shipment::ShipmentEvent,
    ExternalRef,
};
use eventlog::RecordedEvent;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{
    config::ErpConfig,
    decode,
    http::{Credentials, HttpBody, HttpMessage, HttpPartner},
    order_lane, Answer, Destination, Facts, FollowUp, Limits, Needs, SendError, SetupError,
    Unmappable,
};

/// The ERP's sales-order API.
#[derive(Debug)]
pub struct Erp {
    partner: HttpPartner,
}

const EVENT_TYPES: [&str; 4] = [
    "OrderPlaced",
    "OrderCancelled",
    "PaymentRefunded",
    "ShipmentDispatched",
];

impl Destination for Erp {
    const NAME: &'static str = "erp";
    const NEEDS: Needs = Needs {
        order: false,
        shipment: true,
        contact: false,
    };
    type Message = HttpMessage;
    type Config = ErpConfig;

    fn limits(config: &ErpConfig) -> &Limits {
        &config.limits
    }

    async fn connect(config: &ErpConfig) -> Result<Self, SetupError> {
        let credentials = Credentials::StandardWebhooks(config.secret.clone());
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
        let at = event.recorded_at;
        let envelope = |kind: &str, path: String, data: Value| {
            Some(HttpMessage {
                method: "POST",
                path,
                body: HttpBody::Json(json!({
                    "type": kind,
                    "timestamp": at,
                    "data": data,
                })),
            })
        };
        let order_id = &event.stream.aggregate_id;
        if let Some(order_event) = decode::<OrderEvent>(event)? {
            return Ok(match order_event {
                OrderEvent::OrderPlaced(placed) => envelope(
                    "order.placed",
                    "/sales-orders".to_owned(),
                    json!({
                        "order_id": placed.order_id,
                        "external_reference": placed.external_reference,
                        "customer_id": placed.customer_id,
                        "currency": placed.currency,
                        "total_minor": placed.total.amount_minor,
                        "lines": placed.lines.iter().map(|line| json!({
                            "sku": line.sku,
                            "name": line.name,
                            "quantity": line.quantity,
                            "unit_price_minor": line.unit_price.amount_minor,
                        })).collect::<Vec<_>>(),
                        "shipping_address": placed.shipping_address,
                        "placed_at": placed.placed_at,
                    }),
                ),
                OrderEvent::OrderCancelled(cancelled) => envelope(
                    "order.cancelled",
                    format!("/sales-orders/{order_id}/cancellation"),
                    json!({
                        "order_id": order_id,
                        "reason": cancelled.reason,
                        "cancelled_at": cancelled.cancelled_at,
                    }),
                ),
                _ => None,
            });
        }
        if let Some(PaymentEvent::PaymentRefunded(refunded)) = decode::<PaymentEvent>(event)? {
            let order_id = refunded.order_id;
            return Ok(envelope(
                "order.refunded",
                format!("/sales-orders/{order_id}/refunds"),
                json!({
                    "order_id": order_id,
                    "payment_id": event.stream.aggregate_id,
                    "refund_id": refunded.refund_id,
                    "currency": refunded.amount.currency,
                    "amount_minor": refunded.amount.amount_minor,
                    "refunded_total_minor": refunded.refunded_total.amount_minor,
                    "refunded_at": refunded.refunded_at,
                }),
            ));
        }
        if let Some(ShipmentEvent::ShipmentDispatched(dispatched)) = decode::<ShipmentEvent>(event)?
        {
            let shipment = facts.shipment.as_ref().ok_or_else(|| {
                Unmappable::Unreadable(format!("no shipment {}", event.stream.aggregate_id))
            })?;
            let order_id = dispatched.order_id;
            return Ok(envelope(
                "order.dispatched",
                format!("/sales-orders/{order_id}/dispatches"),
                json!({
                    "order_id": order_id,
                    "shipment_id": shipment.shipment_id,
                    "carrier": shipment.carrier,
                    "tracking_number": shipment.tracking_number,
                    "lines": shipment.lines,
                    "dispatched_at": dispatched.dispatched_at,
                }),
            ));
        }
        Ok(None)
    }

    async fn send(&self, message: &HttpMessage, key: Uuid) -> Result<Answer, SendError> {
        self.partner.send(message, key).await
    }

    fn follow_up(event: &RecordedEvent, answer: &Answer) -> Result<Option<FollowUp>, String> {
        if event.event_type != "OrderPlaced" {
            return Ok(None);
        }
        let Some(number) = answer
            .json
            .as_ref()
            .and_then(|a| a.get("sales_order_number"))
        else {
            return Ok(None);
        };
        let number = number
            .as_str()
            .and_then(|n| ExternalRef::parse(n).ok())
            .ok_or_else(|| format!("the ERP's sales_order_number {number} is not usable"))?;
        let order_id = event
            .stream
            .aggregate_id
            .parse()
            .map_err(|_| format!("no order id in {}", event.stream))?;
        Ok(Some(FollowUp::Order {
            order_id,
            command: OrderCommand::RecordSalesOrder {
                sales_order_number: number,
            },
        }))
    }
}
