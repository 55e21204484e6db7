//! Subscribers of the log: one mechanism for process managers, projections and outbound
//! integrations. A named subscriber reads the whole log gap-free in batches from its
//! checkpoint, is woken by new appends (with a polling fallback for other processes' appends),
//! and holds a claim so that one process at a time runs it.

use std::{
    collections::HashSet,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{SecondsFormat, Utc};

use crate::{
    error::{Context, StorageError},
    EventLog, RecordedEvent,
};

/// What a subscriber's handler may fail with; the batch is retried after a pause.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// A named reader of the whole log.
pub trait Subscriber: Send + Sync {
    /// The name its checkpoint and claim go by.
    fn name(&self) -> &str;

    /// Handles a batch of events in position order. On success the checkpoint moves past the
    /// batch; on failure nothing moves and the batch comes again.
    fn handle(
        &self,
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

/// A subscriber's claim: on PostgreSQL an advisory lock held by a connection of its own
/// (closed, and so released, when the claim is dropped or its process dies); on SQLite, which
/// one process uses, a name in the log's registry.
#[derive(Debug)]
pub enum Claim {
    /// The connection holding the advisory lock.
    Postgres(sqlx::pool::PoolConnection<sqlx::Postgres>),
    /// The name, in its log's registry.
    Sqlite {
        /// The claimed name.
        name: String,
        /// The registry it is in.
        claims: Arc<Mutex<HashSet<String>>>,
    },
}

impl Drop for Claim {
    fn drop(&mut self) {
        match self {
            Self::Postgres(connection) => connection.close_on_drop(),
            Self::Sqlite { name, claims } => {
                if let Ok(mut claimed) = claims.lock() {
                    claimed.remove(name);
                }
            }
        }
    }
}

impl EventLog {
    /// Claims `name` if no one else holds it.
    pub async fn try_claim(&self, name: &str) -> Result<Option<Claim>, StorageError> {
        match self {
            EventLog::Postgres(pg) => {
                let mut connection = pg
                    .pool()
                    .acquire()
                    .await
                    .context("acquiring a claim connection")?;
                let locked: bool =
                    sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                        .bind(format!("subscription:{name}"))
                        .fetch_one(&mut *connection)
                        .await
                        .context("claiming a subscriber")?;
                // Unclaimed, the connection goes back to the pool holding nothing.
                Ok(locked.then_some(Claim::Postgres(connection)))
            }
            EventLog::Sqlite(lite) => {
                let claims = Arc::clone(lite.claims());
                let mut claimed = claims.lock().map_err(|_| StorageError::Closed)?;
                if !claimed.insert(name.to_owned()) {
                    return Ok(None);
                }
                drop(claimed);
                Ok(Some(Claim::Sqlite {
                    name: name.to_owned(),
                    claims,
                }))
            }
        }
    }

    /// The position subscriber `name` has handled up to (0: nothing yet).
    pub async fn checkpoint(&self, name: &str) -> Result<i64, StorageError> {
        let position: Option<i64> = match self {
            EventLog::Postgres(pg) => {
                sqlx::query_scalar("SELECT position FROM subscription_checkpoints WHERE name = $1")
                    .bind(name)
                    .fetch_optional(pg.pool())
                    .await
            }
            EventLog::Sqlite(lite) => {
                sqlx::query_scalar("SELECT position FROM subscription_checkpoints WHERE name = ?")
                    .bind(name)
                    .fetch_optional(lite.readers())
                    .await
            }
        }
        .context("reading a checkpoint")?;
        Ok(position.unwrap_or(0))
    }

    /// Records that subscriber `name` has handled everything up to `position`.
    pub async fn save_checkpoint(&self, name: &str, position: i64) -> Result<(), StorageError> {
        match self {
            EventLog::Postgres(pg) => sqlx::query(
                "INSERT INTO subscription_checkpoints (name, position) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = now()",
            )
            .bind(name)
            .bind(position)
            .execute(pg.pool())
            .await
            .map(|_| ()),
            EventLog::Sqlite(lite) => sqlx::query(
                "INSERT INTO subscription_checkpoints (name, position, updated_at) VALUES (?, ?, ?) \
                 ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at",
            )
            .bind(name)
            .bind(position)
            .bind(Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true))
            .execute(lite.writer())
            .await
            .map(|_| ()),
        }
        .context("saving a checkpoint")
    }

    /// Runs `subscriber` until everything visible now is handled; returns its checkpoint.
    /// Fails if another process holds its claim.
    pub async fn catch_up<S: Subscriber>(
        &self,
        subscriber: &S,
        options: &SubscriptionOptions,
    ) -> Result<i64, SubscriptionError> {
        let name = subscriber.name().to_owned();
        let _claim = self
            .try_claim(&name)
            .await?
            .ok_or(SubscriptionError::Claimed(name))?;
        self.handle_available(subscriber, options).await
    }

    /// Runs `subscriber` for as long as the returned future is polled: claims it (waiting while
    /// another process holds it), then handles new events as they come. A failing batch is
    /// logged and retried after `retry_after` until it succeeds; a database failure drops the
    /// claim (its connection may be gone, and the lock with it) and claims again.
    pub async fn run<S: Subscriber>(&self, subscriber: &S, options: &SubscriptionOptions) {
        let name = subscriber.name().to_owned();
        loop {
            let claim = match self.try_claim(&name).await {
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
                match self.handle_available(subscriber, options).await {
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

    async fn handle_available<S: Subscriber>(
        &self,
        subscriber: &S,
        options: &SubscriptionOptions,
    ) -> Result<i64, SubscriptionError> {
        let name = subscriber.name();
        let mut position = self.checkpoint(name).await?;
        loop {
            let batch = self.read_all(position, options.batch_size).await?;
            let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
                return Ok(position);
            };
            let (first, last) = (first.position, last.position);
            subscriber
                .handle(&batch)
                .await
                .map_err(|source| SubscriptionError::Handler {
                    name: name.to_owned(),
                    position: first,
                    source,
                })?;
            self.save_checkpoint(name, last).await?;
            position = last;
        }
    }
}
