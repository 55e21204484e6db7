//! Subscribers of the log: one mechanism for process managers, projections and outbound
//! integrations. A named subscriber reads the whole log gap-free in batches from its
//! checkpoint, is woken by new appends (with a polling fallback for other processes' appends),
//! and holds a claim so that one process at a time runs it. A batch is delivered one of two
//! ways: after handling (the handler's effects are idempotent, the checkpoint follows), or in
//! the checkpoint's own transaction (a projection's rows and checkpoint commit together).

mod checkpoint;
mod claim;

use std::{future::Future, time::Duration};

pub use checkpoint::SubscriberStatus;
pub use claim::Claim;
use claim::Standby;

use crate::{error::StorageError, EventLog, LogTransaction, RecordedEvent};

/// What a subscriber's handler may fail with; the batch is retried after a pause.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// A named reader of the whole log whose effects are idempotent (process managers, outbound
/// integrations): the checkpoint moves after the batch is handled, and a crash in between
/// hands the batch over again.
pub trait Subscriber: Send + Sync {
    /// The name its checkpoint and claim go by.
    fn name(&self) -> &str;

    /// Handles a batch of events in position order.
    fn handle(
        &self,
        events: &[RecordedEvent],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// A named reader of the whole log that writes its effects in the transaction that moves its
/// checkpoint (projections): each event takes effect exactly once.
pub trait Projection: Send + Sync {
    /// The name its checkpoint and claim go by.
    fn name(&self) -> &str;

    /// Applies a batch of events in position order within `tx`.
    fn apply(
        &self,
        tx: &mut LogTransaction,
        events: &[RecordedEvent],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send;
}

/// How a subscriber reads and waits.
#[derive(Debug, Clone)]
pub struct SubscriptionOptions {
    /// Events per batch.
    pub batch_size: i64,
    /// The longest wait for new events when no wake-up comes (appends of other processes).
    pub poll_interval: Duration,
    /// The pause before a failed batch is tried again.
    pub retry_after: Duration,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_interval: Duration::from_millis(500),
            retry_after: Duration::from_secs(1),
        }
    }
}

/// Why a subscriber stopped.
#[derive(Debug, thiserror::Error)]
pub enum SubscriptionError {
    /// Another process (or task) runs this subscriber now.
    #[error("subscriber {0} is claimed elsewhere")]
    Claimed(String),
    /// The handler failed on a batch.
    #[error("subscriber {name} failed at position {position}")]
    Handler {
        /// The subscriber.
        name: String,
        /// The first position of the failed batch.
        position: i64,
        /// The handler's error.
        #[source]
        source: HandlerError,
    },
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// How a batch reaches a subscriber and its checkpoint moves.
trait Delivery: Send + Sync {
    fn name(&self) -> &str;
    /// Delivers `batch`, read after checkpoint `from`, and moves the checkpoint to `last`.
    fn deliver(
        &self,
        log: &EventLog,
        batch: &[RecordedEvent],
        from: i64,
        last: i64,
    ) -> impl Future<Output = Result<(), Failure>> + Send;
}

enum Failure {
    Handler(HandlerError),
    Storage(StorageError),
    /// Someone else moved the checkpoint since the batch was read: read again from it.
    Moved,
}

impl From<StorageError> for Failure {
    fn from(error: StorageError) -> Self {
        Self::Storage(error)
    }
}

struct AfterHandling<'a, S>(&'a S);

impl<S: Subscriber> Delivery for AfterHandling<'_, S> {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn deliver(
        &self,
        log: &EventLog,
        batch: &[RecordedEvent],
        _from: i64,
        last: i64,
    ) -> Result<(), Failure> {
        self.0.handle(batch).await.map_err(Failure::Handler)?;
        log.save_checkpoint(self.0.name(), last).await?;
        Ok(())
    }
}

struct InTransaction<'a, P>(&'a P);

impl<P: Projection> Delivery for InTransaction<'_, P> {
    fn name(&self) -> &str {
        self.0.name()
    }

    async fn deliver(
        &self,
        log: &EventLog,
        batch: &[RecordedEvent],
        from: i64,
        last: i64,
    ) -> Result<(), Failure> {
        let mut tx = log.begin().await?;
        // Rows and checkpoint are derived from the log and commit together: losing the last
        // commits in a crash only means applying them again (measured: docs/benchmarks.md).
        tx.commit_without_waiting_for_disk().await?;
        if log.lock_checkpoint_in(&mut tx, self.0.name()).await? != from {
            tx.rollback().await?;
            return Err(Failure::Moved);
        }
        if let Err(error) = self.0.apply(&mut tx, batch).await {
            tx.rollback().await?;
            return Err(Failure::Handler(error));
        }
        log.save_checkpoint_in(&mut tx, self.0.name(), last).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl EventLog {
    /// Runs `subscriber` until everything visible now is handled; returns its checkpoint.
    /// Fails if another process holds its claim, or on the first failing batch.
    pub async fn catch_up<S: Subscriber>(
        &self,
        subscriber: &S,
        options: &SubscriptionOptions,
    ) -> Result<i64, SubscriptionError> {
        self.catch_up_with(&AfterHandling(subscriber), options)
            .await
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

    /// Runs `subscriber` for as long as the returned future is polled (see [`EventLog::run_with`]).
    pub async fn run<S: Subscriber>(&self, subscriber: &S, options: &SubscriptionOptions) {
        self.run_with(&AfterHandling(subscriber), options).await;
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
        let claim = self
            .try_claim(&name)
            .await?
            .ok_or(SubscriptionError::Claimed(name))?;
        let delivered = self.deliver_available(delivery, options).await;
        // Released before returning, so that the caller's next catch-up finds it free (a
        // dropped connection's lock goes only when the server has noticed).
        claim.release().await;
        delivered
    }

    /// Claims the subscriber (waiting while another process holds it), then delivers new events
    /// as they come. A failing batch marks the subscriber failed (its status names the position
    /// and error), and is tried again after `retry_after`: fixed, it resumes where it stopped,
    /// skipping nothing. A database failure drops the claim (its connection may be gone, and the
    /// lock with it) and claims again.
    async fn run_with<D: Delivery>(&self, delivery: &D, options: &SubscriptionOptions) {
        let name = delivery.name().to_owned();
        let mut standby = Standby::default();
        loop {
            let claim = match self.try_claim_from(&name, &mut standby).await {
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
            loop {
                let woken = self.appended().notified();
                match self.deliver_available(delivery, options).await {
                    Ok(_) => {
                        let _ = tokio::time::timeout(options.poll_interval, woken).await;
                    }
                    Err(SubscriptionError::Storage(error)) => {
                        tracing::warn!(subscriber = %name, error = %error, "database failed; claiming again");
                        break;
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
            drop(claim);
            tokio::time::sleep(options.retry_after).await;
        }
    }

    /// Delivers batches from the checkpoint until nothing more is visible; answers the
    /// checkpoint. A failing batch of several events is retried one event at a time: the events
    /// before the poison one are delivered, and the status names the poison event itself.
    async fn deliver_available<D: Delivery>(
        &self,
        delivery: &D,
        options: &SubscriptionOptions,
    ) -> Result<i64, SubscriptionError> {
        let name = delivery.name();
        let mut position = self.checkpoint(name).await?;
        let mut one_by_one_until = 0;
        let mut next: Option<Prefetch> = None;
        loop {
            let size = if position < one_by_one_until {
                1
            } else {
                options.batch_size
            };
            let batch = match next.take() {
                Some(prefetch) => prefetch.take(self, position, size).await?,
                None => self.read_all(position, size).await?,
            };
            let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                return Ok(position);
            };
            let (first, last) = (first.position, last.position);
            // Read the next batch while this one is delivered: reading and writing overlap.
            next = Some(Prefetch::start(self, last, size));
            match delivery.deliver(self, &batch, position, last).await {
                Ok(()) => position = last,
                Err(Failure::Moved) => position = self.checkpoint(name).await?,
                Err(Failure::Storage(error)) => return Err(error.into()),
                Err(Failure::Handler(_)) if batch.len() > 1 => {
                    tracing::warn!(
                        subscriber = name,
                        first,
                        last,
                        "batch failed; retrying it event by event"
                    );
                    one_by_one_until = last;
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
        }
    }
}

/// The read of the batch after `after`, running in the background; aborted if not taken.
struct Prefetch {
    after: i64,
    size: i64,
    read: tokio::task::JoinHandle<Result<Vec<RecordedEvent>, StorageError>>,
}

impl Prefetch {
    fn start(log: &EventLog, after: i64, size: i64) -> Self {
        let log = log.clone();
        Self {
            after,
            size,
            read: tokio::spawn(async move { log.read_all(after, size).await }),
        }
    }

    /// The batch after `after` of `size` events: the prefetched one if it is that batch.
    async fn take(
        mut self,
        log: &EventLog,
        after: i64,
        size: i64,
    ) -> Result<Vec<RecordedEvent>, StorageError> {
        if (self.after, self.size) == (after, size) {
            if let Ok(read) = (&mut self.read).await {
                return read;
            }
        }
        log.read_all(after, size).await
    }
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.read.abort();
    }
}

/// An error and its causes on one line (`outer: cause: root cause`), for a status or a
/// stored error a person reads.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}
