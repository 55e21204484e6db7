//! Group commit: concurrent appends that arrive while a write is under way share the next one.
//!
//! One statement and one commit serve a whole batch of appends, so concurrent commands share a
//! commit's fsync instead of queueing for one each. A lone caller pays no wait: a batch is
//! whatever is queued when a writer becomes free. If a batch fails as a whole (a storage error,
//! a race with another process on one stream), each of its appends is retried on its own so that
//! one bad append never fails the others.

use std::{collections::HashSet, future::Future, sync::Arc};

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::{
    error::{AppendError, StorageError},
    model::{Append, Appended},
    subscription::Tail,
};

/// The most appends one batch takes.
const MAX_APPENDS_PER_BATCH: usize = 256;
/// The most events one batch takes (a single large append still goes alone).
const MAX_EVENTS_PER_BATCH: usize = 4096;

/// How many scheduler turns a writer waits for more appends while they keep arriving.
const MAX_YIELDS: usize = 8;

/// A backend that can write a batch of appends in one transaction.
pub(crate) trait BatchWriter: Clone + Send + Sync + 'static {
    /// Writes all appends in one transaction; per append, its own outcome. An `Err` means the
    /// whole batch was rolled back.
    fn write_batch(
        &self,
        appends: &[Append],
    ) -> impl Future<Output = Result<Vec<Result<Appended, AppendError>>, AppendError>> + Send;
}

type Reply = oneshot::Sender<Result<Appended, AppendError>>;
type Queued = (Append, Reply);

/// The queue of appends waiting for a writer.
#[derive(Debug, Clone)]
pub(crate) struct GroupCommit {
    queue: mpsc::Sender<Queued>,
    /// Signalled after every written batch: subscribers wake on it.
    pub(crate) tail: Arc<Tail>,
}

impl GroupCommit {
    /// Starts `writers` writer tasks over `backend`.
    pub(crate) fn start<B: BatchWriter>(backend: B, writers: usize) -> Self {
        let (queue, receiver) = mpsc::channel::<Queued>(4 * MAX_APPENDS_PER_BATCH);
        let receiver = Arc::new(Mutex::new(receiver));
        let tail = Arc::new(Tail::default());
        for _ in 0..writers.max(1) {
            tokio::spawn(writer_loop(
                backend.clone(),
                Arc::clone(&receiver),
                Arc::clone(&tail),
            ));
        }
        Self { queue, tail }
    }

    /// Queues one append and waits for its outcome.
    pub(crate) async fn append(&self, append: Append) -> Result<Appended, AppendError> {
        let (reply, outcome) = oneshot::channel();
        self.queue
            .send((append, reply))
            .await
            .map_err(|_| StorageError::Closed)?;
        outcome.await.map_err(|_| StorageError::Closed)?
    }
}

async fn writer_loop<B: BatchWriter>(
    backend: B,
    receiver: Arc<Mutex<mpsc::Receiver<Queued>>>,
    tail: Arc<Tail>,
) {
    // An append naming a stream or key already in the batch waits for the next batch, so that
    // a batch decides each stream once (the backends rely on it).
    let mut carried: Option<Queued> = None;
    loop {
        let batch = match carried.take() {
            // Never wait for the queue while holding an append: another writer may be parked
            // on the queue, empty, for as long as no one appends.
            Some(first) => match receiver.try_lock() {
                Ok(mut receiver) => drain(first, &mut receiver, &mut carried),
                Err(_) => vec![first],
            },
            None => {
                let mut receiver = receiver.lock().await;
                let Some(first) = receiver.recv().await else {
                    return;
                };
                // The callers of the batch just written resubmit within microseconds: give
                // them a few scheduler turns to join this one, while the queue keeps growing.
                for _ in 0..MAX_YIELDS {
                    let queued = receiver.len();
                    tokio::task::yield_now().await;
                    if receiver.len() == queued {
                        break;
                    }
                }
                drain(first, &mut receiver, &mut carried)
            }
        };
        write(&backend, batch).await;
        tail.signal();
    }
}

/// A batch from `first` and whatever is queued, up to the limits; an append repeating a stream
/// or key of the batch is put in `carried` and ends the batch.
fn drain(
    first: Queued,
    receiver: &mut mpsc::Receiver<Queued>,
    carried: &mut Option<Queued>,
) -> Vec<Queued> {
    let mut events = first.0.events.len();
    let mut streams = HashSet::from([first.0.stream.clone()]);
    let mut keys: HashSet<String> = first.0.idempotency_key.iter().cloned().collect();
    let mut batch = vec![first];
    while batch.len() < MAX_APPENDS_PER_BATCH && events < MAX_EVENTS_PER_BATCH {
        let Ok(next) = receiver.try_recv() else { break };
        let repeats_key = next
            .0
            .idempotency_key
            .as_ref()
            .is_some_and(|k| keys.contains(k));
        if streams.contains(&next.0.stream) || repeats_key {
            *carried = Some(next);
            break;
        }
        events += next.0.events.len();
        streams.insert(next.0.stream.clone());
        keys.extend(next.0.idempotency_key.iter().cloned());
        batch.push(next);
    }
    batch
}

async fn write<B: BatchWriter>(backend: &B, batch: Vec<Queued>) {
    let (appends, replies): (Vec<Append>, Vec<Reply>) = batch.into_iter().unzip();
    metrics::histogram!("backoffice_group_commit_appends").record(appends.len() as f64);
    match backend.write_batch(&appends).await {
        Ok(outcomes) => {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                let _ = reply.send(outcome);
            }
        }
        Err(error) if appends.len() == 1 => {
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(error));
            }
        }
        // The server refused the batch and rolled it back (one append's race or bad event):
        // each append on its own, so that one bad append never fails the others.
        Err(error) if reported_by_server(&error) => {
            tracing::debug!(%error, size = appends.len(), "batch refused; retrying one by one");
            for (append, reply) in appends.into_iter().zip(replies) {
                let outcome = match backend.write_batch(std::slice::from_ref(&append)).await {
                    Ok(mut outcomes) => outcomes
                        .pop()
                        .unwrap_or(Err(AppendError::Invalid("the backend answered no outcome"))),
                    Err(error) => Err(error),
                };
                let _ = reply.send(outcome);
            }
        }
        // The database is unreachable or the connection broke: whether the batch committed is
        // unknown, and retrying one by one would only wait out each timeout in turn. Every
        // caller is told; a retry with the same idempotency key answers the first result.
        Err(error) => {
            tracing::warn!(%error, size = appends.len(), "batch failed");
            let mut replies = replies.into_iter();
            if let Some(first) = replies.next() {
                let _ = first.send(Err(error));
            }
            for reply in replies {
                let _ = reply.send(Err(AppendError::Storage(StorageError::BatchFailed)));
            }
        }
    }
}

/// Whether the server itself refused the statement (and so rolled it back).
fn reported_by_server(error: &AppendError) -> bool {
    matches!(
        error,
        AppendError::Storage(StorageError::Database {
            source: sqlx::Error::Database(_),
            ..
        }) | AppendError::Invalid(_)
    )
}
