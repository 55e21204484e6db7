//! The Stripe objects a payment event carries, cut down to what the back office acts on.
//! Amounts are integers in the currency's minor unit, as Stripe sends them.

use std::collections::BTreeMap;

use domain::{Currency, Money};
use serde::{Deserialize, Deserializer, Serialize};

use crate::inbound::payload::lenient_enum;

/// A payment intent: one attempt to collect an amount from a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIntent {
    /// `pi_...`.
    pub id: String,
    /// The amount asked for.
    pub amount: i64,
    /// Authorised and not yet captured.
    #[serde(default)]
    pub amount_capturable: i64,
    /// Captured so far.
    #[serde(default)]
    pub amount_received: i64,
    /// The currency of every amount here.
    #[serde(deserialize_with = "currency")]
    pub currency: Currency,
    /// Where the intent stands.
    pub status: PaymentIntentStatus,
    /// Our own keys, set when the intent was created (`payment_id`, `order_id`).
    #[serde(default)]
    pub metadata: Metadata,
    /// Why the last attempt failed, if it did.
    #[serde(default)]
    pub last_payment_error: Option<PaymentError>,
    /// The charge of the latest attempt (`ch_...`).
    #[serde(default)]
    pub latest_charge: Option<String>,
}

impl PaymentIntent {
    /// The amount captured so far, as money.
    pub fn received(&self) -> Money {
        Money::new(self.amount_received, self.currency)
    }
}

lenient_enum! {
    /// The status of a payment intent.
    pub enum PaymentIntentStatus {
        /// Needs a (new) payment method: never paid, or the last attempt failed.
        RequiresPaymentMethod = "requires_payment_method",
        /// Waiting for confirmation.
        RequiresConfirmation = "requires_confirmation",
        /// Waiting for the customer (3-D Secure and such).
        RequiresAction = "requires_action",
        /// Being processed.
        Processing = "processing",
        /// Authorised, to be captured.
        RequiresCapture = "requires_capture",
        /// Cancelled; nothing more will be captured.
        Canceled = "canceled",
        /// Paid.
        Succeeded = "succeeded",
    }
}

/// Why a payment attempt failed. Stripe leaves out whatever does not apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentError {
    /// The error's category, such as `card_error`.
    #[serde(rename = "type", default)]
    pub error_type: Option<String>,
    /// A machine code, such as `card_declined`.
    #[serde(default)]
    pub code: Option<String>,
    /// The issuer's reason, such as `insufficient_funds`.
    #[serde(default)]
    pub decline_code: Option<String>,
    /// A human message, fit to show the customer.
    #[serde(default)]
    pub message: Option<String>,
}

/// A charge: one movement of money on a payment method, with what was refunded from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// `ch_...`.
    pub id: String,
    /// The amount charged.
    pub amount: i64,
    /// Captured so far.
    #[serde(default)]
    pub amount_captured: i64,
    /// Refunded so far: the running total to rely on, since `refunds` may be absent.
    #[serde(default)]
    pub amount_refunded: i64,
    /// The currency of every amount here.
    #[serde(deserialize_with = "currency")]
    pub currency: Currency,
    /// Whether it was captured.
    #[serde(default)]
    pub captured: bool,
    /// Whether it was refunded in full.
    #[serde(default)]
    pub refunded: bool,
    /// Whether a dispute was opened.
    #[serde(default)]
    pub disputed: bool,
    /// `succeeded`, `pending` or `failed`.
    pub status: ChargeStatus,
    /// The payment intent it belongs to.
    #[serde(default)]
    pub payment_intent: Option<String>,
    /// Our own keys.
    #[serde(default)]
    pub metadata: Metadata,
    /// A machine code when the charge failed.
    #[serde(default)]
    pub failure_code: Option<String>,
    /// A human message when the charge failed.
    #[serde(default)]
    pub failure_message: Option<String>,
    /// The refunds Stripe listed. Since API version 2022-11-15 Stripe no longer includes this
    /// list unless expanded, so it is often empty even on `charge.refunded`.
    #[serde(default, deserialize_with = "refund_list")]
    pub refunds: Vec<Refund>,
}

lenient_enum! {
    /// The status of a charge.
    pub enum ChargeStatus {
        /// Money moved.
        Succeeded = "succeeded",
        /// Not final yet.
        Pending = "pending",
        /// Declined or errored.
        Failed = "failed",
    }
}

/// A refund of (part of) a charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// `re_...`.
    pub id: String,
    /// The amount refunded.
    pub amount: i64,
    /// Its currency.
    #[serde(deserialize_with = "currency")]
    pub currency: Currency,
    /// Where the refund stands.
    pub status: RefundStatus,
    /// The refunded charge.
    #[serde(default)]
    pub charge: Option<String>,
    /// The refunded payment intent.
    #[serde(default)]
    pub payment_intent: Option<String>,
    /// Why, such as `requested_by_customer`.
    #[serde(default)]
    pub reason: Option<String>,
    /// Our own keys (`refund_id` when we asked for it).
    #[serde(default)]
    pub metadata: Metadata,
}

lenient_enum! {
    /// The status of a refund.
    pub enum RefundStatus {
        /// Not final yet.
        Pending = "pending",
        /// The customer must act before it can go on.
        RequiresAction = "requires_action",
        /// Done.
        Succeeded = "succeeded",
        /// Could not be paid out.
        Failed = "failed",
        /// Cancelled before it was paid out.
        Canceled = "canceled",
    }
}

/// A dispute (chargeback) raised by the cardholder's bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispute {
    /// `dp_...`.
    pub id: String,
    /// The disputed amount.
    pub amount: i64,
    /// Its currency.
    #[serde(deserialize_with = "currency")]
    pub currency: Currency,
    /// The bank's reason, such as `fraudulent` or `product_not_received`.
    pub reason: String,
    /// Where the dispute stands.
    pub status: DisputeStatus,
    /// The disputed charge.
    pub charge: String,
    /// The disputed payment intent.
    #[serde(default)]
    pub payment_intent: Option<String>,
    /// Our own keys.
    #[serde(default)]
    pub metadata: Metadata,
}

lenient_enum! {
    /// The status of a dispute.
    pub enum DisputeStatus {
        /// An inquiry that needs evidence.
        WarningNeedsResponse = "warning_needs_response",
        /// An inquiry under review.
        WarningUnderReview = "warning_under_review",
        /// An inquiry closed without a chargeback.
        WarningClosed = "warning_closed",
        /// A chargeback that needs evidence.
        NeedsResponse = "needs_response",
        /// Evidence submitted.
        UnderReview = "under_review",
        /// Decided for us.
        Won = "won",
        /// Decided for the cardholder.
        Lost = "lost",
        /// Prevented before it became a dispute.
        Prevented = "prevented",
    }
}

/// Stripe metadata: string keys to string values (`null` reads as empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Metadata(pub BTreeMap<String, String>);

impl Metadata {
    /// The value under `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Our order id, set when the payment was created.
    pub fn order_id(&self) -> Option<&str> {
        self.get("order_id")
    }

    /// Our payment id, set when the payment was created.
    pub fn payment_id(&self) -> Option<&str> {
        self.get("payment_id")
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(Option::deserialize(d)?.unwrap_or_default()))
    }
}

/// Stripe writes currencies in lowercase (`usd`); ours are ISO 4217 uppercase.
fn currency<'de, D: Deserializer<'de>>(d: D) -> Result<Currency, D::Error> {
    let code = String::deserialize(d)?;
    Currency::parse(&code.to_ascii_uppercase()).map_err(serde::de::Error::custom)
}

/// A Stripe list (`{"object": "list", "data": [...]}`), absent or `null` read as empty.
fn refund_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Refund>, D::Error> {
    #[derive(Deserialize)]
    struct List {
        data: Vec<Refund>,
    }
    Ok(Option::<List>::deserialize(d)?.map_or_else(Vec::new, |list| list.data))
}
