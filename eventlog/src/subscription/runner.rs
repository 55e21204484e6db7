//! Running a subscriber or projection: claim it, deliver batches from its checkpoint, take the
//! steps set aside when they are due, and keep checking that the claim still holds.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tracing::Instrument as _;

use super::{
    claim::{Claim, Standby},
    delivery::{Delivered, Delivery, Failure, InLanes, InTransaction},
    error_chain, Projection, Subscriber, SubscriptionError, SubscriptionOptions,
};
use crate::{error::StorageError, EventLog, RecordedEvent};

impl EventLog {
    /// Runs `subscriber` until everything visible now is handled, and takes the steps it set
    /// aside that are due; returns its checkpoint. Fails if another process holds its claim.
    pub async fn catch_up<S: Subscriber>(
        &self,
        subscriber: &S,
        options: &SubscriptionOptions,
    ) -> Result<i64, SubscriptionError> {
        let delivery = InLanes {
            subscriber,
            options,
        };
        self.catch_up_with(&delivery, options).await
    }

    /// Runs `projection` until everything visible now is applied; returns its checkpoint.
    pub async fn catch_up_projection<P: Projection>(
        &self,
        projection: &P,
        options: &SubscriptionOptions,
    ) -> Result<i64, SubscriptionError> {
        self.catch_up_with(&InTransaction(projection), options)
            .await
    }

    /// Runs `subscriber` for as long as the returned future is polled (see
    /// [`EventLog::run_projection`]); the steps it sets aside are taken again when due.
    pub async fn run<S: Subscriber>(&self, subscriber: &S, options: &SubscriptionOptions) {
        let delivery = InLanes {
            subscriber,
            options,
        };
        self.run_with(&delivery, options).await;
    }

    /// Runs `projection` for as long as the returned future is polled.
    pub async fn run_projection<P: Projection>(
        &self,
        projection: &P,
        options: &SubscriptionOptions,
    ) {
        self.run_with(&InTransaction(projection), options).await;
    }

    async fn catch_up_with<D: Delivery>(
        &self,
        delivery: &D,
        options: &SubscriptionOptions,
    ) -> Result<i64, SubscriptionError> {
        let name = delivery.name().to_owned();
        let mut claim = self
            .try_claim(&name)
            .await?
            .ok_or(SubscriptionError::Claimed(name.clone()))?;
        let delivered = async {
            let mut cursor = Cursor::at_checkpoint(self, &name).await?;
            let reached = self
                .deliver_available(delivery, options, &mut claim, &mut cursor)
                .await?;
            cursor.save(self, &name).await?;
            if reached.paused_until.is_some() {
                return Ok(cursor.delivered);
            }
            match delivery.retry_due(self).await {
                Ok(_) | Err(Failure::Paused(_)) => Ok(cursor.delivered),
                Err(failure) => Err(failed(&name, cursor.delivered, failure)),
            }
        }
        .await;
        // Released before returning, so that the caller's next catch-up finds it free (a
        // dropped connection's lock goes only when the server has noticed).
        claim.release().await;
        delivered
    }

    /// Claims the subscriber (waiting while another process holds it), then delivers new events
    /// as they come and takes the steps set aside when due. A failing batch marks the
    /// subscriber failed (its status names the position and error), and is tried again after
    /// `retry_after`: fixed, it resumes where it stopped, skipping nothing. A database failure,
    /// or a claim found lost (its connection gone, and the lock with it), drops the claim and
    /// claims again.
    async fn run_with<D: Delivery>(&self, delivery: &D, options: &SubscriptionOptions) {
        let name = delivery.name().to_owned();
        let mut standby = Standby::default();
        loop {
            let mut claim = match self.try_claim_from(&name, &mut standby).await {
                Ok(Some(claim)) => claim,
                Ok(None) => {
                    tokio::time::sleep(options.poll_interval).await;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(subscriber = %name, error = %error, "cannot claim; retrying");
                    tokio::time::sleep(options.retry_after).await;
                    continue;
                }
            };
            tracing::info!(subscriber = %name, "subscriber claimed");
            match self.run_claimed(delivery, options, &mut claim, &name).await {
                error @ (SubscriptionError::Storage(_) | SubscriptionError::ClaimLost(_)) => {
                    tracing::warn!(subscriber = %name, error = %error, "claiming again");
                }
                error => tracing::error!(subscriber = %name, error = %error, "claiming again"),
            }
            drop(claim);
            tokio::time::sleep(options.retry_after).await;
        }
    }

    /// Runs a claimed subscriber until its claim is lost or the database fails: rounds of
    /// delivery, each followed by a wait for new events.
    async fn run_claimed<D: Delivery>(
        &self,
        delivery: &D,
        options: &SubscriptionOptions,
        claim: &mut Claim,
        name: &str,
    ) -> SubscriptionError {
        let mut cursor = match Cursor::at_checkpoint(self, name).await {
            Ok(cursor) => cursor,
            Err(error) => return error.into(),
        };
        // Steps set aside are looked at after each round while there are some, else once a
        // poll interval (a person's retry from another process shows up by then).
        let mut retried_at: Option<tokio::time::Instant> = None;
        let mut set_aside = true;
        loop {
            // Registered before the round reads the log: an append during the round wakes the
            // next one at once.
            let mut woken = std::pin::pin!(self.appended().notified());
            let round = match self
                .deliver_available(delivery, options, claim, &mut cursor)
                .await
            {
                Ok(Reached {
                    paused_until: Some(until),
                }) => Ok(Some(until)),
                Ok(Reached { .. }) => {
                    let due = set_aside
                        || retried_at.is_none_or(|at| at.elapsed() >= options.poll_interval);
                    if due {
                        retried_at = Some(tokio::time::Instant::now());
                        match delivery.retry_due(self).await {
                            Ok(steps) => {
                                set_aside = steps > 0;
                                Ok(None)
                            }
                            Err(Failure::Paused(until)) => Ok(Some(until)),
                            Err(failure) => Err(failed(name, cursor.delivered, failure)),
                        }
                    } else {
                        Ok(None)
                    }
                }
                Err(error) => Err(error),
            };
            match round {
                Ok(None) => {
                    // A checkpoint left behind by batches passed over is saved once the log
                    // has been quiet for a moment.
                    if cursor.unsaved() {
                        let quiet = options.idle_checkpoint_after.min(options.poll_interval);
                        if tokio::time::timeout(quiet, woken.as_mut()).await.is_ok() {
                            continue;
                        }
                        if let Err(error) = cursor.save(self, name).await {
                            return error.into();
                        }
                    }
                    let _ = tokio::time::timeout(options.poll_interval, woken).await;
                }
                Ok(Some(until)) => {
                    // New events change nothing while paused: sleep through wake-ups.
                    let pause = (until - Utc::now()).to_std().unwrap_or_default();
                    tokio::time::sleep(pause).await;
                }
                Err(error @ (SubscriptionError::Storage(_) | SubscriptionError::ClaimLost(_))) => {
                    return error
                }
                Err(error) => {
                    tracing::error!(
                        subscriber = %name,
                        error = %error,
                        cause = ?std::error::Error::source(&error),
                        "subscriber batch failed; retrying"
                    );
                    tokio::time::sleep(options.retry_after).await;
                }
            }
        }
    }

    /// Delivers batches from the cursor until nothing more is visible, checking now and then
    /// that the claim still holds. A failing batch of several events is retried one event at a
    /// time: the events before the failing one are delivered, and the status names the failing
    /// event itself.
    async fn deliver_available<D: Delivery>(
        &self,
        delivery: &D,
        options: &SubscriptionOptions,
        claim: &mut Claim,
        cursor: &mut Cursor,
    ) -> Result<Reached, SubscriptionError> {
        let name = delivery.name();
        let sealed = delivery.reads_sealed();
        let mut one_by_one_until = 0;
        let mut next: Option<Prefetch> = None;
        loop {
            if cursor.claim_checked.elapsed() >= options.claim_check_every {
                if !claim.holds().await {
                    return Err(SubscriptionError::ClaimLost(name.to_owned()));
                }
                cursor.claim_checked = std::time::Instant::now();
            }
            let position = cursor.delivered;
            let size = if position < one_by_one_until {
                1
            } else {
                options.batch_size
            };
            let batch = match next.take() {
                Some(prefetch) => prefetch.take(self, position, size, sealed).await?,
                None => self.read_tail(position, size, sealed).await?,
            };
            let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                return Ok(Reached { paused_until: None });
            };
            let (first, last) = (first.position, last.position);
            // A short batch is everything visible now: what is appended next wakes the runner.
            let full = i64::try_from(batch.len()).unwrap_or(i64::MAX) >= size;
            // Read the next batch while this one is delivered: reading and writing overlap.
            next = full.then(|| Prefetch::start(self, last, size, sealed));
            let span = tracing::info_span!("batch", subscriber = name, first, last);
            let started = std::time::Instant::now();
            let delivered = delivery
                .deliver(self, &batch, cursor.saved, last)
                .instrument(span)
                .await;
            metrics::histogram!("backoffice_subscriber_batch_duration_seconds", "subscriber" => name.to_owned())
                .record(started.elapsed().as_secs_f64());
            match delivered {
                Ok(Delivered::Saved) => cursor.saved_at(last),
                Ok(Delivered::PassedOver) => {
                    cursor.delivered = last;
                    if cursor.saved_at.elapsed() >= options.checkpoint_every {
                        cursor.save(self, name).await?;
                    }
                }
                Err(Failure::Moved) => {
                    *cursor = Cursor::at_checkpoint(self, name).await?;
                    continue;
                }
                Err(Failure::Paused(until)) => {
                    *cursor = Cursor::at_checkpoint(self, name).await?;
                    return Ok(Reached {
                        paused_until: Some(until),
                    });
                }
                Err(Failure::Storage(error)) => return Err(error.into()),
                Err(Failure::Handler(_)) if batch.len() > 1 => {
                    tracing::warn!(
                        subscriber = name,
                        first,
                        last,
                        "batch failed; retrying it event by event"
                    );
                    one_by_one_until = last;
                    continue;
                }
                Err(Failure::Handler(source)) => {
                    self.record_failure(name, first, &error_chain(source.as_ref()))
                        .await?;
                    return Err(SubscriptionError::Handler {
                        name: name.to_owned(),
                        position: first,
                        source,
                    });
                }
            }
            if !full {
                return Ok(Reached { paused_until: None });
            }
        }
    }
}

/// Where a running subscriber is: how far it has delivered, how far its stored checkpoint
/// says (behind while the batches since were passed over), and when it last saved and last
/// checked its claim.
struct Cursor {
    delivered: i64,
    saved: i64,
    saved_at: std::time::Instant,
    claim_checked: std::time::Instant,
}

impl Cursor {
    async fn at_checkpoint(log: &EventLog, name: &str) -> Result<Self, StorageError> {
        let position = log.checkpoint(name).await?;
        let now = std::time::Instant::now();
        Ok(Self {
            delivered: position,
            saved: position,
            saved_at: now,
            claim_checked: now,
        })
    }

    fn unsaved(&self) -> bool {
        self.delivered > self.saved
    }

    fn saved_at(&mut self, position: i64) {
        self.delivered = position;
        self.saved = position;
        self.saved_at = std::time::Instant::now();
    }

    /// Saves the checkpoint at what was delivered, if it is behind.
    async fn save(&mut self, log: &EventLog, name: &str) -> Result<(), StorageError> {
        if self.unsaved() {
            log.save_checkpoint(name, self.delivered).await?;
            self.saved_at(self.delivered);
        }
        Ok(())
    }
}

fn failed(name: &str, position: i64, failure: Failure) -> SubscriptionError {
    match failure {
        Failure::Storage(error) => SubscriptionError::Storage(error),
        Failure::Handler(source) => SubscriptionError::Handler {
            name: name.to_owned(),
            position,
            source,
        },
        Failure::Moved | Failure::Paused(_) => SubscriptionError::Claimed(name.to_owned()),
    }
}

/// How a round of delivery ended: until when the subscriber pauses, if it must.
struct Reached {
    paused_until: Option<DateTime<Utc>>,
}

/// The read of the batch after `after`, running in the background; aborted if not taken.
struct Prefetch {
    after: i64,
    size: i64,
    sealed: bool,
    read: tokio::task::JoinHandle<Result<Arc<[RecordedEvent]>, StorageError>>,
}

impl Prefetch {
    fn start(log: &EventLog, after: i64, size: i64, sealed: bool) -> Self {
        let log = log.clone();
        Self {
            after,
            size,
            sealed,
            read: tokio::spawn(async move { log.read_tail(after, size, sealed).await }),
        }
    }

    /// The batch after `after` of `size` events: the prefetched one if it is that batch.
    async fn take(
        mut self,
        log: &EventLog,
        after: i64,
        size: i64,
        sealed: bool,
    ) -> Result<Arc<[RecordedEvent]>, StorageError> {
        if (self.after, self.size, self.sealed) == (after, size, sealed) {
            if let Ok(read) = (&mut self.read).await {
                return read;
            }
        }
        log.read_tail(after, size, sealed).await
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.read.abort();
    }
}
