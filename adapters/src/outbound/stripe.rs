//! Refunds and voids executed at Stripe (docs/integrations/stripe.md, ADR 0013): what the back
//! office decides on a Stripe payment whose payment intent it knows is a request
//! (`PaymentRefundRequested`, `PaymentVoidRequested`); this destination asks Stripe for it
//! (form-encoded `POST /v1/refunds` or `POST /v1/payment_intents/{id}/cancel`, the secret key as
//! bearer, `Idempotency-Key` = the requesting event's id, `Stripe-Version` pinned) and records
//! Stripe's word: the refund under Stripe's id (`re_…`) or the void, or the refusal (a card
//! error, a charge already refunded, a payment intent captured meanwhile), which is also shown to
//! a person. Stripe answering 5xx or not at all is asked again with the same key, so Stripe does
//! it once.

use domain::{
    payment::{PaymentCommand, PaymentEvent},
    Code, ExternalRef, Money, NonEmptyText, PaymentId,
};
use eventlog::RecordedEvent;
use serde::Deserialize;
use uuid::Uuid;

use super::{
    config::StripeConfig,
    decode,
    http::{Credentials, HttpBody, HttpMessage, HttpPartner},
    Answer, Destination, Facts, FollowUp, Limits, Needs, SendError, SetupError, Unmappable,
};

/// The API version every request is pinned to: the shapes this module reads are this version's.
pub const STRIPE_VERSION: &str = "2024-06-20";

/// Stripe's API.
#[derive(Debug)]
pub struct Stripe {
    partner: HttpPartner,
}

const EVENT_TYPES: [&str; 3] = [
    "PaymentRefundRequested",
    "PaymentVoidRequested",
    "PaymentCaptureRequested",
];

impl Destination for Stripe {
    const NAME: &'static str = "stripe";
    const NEEDS: Needs = Needs {
        order: false,
        shipment: false,
        contact: false,
    };
    type Message = HttpMessage;
    type Config = StripeConfig;

    fn limits(config: &StripeConfig) -> &Limits {
        &config.limits
    }

    async fn connect(config: &StripeConfig) -> Result<Self, SetupError> {
        let credentials = Credentials::Bearer(config.secret_key.clone());
        let partner = HttpPartner::new(Self::NAME, &config.base_url, credentials, &config.limits)?
            .with_header("Stripe-Version", STRIPE_VERSION);
        Ok(Self { partner })
    }

    /// One lane per payment: its requests go in the order they were decided.
    fn lane(event: &RecordedEvent) -> Option<String> {
        (event.stream.aggregate_type == domain::payment::AGGREGATE_TYPE
            && EVENT_TYPES.contains(&event.event_type.as_str()))
        .then(|| event.stream.to_string())
    }

    fn message(
        &self,
        event: &RecordedEvent,
        _facts: &Facts,
    ) -> Result<Option<HttpMessage>, Unmappable> {
        let requested = match decode::<PaymentEvent>(event)? {
            Some(PaymentEvent::PaymentRefundRequested(requested)) => requested,
            Some(PaymentEvent::PaymentCaptureRequested(requested)) => {
                return Ok(Some(HttpMessage {
                    method: "POST",
                    path: format!(
                        "/v1/payment_intents/{}/capture",
                        requested.provider_reference
                    ),
                    body: HttpBody::Form(vec![
                        (
                            "amount_to_capture".to_owned(),
                            requested.amount.amount_minor.to_string(),
                        ),
                        (
                            "metadata[capture_id]".to_owned(),
                            requested.reference.to_string(),
                        ),
                    ]),
                }))
            }
            Some(PaymentEvent::PaymentVoidRequested(requested)) => {
                return Ok(Some(HttpMessage {
                    method: "POST",
                    path: format!(
                        "/v1/payment_intents/{}/cancel",
                        requested.provider_reference
                    ),
                    body: HttpBody::Form(vec![]),
                }))
            }
            _ => return Ok(None),
        };
        Ok(Some(HttpMessage {
            method: "POST",
            path: "/v1/refunds".to_owned(),
            body: HttpBody::Form(vec![
                (
                    "payment_intent".to_owned(),
                    requested.provider_reference.to_string(),
                ),
                (
                    "amount".to_owned(),
                    requested.amount.amount_minor.to_string(),
                ),
                // How a `charge.refunded` webhook about this refund names the request.
                (
                    "metadata[refund_id]".to_owned(),
                    requested.reference.to_string(),
                ),
                (
                    "metadata[payment_id]".to_owned(),
                    event.stream.aggregate_id.clone(),
                ),
                (
                    "metadata[order_id]".to_owned(),
                    requested.order_id.to_string(),
                ),
            ]),
        }))
    }

    async fn send(&self, message: &HttpMessage, key: Uuid) -> Result<Answer, SendError> {
        self.partner.send(message, key).await
    }

    /// Stripe's refund object: made (`succeeded`, or `pending` while the bank processes it)
    /// under its id, or `failed`/`canceled`; or its payment intent, `canceled` (or not).
    fn follow_up(event: &RecordedEvent, answer: &Answer) -> Result<Option<FollowUp>, String> {
        if let Some((payment_id, amount)) = capture_of(event) {
            return Ok(Some(FollowUp::Payment {
                payment_id,
                command: captured(answer, amount)?,
            }));
        }
        if let Some((payment_id, reason)) = void_of(event) {
            let status = answer
                .json
                .as_ref()
                .and_then(|intent| intent["status"].as_str())
                .ok_or_else(|| "Stripe's answer is not a payment intent".to_owned())?;
            let command = match status {
                "canceled" => PaymentCommand::VoidPayment { reason },
                other => PaymentCommand::RecordVoidFailed {
                    code: code("payment_intent_unexpected_state")?,
                    message: NonEmptyText::fitted(&format!("Stripe's payment intent is {other}")),
                },
            };
            return Ok(Some(FollowUp::Payment {
                payment_id,
                command,
            }));
        }
        let (payment_id, reference, amount) = request_of(event)?;
        let refund: Refund = answer
            .json
            .clone()
            .and_then(|json| serde_json::from_value(json).ok())
            .ok_or_else(|| "Stripe's answer is not a refund object".to_owned())?;
        let command = match refund.status.as_str() {
            "failed" | "canceled" => PaymentCommand::RecordRefundFailed {
                reference,
                code: code(refund.failure_reason.as_deref().unwrap_or(&refund.status))?,
                message: NonEmptyText::fitted(&format!(
                    "Stripe's refund {} {}",
                    refund.id, refund.status
                )),
            },
            _ => PaymentCommand::RefundPayment {
                refund_id: ExternalRef::parse(&refund.id)
                    .map_err(|e| format!("Stripe's refund id {:?}: {e}", refund.id))?,
                amount: Money::new(refund.amount, amount.currency),
                request: Some(reference),
            },
        };
        Ok(Some(FollowUp::Payment {
            payment_id,
            command,
        }))
    }

    /// A refund Stripe refused with an error of its own (400, 402, 404: a card error, a charge
    /// already refunded, no such payment intent) is recorded as failed: asking again with the
    /// same key would get the same answer.
    fn refused(event: &RecordedEvent, refusal: &SendError) -> Option<FollowUp> {
        let SendError::Rejected {
            status: Some(400 | 402 | 404),
            answer: Some(answer),
            ..
        } = refusal
        else {
            return None;
        };
        let error = serde_json::from_str::<ErrorBody>(answer).ok()?.error;
        let code = code(error.code.as_deref().unwrap_or(&error.kind)).ok()?;
        let message = NonEmptyText::fitted(
            error
                .message
                .as_deref()
                .unwrap_or("Stripe refused the request"),
        );
        if let Some((payment_id, _)) = void_of(event) {
            return Some(FollowUp::Payment {
                payment_id,
                command: PaymentCommand::RecordVoidFailed { code, message },
            });
        }
        if let Some((payment_id, _)) = capture_of(event) {
            return Some(FollowUp::Payment {
                payment_id,
                command: PaymentCommand::RecordCaptureFailed { code, message },
            });
        }
        let (payment_id, reference, _) = request_of(event).ok()?;
        Some(FollowUp::Payment {
            payment_id,
            command: PaymentCommand::RecordRefundFailed {
                reference,
                code,
                message,
            },
        })
    }
}

/// The payment, our reference and the amount of the refund `event` asked for.
fn request_of(event: &RecordedEvent) -> Result<(PaymentId, ExternalRef, Money), String> {
    match decode::<PaymentEvent>(event) {
        Ok(Some(PaymentEvent::PaymentRefundRequested(requested))) => {
            let payment_id = event
                .stream
                .aggregate_id
                .parse()
                .map_err(|_| format!("no payment id in {}", event.stream))?;
            Ok((payment_id, requested.reference, requested.amount))
        }
        _ => Err(format!("{} is not a refund request", event.event_type)),
    }
}

/// The payment and the reason of the void `event` asked for, if it asked for one.
fn void_of(event: &RecordedEvent) -> Option<(PaymentId, NonEmptyText)> {
    match decode::<PaymentEvent>(event) {
        Ok(Some(PaymentEvent::PaymentVoidRequested(requested))) => {
            Some((event.stream.aggregate_id.parse().ok()?, requested.reason))
        }
        _ => None,
    }
}

/// The payment and the amount of the capture `event` asked for, if it asked for one.
fn capture_of(event: &RecordedEvent) -> Option<(PaymentId, Money)> {
    match decode::<PaymentEvent>(event) {
        Ok(Some(PaymentEvent::PaymentCaptureRequested(requested))) => {
            Some((event.stream.aggregate_id.parse().ok()?, requested.amount))
        }
        _ => None,
    }
}

/// Stripe's payment intent after a capture, as what the payment records: `succeeded`, the
/// capture under its charge (`latest_charge`, the id its `payment_intent.succeeded` webhook
/// names too, so whichever comes second changes nothing) for `amount_received`; in any other
/// status, the capture failed.
fn captured(answer: &Answer, asked: Money) -> Result<PaymentCommand, String> {
    let intent = answer
        .json
        .as_ref()
        .filter(|intent| intent["object"] == "payment_intent")
        .ok_or_else(|| "Stripe's answer is not a payment intent".to_owned())?;
    let status = intent["status"].as_str().unwrap_or("unknown");
    if status != "succeeded" {
        return Ok(PaymentCommand::RecordCaptureFailed {
            code: code("payment_intent_unexpected_state")?,
            message: NonEmptyText::fitted(&format!("Stripe's payment intent is {status}")),
        });
    }
    let id = intent["id"].as_str().unwrap_or_default();
    let charge = intent["latest_charge"].as_str().unwrap_or(id);
    let received = intent["amount_received"]
        .as_i64()
        .unwrap_or(asked.amount_minor);
    Ok(PaymentCommand::CapturePayment {
        capture_id: ExternalRef::parse(charge)
            .map_err(|e| format!("Stripe's charge id {charge:?}: {e}"))?,
        amount: Money::new(received, asked.currency),
        provider_reference: ExternalRef::parse(id).ok(),
    })
}

/// A Stripe code as ours (`card_declined`); one that does not fit is `stripe_error`.
fn code(text: &str) -> Result<Code, String> {
    Code::parse(text)
        .or_else(|_| Code::parse("stripe_error"))
        .map_err(|e| format!("Stripe's code {text:?}: {e}"))
}

/// What this module reads of Stripe's refund object.
#[derive(Debug, Deserialize)]
struct Refund {
    id: String,
    amount: i64,
    status: String,
    #[serde(default)]
    failure_reason: Option<String>,
}

/// Stripe's error answer.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: StripeError,
}

#[derive(Debug, Deserialize)]
struct StripeError {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}
