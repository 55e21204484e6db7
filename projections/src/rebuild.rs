//! Creating read-model tables, and rebuilding them without downtime: fresh shadow tables beside
//! the live ones, caught up with the log while the live ones keep serving, then swapped in by
//! one transaction that readers see as a whole or not at all (ADR 0006).

use std::hash::{DefaultHasher, Hash, Hasher};

use eventlog::{
    EventLog, LogTransaction, Projection, StorageError, SubscriptionError, SubscriptionOptions,
};

use crate::{
    model::{ReadModel, ReadModelProjection},
    read::rows,
    table::{execute, Backend, SHADOW},
};

/// Why a rebuild failed; the live tables are untouched by a failed rebuild.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// Another rebuild is running.
    #[error("another rebuild is running")]
    AlreadyRunning,
    /// Catching up the shadow tables failed (a poison event: its status names it).
    #[error(transparent)]
    CatchUp(#[from] SubscriptionError),
    /// Applying the last events within the swap failed.
    #[error("applying the last events during the swap failed: {0}")]
    Swap(eventlog::HandlerError),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Creates the live tables and indexes of every read model that are missing; existing ones are
/// left as they are.
pub async fn create_tables(log: &EventLog) -> Result<(), StorageError> {
    let backend = log.backend();
    let mut tx = log.begin().await?;
    for model in ReadModel::ALL {
        for table in model.tables() {
            execute(&mut tx, &table.create(backend, "", true)).await?;
            for index in table.create_indexes(true) {
                execute(&mut tx, &index).await?;
            }
        }
    }
    tx.commit().await
}

/// The live read-model tables missing from the database: a service role that may not create
/// them (ADR 0021) checks that the owner's `migrate` did.
pub async fn missing_tables(log: &EventLog) -> Result<Vec<String>, StorageError> {
    let exists = match log.backend() {
        Backend::Postgres => "SELECT to_regclass($1) IS NOT NULL",
        Backend::Sqlite => {
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = $1"
        }
    };
    let mut missing = Vec::new();
    for model in ReadModel::ALL {
        for table in model.tables() {
            let name = table.named("");
            let found: bool = eventlog::on_readers!(log, |pool, _time| sqlx::query_scalar(exists)
                .bind(&name)
                .fetch_one(pool)
                .await)
            .map_err(|source| StorageError::Database {
                context: "looking for read-model tables",
                source,
            })?;
            if !found {
                missing.push(name);
            }
        }
    }
    Ok(missing)
}

/// How a rebuild reads: batches of 25 000 events (some tens of MB). A stream's events then
/// mostly fall in one batch, so each row is written about once per batch it appears in rather
/// than once per event (measured: docs/benchmarks.md).
pub fn rebuild_options() -> SubscriptionOptions {
    SubscriptionOptions {
        batch_size: 25_000,
        ..SubscriptionOptions::default()
    }
}

/// Rebuilds `models` from the whole log, in one pass, into fresh tables, and swaps them all in
/// at once; answers the position the new tables reflect. The live projections may keep running
/// meanwhile: the swap holds their checkpoints, and they resume from the rebuilt position.
/// One rebuild runs at a time per database.
pub async fn rebuild(
    log: &EventLog,
    models: &[ReadModel],
    options: &SubscriptionOptions,
) -> Result<i64, RebuildError> {
    let _claim = log
        .try_claim("rebuild")
        .await?
        .ok_or(RebuildError::AlreadyRunning)?;
    let backend = log.backend();
    let shadow = ReadModelProjection::shadow(log.clone(), models);
    log.refresh_statistics().await?;

    let mut tx = log.begin().await?;
    for &model in models {
        drop_tables(&mut tx, model, SHADOW).await?;
        for table in model.tables() {
            execute(&mut tx, &table.create(backend, SHADOW, false)).await?;
        }
    }
    log.delete_checkpoint_in(&mut tx, shadow.name()).await?;
    tx.commit().await?;
    tracing::info!(rebuild = shadow.name(), "rebuild: shadow tables created");

    log.catch_up_projection(&shadow, options).await?;
    tracing::info!(rebuild = shadow.name(), "rebuild: caught up; swapping");
    swap(log, models, &shadow, options).await
}

/// In one transaction: holds the live checkpoints (the live projections wait), applies what
/// the shadow has not seen yet, replaces the live tables by the shadow ones, and hands the
/// shadow's position to the live checkpoints.
async fn swap(
    log: &EventLog,
    models: &[ReadModel],
    shadow: &ReadModelProjection,
    options: &SubscriptionOptions,
) -> Result<i64, RebuildError> {
    let backend = log.backend();
    let mut tx = log.begin().await?;
    // Always in the same order, so that two transactions never wait on each other.
    for model in ReadModel::ALL.into_iter().filter(|m| models.contains(m)) {
        log.lock_checkpoint_in(&mut tx, model.name()).await?;
    }
    let mut position = log.lock_checkpoint_in(&mut tx, shadow.name()).await?;
    loop {
        let batch = log.read_all(position, options.batch_size).await?;
        let Some(last) = batch.last().map(|e| e.position) else {
            break;
        };
        shadow
            .apply(&mut tx, &batch)
            .await
            .map_err(RebuildError::Swap)?;
        position = last;
    }
    for &model in models {
        drop_tables(&mut tx, model, "").await?;
        for table in model.tables() {
            let (live, rebuilt) = (table.name, table.named(SHADOW));
            execute(&mut tx, &format!("ALTER TABLE {rebuilt} RENAME TO {live}")).await?;
            if backend == Backend::Postgres {
                let rename =
                    format!("ALTER TABLE {live} RENAME CONSTRAINT {rebuilt}_pkey TO {live}_pkey");
                execute(&mut tx, &rename).await?;
            }
            for index in table.create_indexes(false) {
                execute(&mut tx, &index).await?;
            }
        }
        log.set_checkpoint_in(&mut tx, model.name(), position)
            .await?;
    }
    log.delete_checkpoint_in(&mut tx, shadow.name()).await?;
    tx.commit().await?;
    tracing::info!(rebuild = shadow.name(), position, "rebuild: swapped in");
    Ok(position)
}

async fn drop_tables(
    tx: &mut LogTransaction,
    model: ReadModel,
    suffix: &str,
) -> Result<(), StorageError> {
    for table in model.tables().iter().rev() {
        execute(tx, &format!("DROP TABLE IF EXISTS {}", table.named(suffix))).await?;
    }
    Ok(())
}

/// A digest of every row of `model`'s live tables, and their row counts: equal digests, equal
/// tables. For comparing a rebuild with an incrementally built read model.
pub async fn digest(log: &EventLog, model: ReadModel) -> Result<String, StorageError> {
    let backend = log.backend();
    let mut parts = Vec::new();
    for table in model.tables() {
        let dump: Vec<serde_json::Value> = rows(log, &table.dump(backend), &[]).await?;
        let mut hasher = DefaultHasher::new();
        for row in &dump {
            row.to_string().hash(&mut hasher);
        }
        parts.push(format!(
            "{}:{}:{:016x}",
            table.name,
            dump.len(),
            hasher.finish()
        ));
    }
    Ok(parts.join(" "))
}
