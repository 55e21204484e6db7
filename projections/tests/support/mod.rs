//! What the read-model tests share: realistic histories, and running projections to the end.
#![allow(clippy::unwrap_used, dead_code)]

pub mod history;

use eventlog::{EventLog, SubscriptionOptions};
use projections::{ReadModel, ReadModelProjection};

/// The position of the last event appended, once readers of the whole log see it.
pub async fn appended(log: &EventLog) -> i64 {
    eventlog::testing::everything_visible(log).await
}

/// Runs `model`'s projection until it has applied everything appended so far (the stored
/// head, not only the visible one: an open transaction elsewhere may hold visibility back).
pub async fn project(log: &EventLog, model: ReadModel) -> i64 {
    let appended = appended(log).await;
    let reached = log
        .catch_up_projection(
            &ReadModelProjection::new(log.clone(), model),
            &SubscriptionOptions::default(),
        )
        .await
        .unwrap();
    assert!(reached >= appended);
    reached
}

/// Every read model projected to the end.
pub async fn project_all(log: &EventLog) {
    for model in ReadModel::ALL {
        project(log, model).await;
    }
}

/// A log with the read-model tables created.
pub async fn with_tables(log: EventLog) -> EventLog {
    projections::create_tables(&log).await.unwrap();
    log
}
