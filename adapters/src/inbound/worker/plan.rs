//! What a delivery asks of the back office, read from its body: pure, no IO. The worker then
//! finds the entity and turns the plan into commands against its current state.

use chrono::{DateTime, Utc};
use domain::{
    payment::{DisputeOutcome, PaymentCommand, PaymentState},
    shipment::{CarrierStatus, TrackingUpdate},
    Code, ExternalRef, Money, NonEmptyText,
};

use crate::inbound::payload::{
    crm::{self, Contact, CrmEventKind},
    easypost::{self, EasyPostEventKind, Tracker, TrackerStatus},
    erp::{self, ErpEventKind, Invoice, Product, StockLevel},
    stripe::{self, Charge, DisputeStatus, Metadata, PaymentIntent, RefundStatus, StripeEventKind},
    PayloadError,
};

/// What to do with one delivery.
#[derive(Debug, Clone)]
pub(crate) enum Plan {
    /// Nothing: a type the back office does not act on.
    Ignore(String),
    /// Commands to one payment, found through `PaymentLookup`.
    Payment(PaymentLookup, Box<PaymentAction>),
    /// Tracking updates to the shipment with this tracking number.
    Tracking(String, Vec<TrackingUpdate>),
    /// An invoice attached to its order.
    Invoice(Invoice),
    /// The ERP's catalog row of a product, at the ERP's time.
    Product(Product, DateTime<Utc>),
    /// The ERP's stock level of a product, at the ERP's time.
    Stock(StockLevel, DateTime<Utc>),
    /// The CRM's contact data of a customer, at the CRM's time.
    Contact(Contact, DateTime<Utc>),
}

/// How to find the payment a Stripe event is about, best first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PaymentLookup {
    /// Our payment id, from the metadata.
    pub payment_id: Option<String>,
    /// The payment intent (`pi_...`): our provider reference.
    pub provider_reference: Option<String>,
    /// The charge (`ch_...`): the capture id a payment recorded (disputes and refunds name it
    /// even when their payment intent is null).
    pub charge: Option<String>,
    /// Our order id, from the metadata.
    pub order_id: Option<String>,
}

impl PaymentLookup {
    fn new(metadata: &Metadata, payment_intent: Option<&str>) -> Self {
        Self {
            payment_id: metadata.payment_id().map(str::to_owned),
            provider_reference: payment_intent.map(str::to_owned),
            charge: None,
            order_id: metadata.order_id().map(str::to_owned),
        }
    }

    fn with_charge(mut self, charge: &str) -> Self {
        self.charge = Some(charge.to_owned());
        self
    }
}

/// What a Stripe event does to its payment.
#[derive(Debug, Clone)]
pub(crate) enum PaymentAction {
    Authorize(PaymentIntent),
    Capture(PaymentIntent),
    Fail(PaymentIntent),
    Void(PaymentIntent),
    Refund(Charge),
    Dispute(stripe::Dispute),
    CloseDispute(stripe::Dispute),
}

/// What a Stripe delivery asks (declared in `inbound::sources::SOURCES`).
pub(crate) fn stripe(body: &[u8]) -> Result<Plan, PayloadError> {
    stripe::parse(body).map(|event| stripe_plan(event.kind))
}

/// What an EasyPost delivery asks.
pub(crate) fn easypost(body: &[u8]) -> Result<Plan, PayloadError> {
    easypost::parse(body).map(|event| match event.kind {
        EasyPostEventKind::TrackerCreated(tracker) | EasyPostEventKind::TrackerUpdated(tracker) => {
            tracking_plan(&tracker)
        }
        EasyPostEventKind::Unknown { description } => Plan::Ignore(description),
    })
}

/// What an ERP delivery asks.
pub(crate) fn erp(body: &[u8]) -> Result<Plan, PayloadError> {
    erp::parse(body).map(|event| match event.kind {
        ErpEventKind::InvoiceIssued(invoice) => Plan::Invoice(invoice),
        ErpEventKind::ProductUpdated(product) => Plan::Product(product, event.timestamp),
        ErpEventKind::StockUpdated(stock) => Plan::Stock(stock, event.timestamp),
        ErpEventKind::Unknown { event_type } => Plan::Ignore(event_type),
    })
}

/// What a CRM delivery asks.
pub(crate) fn crm(body: &[u8]) -> Result<Plan, PayloadError> {
    crm::parse(body).map(|event| match event.kind {
        CrmEventKind::ContactUpdated(contact) => Plan::Contact(contact, event.timestamp),
        CrmEventKind::Unknown { event_type } => Plan::Ignore(event_type),
    })
}

fn stripe_plan(kind: StripeEventKind) -> Plan {
    use StripeEventKind as K;
    let intent = |pi: PaymentIntent, action: fn(PaymentIntent) -> PaymentAction| {
        Plan::Payment(
            PaymentLookup::new(&pi.metadata, Some(&pi.id)),
            Box::new(action(pi)),
        )
    };
    match kind {
        K::PaymentIntentAmountCapturableUpdated(pi) => intent(pi, PaymentAction::Authorize),
        K::PaymentIntentSucceeded(pi) => intent(pi, PaymentAction::Capture),
        K::PaymentIntentPaymentFailed(pi) => intent(pi, PaymentAction::Fail),
        K::PaymentIntentCanceled(pi) => intent(pi, PaymentAction::Void),
        K::ChargeRefunded(charge) => Plan::Payment(
            PaymentLookup::new(&charge.metadata, charge.payment_intent.as_deref())
                .with_charge(&charge.id),
            Box::new(PaymentAction::Refund(charge)),
        ),
        K::DisputeCreated(dispute) => Plan::Payment(
            PaymentLookup::new(&dispute.metadata, dispute.payment_intent.as_deref())
                .with_charge(&dispute.charge),
            Box::new(PaymentAction::Dispute(dispute)),
        ),
        K::DisputeClosed(dispute) => Plan::Payment(
            PaymentLookup::new(&dispute.metadata, dispute.payment_intent.as_deref())
                .with_charge(&dispute.charge),
            Box::new(PaymentAction::CloseDispute(dispute)),
        ),
        K::RefundUpdated(_)
        | K::DisputeUpdated(_)
        | K::DisputeFundsWithdrawn(_)
        | K::DisputeFundsReinstated(_) => Plan::Ignore("not acted on yet".to_owned()),
        K::Unknown { event_type } => Plan::Ignore(event_type),
    }
}

/// Why a provider value cannot become a command.
#[derive(Debug, thiserror::Error)]
#[error("{what} from the provider is not usable: {cause}")]
pub(crate) struct Unusable {
    what: &'static str,
    #[source]
    cause: domain::ValueError,
}

fn reference(what: &'static str, raw: &str) -> Result<ExternalRef, Unusable> {
    ExternalRef::parse(raw).map_err(|cause| Unusable { what, cause })
}

impl PaymentAction {
    /// The commands this action takes against the payment as it now stands. Amounts come from
    /// the provider's running totals, so a repeat or a late delivery adds nothing.
    pub(crate) fn commands(&self, state: &PaymentState) -> Result<Vec<PaymentCommand>, Unusable> {
        Ok(match self {
            Self::Authorize(pi) => {
                let amount = pi.amount_capturable.max(pi.amount);
                vec![PaymentCommand::RecordAuthorization {
                    provider_reference: reference("payment intent id", &pi.id)?,
                    amount: Money::new(amount, pi.currency),
                }]
            }
            Self::Capture(pi) => {
                let missing = pi.amount_received - state.captured.amount_minor;
                if missing <= 0 {
                    return Ok(vec![]);
                }
                let capture_id = pi.latest_charge.as_deref().unwrap_or(&pi.id);
                vec![PaymentCommand::CapturePayment {
                    capture_id: reference("charge id", capture_id)?,
                    amount: Money::new(missing, pi.currency),
                    provider_reference: Some(reference("payment intent id", &pi.id)?),
                }]
            }
            Self::Fail(pi) => {
                let error = pi.last_payment_error.as_ref();
                let code = error
                    .and_then(|e| e.decline_code.as_deref().or(e.code.as_deref()))
                    .and_then(|code| Code::parse(code).ok());
                let code = match code {
                    Some(code) => code,
                    None => Code::parse("payment_failed").map_err(|cause| Unusable {
                        what: "code",
                        cause,
                    })?,
                };
                let message = error
                    .and_then(|e| e.message.as_deref())
                    .and_then(|m| NonEmptyText::parse(m).ok());
                let message = match message {
                    Some(message) => message,
                    None => NonEmptyText::parse("the provider reported a failed payment").map_err(
                        |cause| Unusable {
                            what: "message",
                            cause,
                        },
                    )?,
                };
                vec![PaymentCommand::RecordFailure { code, message }]
            }
            Self::Void(pi) => {
                let reason = pi
                    .last_payment_error
                    .as_ref()
                    .and_then(|e| e.message.as_deref())
                    .unwrap_or("canceled at the provider");
                vec![PaymentCommand::VoidPayment {
                    reason: NonEmptyText::parse(reason).map_err(|cause| Unusable {
                        what: "reason",
                        cause,
                    })?,
                }]
            }
            Self::Refund(charge) => refunds(charge, state)?,
            Self::CloseDispute(dispute) => {
                let outcome = match dispute.status {
                    DisputeStatus::Won
                    | DisputeStatus::WarningClosed
                    | DisputeStatus::Prevented => DisputeOutcome::Won,
                    DisputeStatus::Lost => DisputeOutcome::Lost,
                    // Not decided yet (a close event always carries the decision).
                    _ => return Ok(vec![]),
                };
                vec![PaymentCommand::RecordDisputeClosed {
                    dispute_id: reference("dispute id", &dispute.id)?,
                    outcome,
                }]
            }
            Self::Dispute(dispute) => vec![PaymentCommand::RecordDispute {
                dispute_id: reference("dispute id", &dispute.id)?,
                amount: Money::new(dispute.amount, dispute.currency),
                reason: NonEmptyText::parse(&dispute.reason).map_err(|cause| Unusable {
                    what: "dispute reason",
                    cause,
                })?,
            }],
        })
    }
}

/// Each refund not yet recorded, within the running total `amount_refunded`: listed refunds by
/// their own id (`re_…`), naming the request of ours they answer (`metadata.refund_id`, which
/// the back office sends when it asks for a refund), and whatever the total says is still
/// missing under a synthetic id `{charge}:refunded:{total}` (Stripe often omits the list).
fn refunds(charge: &Charge, state: &PaymentState) -> Result<Vec<PaymentCommand>, Unusable> {
    let mut missing = charge.amount_refunded - state.refunded.amount_minor;
    let mut commands = Vec::new();
    for refund in &charge.refunds {
        if missing <= 0 {
            break;
        }
        if matches!(refund.status, RefundStatus::Failed | RefundStatus::Canceled) {
            continue;
        }
        let id = reference("refund id", &refund.id)?;
        let request = match refund.metadata.get("refund_id") {
            Some(ours) => Some(reference("metadata.refund_id", ours)?),
            None => None,
        };
        let recorded = state.refund_ids.contains(&id)
            || request
                .as_ref()
                .is_some_and(|r| state.refund_ids.contains(r));
        if recorded || refund.amount <= 0 || refund.amount > missing {
            continue;
        }
        missing -= refund.amount;
        commands.push(PaymentCommand::RefundPayment {
            refund_id: id,
            amount: Money::new(refund.amount, refund.currency),
            request,
        });
    }
    if missing > 0 {
        let id = format!("{}:refunded:{}", charge.id, charge.amount_refunded);
        commands.push(PaymentCommand::RefundPayment {
            refund_id: reference("charge id", &id)?,
            amount: Money::new(missing, charge.currency),
            request: None,
        });
    }
    Ok(commands)
}

/// Every scan of the tracker, oldest first, as tracking updates. A scan has no id of its own,
/// so its id is `{tracker}:{carrier time}:{status}`: the same scan in a later delivery is
/// recognised and recorded once.
fn tracking_plan(tracker: &Tracker) -> Plan {
    let mut details: Vec<_> = tracker.tracking_details.iter().collect();
    details.sort_by_key(|d| d.datetime);
    let updates = details
        .into_iter()
        .filter_map(|detail| {
            let id = format!(
                "{}:{}:{}",
                tracker.id,
                detail.datetime.to_rfc3339(),
                detail.status.as_str()
            );
            let location = detail.tracking_location.as_ref().and_then(|l| {
                let parts: Vec<&str> = [&l.city, &l.state, &l.zip, &l.country]
                    .into_iter()
                    .filter_map(|p| p.as_deref())
                    .filter(|p| !p.trim().is_empty())
                    .collect();
                NonEmptyText::parse(&parts.join(", ")).ok()
            });
            Some(TrackingUpdate {
                carrier_event_id: ExternalRef::parse(&id).ok()?,
                carrier_status: carrier_status(detail.status),
                occurred_at: detail.datetime,
                location,
                description: detail
                    .message
                    .as_deref()
                    .and_then(|m| NonEmptyText::parse(m).ok()),
            })
        })
        .collect();
    Plan::Tracking(tracker.tracking_code.clone(), updates)
}

/// EasyPost's statuses in the domain's words. A parcel waiting at a pickup point is on its last
/// mile; cancelled and error scans are recorded without moving the status.
pub(crate) fn carrier_status(status: TrackerStatus) -> CarrierStatus {
    match status {
        TrackerStatus::PreTransit => CarrierStatus::PreTransit,
        TrackerStatus::InTransit => CarrierStatus::InTransit,
        TrackerStatus::OutForDelivery | TrackerStatus::AvailableForPickup => {
            CarrierStatus::OutForDelivery
        }
        TrackerStatus::Delivered => CarrierStatus::Delivered,
        TrackerStatus::ReturnToSender => CarrierStatus::ReturnedToSender,
        TrackerStatus::Failure => CarrierStatus::DeliveryFailed,
        TrackerStatus::Cancelled | TrackerStatus::Error | TrackerStatus::Unknown => {
            CarrierStatus::Unknown
        }
    }
}
