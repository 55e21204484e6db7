//! Reconciliation with Stripe: after a pull has stored what the webhooks missed and the worker
//! has applied it, each payment intent the pulled events were about is read from Stripe's API
//! (`GET /v1/payment_intents/{id}?expand[]=latest_charge`) and its totals (`amount_received`,
//! the charge's `amount_refunded`) are given to the payment, which records a difference that
//! no request in flight explains (`PaymentMismatchFound`): the reconciliation process then
//! shows it to a person as an attention item (ADR 0013).

use std::{collections::BTreeMap, time::Duration};

use commands::{CommandError, CommandHandler, CommandMeta};
use domain::{
    payment::{Payment, PaymentCommand},
    Currency, Money, Rule as _,
};
use eventlog::{Metadata, StorageError};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

use super::{
    inbox::{DeliveryStatus, Inbox},
    payload::stripe,
    pull::without_url,
};
use crate::outbound::stripe::STRIPE_VERSION;

/// Who records what reconciliation finds.
pub const ACTOR: &str = "reconciliation:stripe";

/// How long reconciliation waits for the worker to apply what the pull stored.
const DRAIN: Duration = Duration::from_secs(30);

/// What reconciliation needs of the pull.
pub(crate) struct Reconcile<'a> {
    pub client: &'a reqwest::Client,
    pub base_url: &'a str,
    pub secret_key: &'a SecretString,
    pub inbox: &'a Inbox,
}

/// The payment intents pulled events were about, each with the payment an event named in its
/// metadata (`metadata.payment_id`), if one did.
pub(crate) type Intents = BTreeMap<String, Option<String>>;

/// Adds the payment intent a Stripe event is about, if any (the object itself, or the one a
/// charge, refund or dispute names), to `intents`.
pub(crate) fn gather(intents: &mut Intents, event: &Value) {
    let object = &event["data"]["object"];
    let id = match object["object"].as_str() {
        Some("payment_intent") => object["id"].as_str(),
        _ => object["payment_intent"].as_str(),
    };
    let Some(id) = id.filter(|id| id.starts_with("pi_")) else {
        return;
    };
    let named = object["metadata"]["payment_id"].as_str().map(str::to_owned);
    let entry = intents.entry(id.to_owned()).or_default();
    if entry.is_none() {
        *entry = named;
    }
}

impl Reconcile<'_> {
    /// Compares each of `intents` at Stripe with its payment here, once the inbox has applied
    /// Stripe's deliveries. Stripe failing stops it (the next pull goes on); a payment whose
    /// totals cannot be compared (another currency) is the run's error, and the others are
    /// still compared.
    pub(crate) async fn stripe(&self, intents: &Intents) -> Result<(), String> {
        if !self.drained().await.map_err(|e| e.to_string())? {
            return Err(format!(
                "reconciliation waited {} s for the inbox to apply Stripe's deliveries; it goes \
                 on at the next pull",
                DRAIN.as_secs()
            ));
        }
        let handler = CommandHandler::new(self.inbox.log().clone());
        let mut refused = None;
        for (intent, named) in intents {
            let payment = match named {
                Some(payment) => Some(payment.clone()),
                None => self.payment_of(intent).await.map_err(|e| e.to_string())?,
            };
            let Some(payment) = payment else {
                // A payment intent of no payment here (made outside the back office, say).
                continue;
            };
            let totals = self.totals(intent).await?;
            let meta = CommandMeta {
                metadata: Metadata {
                    actor: Some(ACTOR.to_owned()),
                    source: Some(ACTOR.to_owned()),
                    ..Metadata::default()
                },
                ..CommandMeta::default()
            };
            match handler.execute::<Payment>(&payment, totals, &meta).await {
                Ok(_) => {}
                // A payment id in Stripe's metadata that is not one of ours.
                Err(CommandError::Rejected(refusal)) if refusal.is_missing() => {}
                Err(error) => {
                    refused.get_or_insert(format!("reconciling payment {payment}: {error}"));
                }
            }
        }
        refused.map_or(Ok(()), Err)
    }

    /// Whether no Stripe delivery waits for the worker, within [`DRAIN`].
    async fn drained(&self) -> Result<bool, StorageError> {
        let deadline = tokio::time::Instant::now() + DRAIN;
        loop {
            let figures = self.inbox.figures().await?;
            let waiting = figures.iter().any(|f| {
                f.source == stripe::SOURCE.as_str() && f.status == DeliveryStatus::Pending.as_str()
            });
            if !waiting {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The payment whose provider reference is `intent` (as the payments read model has it).
    async fn payment_of(&self, intent: &str) -> Result<Option<String>, StorageError> {
        let sql = "SELECT payment_id FROM payments WHERE provider_reference = $1 LIMIT 1";
        eventlog::on_readers!(self.inbox.log(), |pool, _time| sqlx::query_scalar(sql)
            .bind(intent)
            .fetch_optional(pool)
            .await)
        .map_err(|source| StorageError::Database {
            context: "finding a payment by its payment intent",
            source,
        })
    }

    /// Stripe's totals of `intent`, as the command that gives them to its payment.
    async fn totals(&self, intent: &str) -> Result<PaymentCommand, String> {
        let response = self
            .client
            .get(format!("{}/v1/payment_intents/{intent}", self.base_url))
            .bearer_auth(self.secret_key.expose_secret())
            .header("Stripe-Version", STRIPE_VERSION)
            .query(&[("expand[]", "latest_charge")])
            .send()
            .await
            .map_err(|e| format!("reading payment intent {intent}: {}", without_url(&e)))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!(
                "reading payment intent {intent}: Stripe answered {status}"
            ));
        }
        let object: Value = response
            .json()
            .await
            .map_err(|e| format!("reading payment intent {intent}: {}", without_url(&e)))?;
        let currency = object["currency"]
            .as_str()
            .and_then(|c| Currency::parse(&c.to_ascii_uppercase()).ok())
            .ok_or_else(|| format!("payment intent {intent} has no currency"))?;
        let received = object["amount_received"].as_i64().unwrap_or(0);
        let refunded = object["latest_charge"]["amount_refunded"]
            .as_i64()
            .unwrap_or(0);
        Ok(PaymentCommand::RecordProviderTotals {
            captured: Money::new(received, currency),
            refunded: Money::new(refunded, currency),
        })
    }
}
