//! Read-your-writes: a command answers with the position of its last event; a read waits,
//! bounded, until the projection it reads has reached that position.

use std::time::Duration;

use eventlog::{EventLog, StorageError};

/// Why a read could not wait for its write.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The projection did not reach the position within the bound.
    #[error("projection {projection} has not reached position {position} (at {reached}) after {waited:?}")]
    Timeout {
        /// The projection.
        projection: String,
        /// The position waited for.
        position: i64,
        /// Where it was when the wait ended.
        reached: i64,
        /// How long it waited.
        waited: Duration,
    },
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Waits until `projection` has applied `position`, or fails after `timeout`: never answers
/// with data older than the position silently.
pub async fn wait_for(
    log: &EventLog,
    projection: &str,
    position: i64,
    timeout: Duration,
) -> Result<(), WaitError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        let reached = log.checkpoint(projection).await?;
        if reached >= position {
            return Ok(());
        }
        if tokio::time::Instant::now() + pause > deadline {
            return Err(WaitError::Timeout {
                projection: projection.to_owned(),
                position,
                reached,
                waited: timeout,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}
