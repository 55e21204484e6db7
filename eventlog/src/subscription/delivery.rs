//! How a batch reaches a subscriber and its checkpoint moves: a [`Subscriber`]'s a step per
//! event, in lanes ([`InLanes`]); a [`Projection`]'s in the checkpoint's transaction
//! ([`InTransaction`]). Either passes over a batch that does not concern it.

use std::{collections::HashSet, future::Future};

use chrono::{DateTime, Utc};
use tracing::Instrument as _;

use super::{
    error_chain,
    steps::{SetAsideStep, StepState},
    HandlerError, Projection, SetAside, StepError, Subscriber, SubscriptionOptions,
};
use crate::{backoff, error::StorageError, EventLog, RecordedEvent};

/// How a batch reaches a subscriber and its checkpoint moves.
pub(super) trait Delivery: Send + Sync {
    fn name(&self) -> &str;
    /// Whether it takes events as stored (see [`Projection::reads_sealed`]).
    fn reads_sealed(&self) -> bool {
        false
    }
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
pub(super) enum Delivered {
    /// Handled, and the checkpoint saved at its last event.
    Saved,
    /// Nothing in it concerned the subscriber: nothing was written, not even the checkpoint.
    PassedOver,
}

pub(super) enum Failure {
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
pub(super) struct InLanes<'a, S> {
    pub(super) subscriber: &'a S,
    pub(super) options: &'a SubscriptionOptions,
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
pub(super) struct InTransaction<'a, P>(pub(super) &'a P);

impl<P: Projection> Delivery for InTransaction<'_, P> {
    fn name(&self) -> &str {
        self.0.name()
    }

    fn reads_sealed(&self) -> bool {
        self.0.reads_sealed()
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
        // Rows and checkpoint are derived from the log and commit together: losing the last
        // commits in a crash only means applying them again (measured: docs/benchmarks.md).
        let mut tx = log.begin_derived().await?;
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
