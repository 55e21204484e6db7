//! Running a subscriber or projection: claim it, deliver batches from its checkpoint, take the
//! steps set aside when they are due, and keep checking that the claim still holds.

use std::{collections::HashSet, future::Future, sync::Arc};

use chrono::{DateTime, Utc};
use tracing::Instrument as _;

use super::{
    claim::{Claim, Standby},
    error_chain,
    steps::{SetAsideStep, StepState},
    HandlerError, Projection, SetAside, StepError, Subscriber, SubscriptionError,
    SubscriptionOptions,
};
use crate::{backoff, error::StorageError, EventLog, RecordedEvent};

/// How a batch reaches a subscriber and its checkpoint moves.
trait Delivery: Send + Sync {
    fn name(&self) -> &str;
    /// Delivers `batch` (the stored checkpoint is `saved`, perhaps before the batch: batches
    /// passed over since are not saved yet) and moves the checkpoint to `last`, or answers
    /// [`Delivered::PassedOver`] when nothing in the batch concerns the subscriber.
    fn deliver(
        &self,
        log: &EventLog,
        batch: &[RecordedEvent],
        saved: i64,
        last: i64,
    ) -> impl Future<Output = Result<Delivered, Failure>> + Send;
    /// Takes the steps set aside that are due; answers how many were set aside before.
    fn retry_due(&self, log: &EventLog) -> impl Future<Output = Result<usize, Failure>> + Send;
}

/// What delivering a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Delivered {
    /// Handled, and the checkpoint saved at its last event.
    Saved,
    /// Nothing in it concerned the subscriber: nothing was written, not even the checkpoint.
    PassedOver,
}

enum Failure {
    Handler(HandlerError),
    Storage(StorageError),
    /// Someone else moved the checkpoint since the batch was read: read again from it.
    Moved,
    /// The subscriber cannot take any step until then ([`StepError::Unavailable`]); the
    /// checkpoint stays before the event it could not take.
    Paused(DateTime<Utc>),
}

impl From<StorageError> for Failure {
    fn from(error: StorageError) -> Self {
        Self::Storage(error)
    }
}

/// A subscriber's batch: a step per event, in lanes.
struct InLanes<'a, S> {
    subscriber: &'a S,
    options: &'a SubscriptionOptions,
}

impl<S: Subscriber> Delivery for InLanes<'_, S> {
    fn name(&self) -> &str {
        self.subscriber.name()
    }

    async fn deliver(
        &self,
        log: &EventLog,
        batch: &[RecordedEvent],
        saved: i64,
        last: i64,
    ) -> Result<Delivered, Failure> {
        let name = self.subscriber.name();
        let lanes: Vec<Option<String>> = batch.iter().map(|e| self.subscriber.lane(e)).collect();
        if lanes.iter().all(Option::is_none) {
            return Ok(Delivered::PassedOver);
        }
        let mut held: HashSet<String> = log.held_lanes(name).await?;
        for (event, lane) in batch.iter().zip(lanes) {
            let Some(lane) = lane else {
                continue;
            };
            if held.contains(&lane) {
                let now = Utc::now();
                log.put_step(name, event, &lane, StepState::Queued, now, None)
                    .await?;
                continue;
            }
            let outcome = self.step(event).await;
            match self.first_outcome(log, event, &lane, outcome).await {
                Ok(Some(state)) if state != StepState::Queued => {
                    held.insert(lane);
                }
                Ok(_) => {}
                Err(Failure::Paused(until)) => {
                    // The events before this one are done: after the pause, this one is first.
                    let done = event.position - 1;
                    if done > saved {
                        log.save_checkpoint(name, done).await?;
                    }
                    return Err(Failure::Paused(until));
                }
                Err(failure) => return Err(failure),
            }
        }
        log.save_checkpoint(name, last).await?;
        Ok(Delivered::Saved)
    }

    async fn retry_due(&self, log: &EventLog) -> Result<usize, Failure> {
        let name = self.subscriber.name();
        let steps = log.set_aside_steps(Some(name)).await?;
        let now = Utc::now();
        let mut blocked: Option<&str> = None;
        for step in &steps {
            // Steps come by lane, then position: one not taken holds back the rest of its lane.
            if blocked == Some(step.lane.as_str()) {
                continue;
            }
            let due = match step.state {
                StepState::Parked => false,
                StepState::Queued | StepState::Requested => true,
                StepState::Retrying | StepState::Waiting => step.next_attempt_at <= now,
            };
            if !due || !self.retry(log, step).await? {
                blocked = Some(step.lane.as_str());
            }
        }
        Ok(steps.len())
    }
}

impl<S: Subscriber> InLanes<'_, S> {
    /// The subscriber's step for `event`, in a span that continues the trace of whatever
    /// appended the event.
    async fn step(&self, event: &RecordedEvent) -> Result<(), StepError> {
        let span = tracing::info_span!(
            "step",
            subscriber = self.subscriber.name(),
            position = event.position,
            event_type = %event.event_type,
            correlation_id = event.metadata.correlation_id.as_deref().unwrap_or_default(),
        );
        crate::trace::continue_trace(&span, event.metadata.traceparent.as_deref());
        self.subscriber.handle(event).instrument(span).await
    }

    /// Records how the first attempt at `event`'s step ended; answers the state it was set
    /// aside in, if it was.
    async fn first_outcome(
        &self,
        log: &EventLog,
        event: &RecordedEvent,
        lane: &str,
        outcome: Result<(), StepError>,
    ) -> Result<Option<StepState>, Failure> {
        let name = self.subscriber.name();
        // A person is told before the step is set aside: if setting it aside fails, the batch
        // comes again and so does the telling, which is idempotent.
        match outcome {
            Ok(()) => Ok(None),
            Err(StepError::Unavailable { until, why }) => {
                tracing::info!(subscriber = name, position = event.position, %until, %why, "pausing");
                Err(Failure::Paused(until))
            }
            Err(StepError::Refused(refusals)) => {
                self.tell(event, SetAside::Refused(&refusals)).await?;
                Ok(None)
            }
            Err(StepError::Waiting(why)) => {
                self.tell(event, SetAside::Waiting(&why)).await?;
                let next = self.next_attempt(1);
                log.put_step(name, event, lane, StepState::Waiting, next, Some(&why))
                    .await?;
                Ok(Some(StepState::Waiting))
            }
            Err(StepError::Failed(error)) => {
                let error = error_chain(error.as_ref());
                let state = if self.options.max_attempts <= 1 {
                    self.tell(
                        event,
                        SetAside::Parked {
                            attempts: 1,
                            error: &error,
                        },
                    )
                    .await?;
                    StepState::Parked
                } else {
                    StepState::Retrying
                };
                log.put_step(name, event, lane, state, self.next_attempt(1), Some(&error))
                    .await?;
                Ok(Some(state))
            }
        }
    }

    /// Another attempt at a step set aside; answers whether it went through (or was refused,
    /// which ends it too).
    async fn retry(&self, log: &EventLog, step: &SetAsideStep) -> Result<bool, Failure> {
        let name = self.subscriber.name();
        let Some(event) = log.event_at(step.position).await? else {
            log.remove_step(name, step.position).await?;
            return Ok(true);
        };
        let attempts = step.attempts.saturating_add(1);
        match self.step(&event).await {
            Err(StepError::Unavailable { until, why }) => {
                tracing::info!(subscriber = name, position = step.position, %until, %why, "pausing");
                Err(Failure::Paused(until))
            }
            Ok(()) => {
                if step.state.is_visible() {
                    self.went_through(&event).await?;
                }
                log.remove_step(name, step.position).await?;
                Ok(true)
            }
            Err(StepError::Refused(refusals)) => {
                self.tell(&event, SetAside::Refused(&refusals)).await?;
                log.remove_step(name, step.position).await?;
                Ok(true)
            }
            Err(StepError::Waiting(why)) => {
                if step.state != StepState::Waiting {
                    self.tell(&event, SetAside::Waiting(&why)).await?;
                }
                let next = self.next_attempt(attempts);
                log.update_step(step, StepState::Waiting, attempts, next, Some(&why))
                    .await?;
                Ok(false)
            }
            Err(StepError::Failed(error)) => {
                let error = error_chain(error.as_ref());
                let parks =
                    step.state == StepState::Requested || attempts >= self.options.max_attempts;
                let (state, next) = if parks {
                    self.tell(
                        &event,
                        SetAside::Parked {
                            attempts,
                            error: &error,
                        },
                    )
                    .await?;
                    (StepState::Parked, Utc::now())
                } else {
                    (StepState::Retrying, self.next_attempt(attempts))
                };
                log.update_step(step, state, attempts, next, Some(&error))
                    .await?;
                Ok(false)
            }
        }
    }

    fn next_attempt(&self, attempts: i32) -> chrono::DateTime<Utc> {
        let delay = backoff::delay(
            attempts,
            self.options.backoff_base,
            self.options.backoff_max,
        );
        Utc::now() + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::MAX)
    }

    async fn tell(&self, event: &RecordedEvent, why: SetAside<'_>) -> Result<(), Failure> {
        self.subscriber
            .set_aside(event, why)
            .await
            .map_err(Failure::Handler)
    }

    async fn went_through(&self, event: &RecordedEvent) -> Result<(), Failure> {
        self.subscriber
            .went_through(event)
            .await
            .map_err(Failure::Handler)
    }
}

/// A projection's batch: in the checkpoint's transaction.
struct InTransaction<'a, P>(&'a P);

impl<P: Projection> Delivery for InTransaction<'_, P> {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn deliver(
        &self,
        log: &EventLog,
        batch: &[RecordedEvent],
        saved: i64,
        last: i64,
    ) -> Result<Delivered, Failure> {
        if !batch.iter().any(|event| self.0.concerns(event)) {
            return Ok(Delivered::PassedOver);
        }
        let mut tx = log.begin().await?;
        // Rows and checkpoint are derived from the log and commit together: losing the last
        // commits in a crash only means applying them again (measured: docs/benchmarks.md).
        tx.commit_without_waiting_for_disk().await?;
        if log.lock_checkpoint_in(&mut tx, self.0.name()).await? != saved {
            tx.rollback().await?;
            return Err(Failure::Moved);
        }
        if let Err(error) = self.0.apply(&mut tx, batch).await {
            tx.rollback().await?;
            return Err(Failure::Handler(error));
        }
        log.save_checkpoint_in(&mut tx, self.0.name(), last).await?;
        tx.commit().await?;
        Ok(Delivered::Saved)
    }

    async fn retry_due(&self, _log: &EventLog) -> Result<usize, Failure> {
        Ok(0)
    }
}

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
                Some(prefetch) => prefetch.take(self, position, size).await?,
                None => self.read_tail(position, size).await?,
            };
            let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                return Ok(Reached { paused_until: None });
            };
            let (first, last) = (first.position, last.position);
            // A short batch is everything visible now: what is appended next wakes the runner.
            let full = i64::try_from(batch.len()).unwrap_or(i64::MAX) >= size;
            // Read the next batch while this one is delivered: reading and writing overlap.
            next = full.then(|| Prefetch::start(self, last, size));
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
    read: tokio::task::JoinHandle<Result<Arc<[RecordedEvent]>, StorageError>>,
}

impl Prefetch {
    fn start(log: &EventLog, after: i64, size: i64) -> Self {
        let log = log.clone();
        Self {
            after,
            size,
            read: tokio::spawn(async move { log.read_tail(after, size).await }),
        }
    }

    /// The batch after `after` of `size` events: the prefetched one if it is that batch.
    async fn take(
        mut self,
        log: &EventLog,
        after: i64,
        size: i64,
    ) -> Result<Arc<[RecordedEvent]>, StorageError> {
        if (self.after, self.size) == (after, size) {
            if let Ok(read) = (&mut self.read).await {
                return read;
            }
        }
        log.read_tail(after, size).await
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.read.abort();
    }
}
