//! Stripe events: `{"id": "evt_...", "type": "...", "created": <unix>, "data": {"object": ...}}`.
//!
//! Stripe retries for up to three days, may deliver out of order and more than once, and sends
//! `charge.refunded` for partial refunds too: the mapping must use running totals
//! (`amount_received`, `amount_refunded`), never add up deliveries.

use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::Value;

use super::{InboxKey, PayloadError, Source};

/// This source, by its name (declared once, in `inbound::sources::SOURCES`).
pub const SOURCE: Source = Source::new("stripe");

mod objects;

pub use objects::{
    Charge, ChargeStatus, Dispute, DisputeStatus, Metadata, PaymentError, PaymentIntent,
    PaymentIntentStatus, Refund, RefundStatus,
};

/// A Stripe event, with the object it carries read into the type its event type implies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StripeEvent {
    /// `evt_...`: the inbox key.
    pub id: String,
    /// Such as `payment_intent.succeeded`.
    pub event_type: String,
    /// When Stripe created the event (not when it was delivered).
    pub created: DateTime<Utc>,
    /// False for test-mode events.
    pub livemode: bool,
    /// What happened, with its object.
    pub kind: StripeEventKind,
}

/// The event types the back office acts on, each with its object; the rest are `Unknown`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "object", rename_all = "snake_case")]
pub enum StripeEventKind {
    /// `payment_intent.succeeded`: paid in full.
    PaymentIntentSucceeded(PaymentIntent),
    /// `payment_intent.payment_failed`: an attempt failed (`last_payment_error` says why).
    PaymentIntentPaymentFailed(PaymentIntent),
    /// `payment_intent.amount_capturable_updated`: authorised, awaiting capture.
    PaymentIntentAmountCapturableUpdated(PaymentIntent),
    /// `payment_intent.canceled`.
    PaymentIntentCanceled(PaymentIntent),
    /// `charge.refunded`: some or all of a charge was refunded (`amount_refunded` is the total).
    ChargeRefunded(Charge),
    /// `charge.refund.updated`, `refund.updated` or `refund.failed`: a refund changed status.
    RefundUpdated(Refund),
    /// `charge.dispute.created`.
    DisputeCreated(Dispute),
    /// `charge.dispute.updated`.
    DisputeUpdated(Dispute),
    /// `charge.dispute.closed`: won, lost or a closed warning.
    DisputeClosed(Dispute),
    /// `charge.dispute.funds_withdrawn`: the disputed amount left our balance.
    DisputeFundsWithdrawn(Dispute),
    /// `charge.dispute.funds_reinstated`: it came back.
    DisputeFundsReinstated(Dispute),
    /// Any other type: stored, acknowledged and ignored.
    Unknown {
        /// The type as Stripe sent it.
        event_type: String,
    },
}

#[derive(Deserialize)]
struct Head {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
}

#[derive(Deserialize)]
struct Envelope {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(with = "chrono::serde::ts_seconds")]
    created: DateTime<Utc>,
    #[serde(default)]
    livemode: bool,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    object: Value,
}

/// The inbox key of a Stripe delivery: `evt_...` and the event type.
pub fn inbox_key(body: &[u8]) -> Result<InboxKey, PayloadError> {
    let head: Head = serde_json::from_slice(body).map_err(envelope_error)?;
    super::inbox_key(SOURCE, &head.id, head.event_type)
}

/// Reads a whole Stripe event.
pub fn parse(body: &[u8]) -> Result<StripeEvent, PayloadError> {
    let envelope: Envelope = serde_json::from_slice(body).map_err(envelope_error)?;
    let event_type = envelope.event_type;
    let object = envelope.data.object;
    let kind = match event_type.as_str() {
        "payment_intent.succeeded" => {
            StripeEventKind::PaymentIntentSucceeded(read(&event_type, object)?)
        }
        "payment_intent.payment_failed" => {
            StripeEventKind::PaymentIntentPaymentFailed(read(&event_type, object)?)
        }
        "payment_intent.amount_capturable_updated" => {
            StripeEventKind::PaymentIntentAmountCapturableUpdated(read(&event_type, object)?)
        }
        "payment_intent.canceled" => {
            StripeEventKind::PaymentIntentCanceled(read(&event_type, object)?)
        }
        "charge.refunded" => StripeEventKind::ChargeRefunded(read(&event_type, object)?),
        "charge.refund.updated" | "refund.updated" | "refund.failed" => {
            StripeEventKind::RefundUpdated(read(&event_type, object)?)
        }
        "charge.dispute.created" => StripeEventKind::DisputeCreated(read(&event_type, object)?),
        "charge.dispute.updated" => StripeEventKind::DisputeUpdated(read(&event_type, object)?),
        "charge.dispute.closed" => StripeEventKind::DisputeClosed(read(&event_type, object)?),
        "charge.dispute.funds_withdrawn" => {
            StripeEventKind::DisputeFundsWithdrawn(read(&event_type, object)?)
        }
        "charge.dispute.funds_reinstated" => {
            StripeEventKind::DisputeFundsReinstated(read(&event_type, object)?)
        }
        _ => StripeEventKind::Unknown {
            event_type: event_type.clone(),
        },
    };
    Ok(StripeEvent {
        id: envelope.id,
        event_type,
        created: envelope.created,
        livemode: envelope.livemode,
        kind,
    })
}

fn read<T: DeserializeOwned>(event_type: &str, object: Value) -> Result<T, PayloadError> {
    serde_json::from_value(object).map_err(|cause| PayloadError::Data {
        source_name: SOURCE,
        event_type: event_type.to_owned(),
        cause,
    })
}

fn envelope_error(cause: serde_json::Error) -> PayloadError {
    PayloadError::Envelope {
        source_name: SOURCE,
        cause,
    }
}
