//! The inbox worker: claims due deliveries, maps each to commands (or to a catalog or customer
//! row), and records how each attempt ended. Failures are retried after an exponential backoff
//! with jitter and dead-lettered after `max_failures`; deliveries that name no payment or
//! shipment yet are kept `unmatched` and re-checked with a growing delay, and rest as
//! `unmatched_expired` once older than `unmatched_max_age`.

use std::{sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use commands::CommandHandler;
use domain::{
    order::{Order, OrderCommand},
    payment::Payment,
    shipment::{Shipment, ShipmentCommand},
};
use eventlog::{backoff, error_chain, AppendError, EventLog, StorageError, StreamId};
use projections::{
    payments::{list_payments, PaymentFilter},
    shipments::{list_shipments, ShipmentFilter},
    QueryError,
};
use tokio::sync::Notify;
use tracing::Instrument as _;

use crate::inbound::{
    inbox::{Claimed, DeliveryStatus, Finish, Inbox},
    sources,
};

mod apply;
mod partners;
pub(crate) mod plan;

use apply::Commands;
use plan::{PaymentLookup, Plan};

/// How the worker paces itself. The defaults suit production; tests shorten the delays.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// Deliveries claimed per round trip.
    pub batch_size: i64,
    /// How long a claim keeps other workers off a delivery (longer than any one attempt).
    pub lease: Duration,
    /// How often an idle worker looks for due deliveries (a new delivery in this process wakes
    /// it at once).
    pub poll_interval: Duration,
    /// Failed attempts after which a delivery is dead-lettered.
    pub max_failures: i32,
    /// The first retry's delay; each further failure doubles it (then jitter).
    pub backoff_base: Duration,
    /// The longest delay between retries.
    pub backoff_max: Duration,
    /// The delay before an unmatched delivery's first recheck; it doubles per recheck (with
    /// jitter) up to `unmatched_recheck_max`.
    pub unmatched_recheck: Duration,
    /// The longest delay between rechecks of an unmatched delivery.
    pub unmatched_recheck_max: Duration,
    /// How long after it arrived an unmatched delivery is still rechecked.
    pub unmatched_max_age: Duration,
    /// This process's name, written into its claims, so that when it starts again it can
    /// release the claims it held when it stopped instead of waiting out their lease.
    pub process: String,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        Self {
            batch_size: 32,
            lease: Duration::from_secs(120),
            poll_interval: Duration::from_secs(1),
            max_failures: 8,
            backoff_base: Duration::from_secs(5),
            backoff_max: Duration::from_secs(3600),
            unmatched_recheck: Duration::from_secs(30),
            unmatched_recheck_max: Duration::from_secs(6 * 3600),
            unmatched_max_age: Duration::from_secs(7 * 24 * 3600),
            process: "backoffice".to_owned(),
        }
    }
}

/// Why an attempt could not finish (the database, not the delivery).
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An append failed.
    #[error("appending a delivery's events failed")]
    Append(#[from] AppendError),
    /// A read model could not be read.
    #[error("looking up the delivery's entity failed")]
    Query(#[from] QueryError),
    /// Other writers kept changing the stream.
    #[error("{stream} changed under the worker {attempts} times")]
    Contended {
        /// The stream.
        stream: StreamId,
        /// How often it was decided.
        attempts: usize,
    },
    /// A stored event cannot be read.
    #[error("event {sequence} of {stream} cannot be read")]
    Corrupt {
        /// The stream.
        stream: StreamId,
        /// Its version.
        sequence: i64,
    },
    /// Something the code does not expect.
    #[error("unexpected failure while {0}")]
    Unexpected(&'static str),
}

impl WorkerError {
    /// Whether the storage was unavailable (unreachable, full): no fault of the delivery.
    fn is_unavailable(&self) -> bool {
        match self {
            Self::Storage(error)
            | Self::Append(AppendError::Storage(error))
            | Self::Query(QueryError::Storage(error)) => error.is_unavailable(),
            _ => false,
        }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Applied, and the row marked done with it.
    Done,
    /// The claim ran out and another worker owns the row; nothing was written.
    LostClaim,
    /// A type not acted on.
    Ignored(String),
    /// The entity does not exist (yet).
    Unmatched(String),
    /// To retry after a backoff (or dead-letter).
    Failed(String),
    /// The storage was unavailable: to retry soon, not counted as a failure.
    StorageUnavailable(String),
}

/// Processes the inbox. Cheap to clone; run one per process (several are safe: claims skip
/// each other's rows).
#[derive(Debug, Clone)]
pub struct Worker {
    inbox: Inbox,
    handler: CommandHandler,
    options: WorkerOptions,
    wake: Arc<Notify>,
    /// Claims whose attempt could not be recorded (the storage failed): released as soon as
    /// the storage answers again, instead of waiting out their lease.
    unfinished: Arc<std::sync::Mutex<Vec<Claimed>>>,
}

impl Worker {
    /// A worker over the inbox beside `log`.
    pub fn new(log: EventLog, options: WorkerOptions) -> Self {
        Self {
            inbox: Inbox::new(log.clone()),
            handler: CommandHandler::new(log),
            options,
            unfinished: Arc::default(),
            wake: Arc::new(Notify::new()),
        }
    }

    /// Wakes up when `wake` is notified ([`crate::inbound::WebhookState::wake`]).
    pub fn woken_by(mut self, wake: Arc<Notify>) -> Self {
        self.wake = wake;
        self
    }

    /// Processes due deliveries forever, sleeping when there are none. Database failures are
    /// logged and retried at the next round.
    pub async fn run(&self) {
        loop {
            if let Err(error) = self.process_available().await {
                tracing::error!(error = %error, cause = ?std::error::Error::source(&error), "webhook worker round failed");
            }
            tokio::select! {
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.options.poll_interval) => {}
            }
        }
    }

    /// Processes every delivery due now, once each; answers how many it processed.
    pub async fn process_available(&self) -> Result<usize, WorkerError> {
        let started = Utc::now();
        self.release_unfinished(started).await?;
        let mut processed = 0;
        loop {
            let claimed = self
                .inbox
                .claim(
                    started,
                    self.options.lease,
                    self.options.batch_size,
                    &self.options.process,
                )
                .await?;
            if claimed.is_empty() {
                return Ok(processed);
            }
            for (i, delivery) in claimed.iter().enumerate() {
                if let Err(error) = self.process(delivery).await {
                    // The rest of the batch is claimed too: released with the first chance
                    // rather than left to wait out its lease.
                    self.lock_unfinished()
                        .extend(claimed[i + 1..].iter().cloned());
                    return Err(error);
                }
                processed += 1;
            }
        }
    }

    /// Releases the claims whose attempt could not be recorded, making them due now.
    async fn release_unfinished(&self, now: chrono::DateTime<Utc>) -> Result<(), WorkerError> {
        let unfinished = std::mem::take(&mut *self.lock_unfinished());
        for (i, claimed) in unfinished.iter().enumerate() {
            if let Err(error) = self.inbox.release(claimed, now).await {
                self.lock_unfinished()
                    .extend(unfinished[i..].iter().cloned());
                return Err(error.into());
            }
        }
        Ok(())
    }

    fn lock_unfinished(&self) -> std::sync::MutexGuard<'_, Vec<Claimed>> {
        self.unfinished
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// One attempt at one delivery, recorded on its row, in a span that continues the
    /// sender's trace.
    async fn process(&self, claimed: &Claimed) -> Result<(), WorkerError> {
        let span = tracing::info_span!(
            "webhook_delivery",
            source = %claimed.source,
            event_id = %claimed.event_id,
            attempt = claimed.attempts,
            correlation_id = %claimed.idempotency_key(),
        );
        eventlog::trace::continue_trace(&span, claimed.traceparent.as_deref());
        self.process_in_span(claimed).instrument(span).await
    }

    async fn process_in_span(&self, claimed: &Claimed) -> Result<(), WorkerError> {
        let outcome = match self.attempt(claimed).await {
            Ok(outcome) => outcome,
            // The storage unavailable (a restart, a full disk) is no fault of the delivery:
            // tried again soon, not counted towards dead-lettering.
            Err(error) if error.is_unavailable() => {
                Outcome::StorageUnavailable(error_chain(&error))
            }
            // Another storage failure of the attempt itself is a failure of the delivery too:
            // it is retried with backoff, and the error is on its row.
            Err(error) => Outcome::Failed(error_chain(&error)),
        };
        let now = Utc::now();
        let finish = match outcome {
            Outcome::StorageUnavailable(why) => Finish {
                status: DeliveryStatus::Pending,
                next_attempt_at: Some(later(now, self.options.poll_interval)),
                error: Some(why),
            },
            Outcome::Done => {
                processed(claimed, DeliveryStatus::Done);
                return Ok(());
            }
            Outcome::LostClaim => return Ok(()),
            Outcome::Ignored(what) => Finish {
                status: DeliveryStatus::Ignored,
                next_attempt_at: None,
                error: Some(format!("not acted on: {what}")),
            },
            Outcome::Unmatched(why)
                if later(claimed.received_at, self.options.unmatched_max_age) <= now =>
            {
                Finish {
                    status: DeliveryStatus::UnmatchedExpired,
                    next_attempt_at: None,
                    error: Some(format!("{why}; no longer rechecked")),
                }
            }
            Outcome::Unmatched(why) => {
                let delay = backoff::delay(
                    claimed.attempts,
                    self.options.unmatched_recheck,
                    self.options.unmatched_recheck_max,
                );
                Finish {
                    status: DeliveryStatus::Unmatched,
                    next_attempt_at: Some(later(now, delay)),
                    error: Some(why),
                }
            }
            Outcome::Failed(why) => {
                let failures = claimed.failures + 1;
                if failures >= self.options.max_failures {
                    tracing::warn!(error = %why, "webhook delivery dead-lettered");
                    Finish {
                        status: DeliveryStatus::Dead,
                        next_attempt_at: None,
                        error: Some(why),
                    }
                } else {
                    let delay = backoff::delay(
                        failures,
                        self.options.backoff_base,
                        self.options.backoff_max,
                    );
                    Finish {
                        status: DeliveryStatus::Failed,
                        next_attempt_at: Some(later(now, delay)),
                        error: Some(why),
                    }
                }
            }
        };
        if let Err(error) = self.inbox.finish(claimed, &finish, now).await {
            self.lock_unfinished().push(claimed.clone());
            return Err(error.into());
        }
        processed(claimed, finish.status);
        Ok(())
    }

    async fn attempt(&self, claimed: &Claimed) -> Result<Outcome, WorkerError> {
        let Some(source) = sources::spec(claimed.source) else {
            let why = format!("{} is not a webhook source of this build", claimed.source);
            return Ok(Outcome::Failed(why));
        };
        let plan = match (source.plan)(claimed.body.as_bytes()) {
            Ok(plan) => plan,
            Err(error) => return Ok(Outcome::Failed(error_chain(&error))),
        };
        match plan {
            Plan::Ignore(what) => Ok(Outcome::Ignored(what)),
            Plan::Payment(lookup, action) => {
                let Some(payment_id) = self.find_payment(&lookup).await? else {
                    return Ok(Outcome::Unmatched(format!("no payment matches {lookup:?}")));
                };
                self.apply::<Payment>(claimed, &payment_id, |state| match state {
                    None => Commands::NoSuchEntity,
                    Some(state) => match action.commands(state) {
                        Ok(commands) => Commands::Run(commands),
                        Err(unusable) => Commands::Unusable(unusable.to_string()),
                    },
                })
                .await
            }
            Plan::Tracking(tracking_code, updates) => {
                let filter = ShipmentFilter {
                    tracking_number: Some(tracking_code.clone()),
                    ..ShipmentFilter::default()
                };
                let page = list_shipments(self.inbox.log(), &filter, None, 1).await?;
                let Some(shipment) = page.items.first() else {
                    return Ok(Outcome::Unmatched(format!(
                        "no shipment has tracking number {tracking_code}"
                    )));
                };
                self.apply::<Shipment>(claimed, &shipment.shipment_id, |state| match state {
                    None => Commands::NoSuchEntity,
                    Some(_) => Commands::Run(
                        updates
                            .iter()
                            .cloned()
                            .map(ShipmentCommand::RecordTrackingUpdate)
                            .collect(),
                    ),
                })
                .await
            }
            Plan::Invoice(invoice) => {
                let order_id = invoice.order_id.to_string();
                self.apply::<Order>(claimed, &order_id, |state| match state {
                    None => Commands::NoSuchEntity,
                    Some(_) => Commands::Run(vec![OrderCommand::RecordInvoice {
                        invoice_number: invoice.invoice_number.clone(),
                        issued_at: invoice.issued_at,
                        total: invoice.total(),
                    }]),
                })
                .await
            }
            Plan::Product(..) | Plan::Stock(..) | Plan::Contact(..) => {
                self.sync_partner_row(claimed, &plan).await
            }
        }
    }

    /// The payment a Stripe event is about: by our payment id, then by the provider reference,
    /// then by the charge it captured, then the newest Stripe payment of our order that Stripe
    /// has not yet named: one without a reference, or whose reference we made ourselves (a
    /// capture recorded through the API without one implies an authorization named after
    /// itself; Stripe's own are `pi_…`).
    async fn find_payment(&self, lookup: &PaymentLookup) -> Result<Option<String>, WorkerError> {
        if let Some(payment_id) = &lookup.payment_id {
            return Ok(Some(payment_id.clone()));
        }
        let log = self.inbox.log();
        let by = |provider_reference: Option<&String>, charge_id: Option<&String>| PaymentFilter {
            provider_reference: provider_reference.cloned(),
            charge_id: charge_id.cloned(),
            ..PaymentFilter::default()
        };
        for filter in [
            lookup
                .provider_reference
                .as_ref()
                .map(|r| by(Some(r), None)),
            lookup.charge.as_ref().map(|c| by(None, Some(c))),
        ]
        .into_iter()
        .flatten()
        {
            if let Some(found) = list_payments(log, &filter, None, 1).await?.items.first() {
                return Ok(Some(found.payment_id.clone()));
            }
        }
        if let Some(order_id) = &lookup.order_id {
            let filter = PaymentFilter {
                order_id: Some(order_id.clone()),
                provider: Some("stripe".to_owned()),
                ..PaymentFilter::default()
            };
            let page = list_payments(log, &filter, None, 50).await?;
            let found = page.items.iter().find(|p| match &p.provider_reference {
                None => true,
                Some(reference) => {
                    !reference.starts_with("pi_")
                        || Some(reference) == lookup.provider_reference.as_ref()
                }
            });
            return Ok(found.map(|p| p.payment_id.clone()));
        }
        Ok(None)
    }
}

/// Counts an attempt at `claimed` that left it in `status`.
fn processed(claimed: &Claimed, status: DeliveryStatus) {
    metrics::counter!("backoffice_webhook_processed_total", "source" => claimed.source.as_str(), "status" => status.as_str())
        .increment(1);
}

fn later(now: DateTime<Utc>, delay: Duration) -> DateTime<Utc> {
    now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
}
