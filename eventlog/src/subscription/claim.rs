//! A subscriber's claim: one process at a time runs a given subscriber.

use std::{fs::File, path::PathBuf};

use sqlx::Connection as _;

use crate::{
    error::{Context, StorageError},
    EventLog, PgLog,
};

/// A held claim: on PostgreSQL an advisory lock held by a connection of its own (closed, and so
/// released, when the claim is dropped or its process dies); on SQLite an exclusive lock on a
/// file beside the database (released likewise), so that two processes on one database file
/// (`serve` and a `projections rebuild`) exclude each other too.
#[derive(Debug)]
pub enum Claim {
    /// The connection holding the advisory lock (its own, not the pool's).
    Postgres(sqlx::PgConnection),
    /// The locked file.
    Sqlite(File),
}

impl Claim {
    /// Whether the claim still holds. On PostgreSQL the lock lives as long as its connection:
    /// a connection that no longer answers (the server ended it, the network dropped it) has
    /// lost the lock, and another process may hold it already. A file lock cannot be lost.
    pub async fn holds(&mut self) -> bool {
        match self {
            Self::Postgres(connection) => connection.ping().await.is_ok(),
            Self::Sqlite(_) => true,
        }
    }

    /// Gives the claim up now: on PostgreSQL the connection unlocks and closes, rather than
    /// the server releasing the lock whenever it notices the connection dropped.
    pub async fn release(mut self) {
        if let Self::Postgres(connection) = &mut self {
            let _ = sqlx::query("SELECT pg_advisory_unlock_all()")
                .execute(&mut *connection)
                .await;
        }
    }
}

/// Where a subscriber waiting for its claim keeps, on PostgreSQL, the connection it asks on, so
/// that a standby process asks again on one connection instead of opening one per attempt.
#[derive(Debug, Default)]
pub(crate) struct Standby(Option<sqlx::PgConnection>);

impl EventLog {
    /// Claims `name` if no one else holds it.
    pub async fn try_claim(&self, name: &str) -> Result<Option<Claim>, StorageError> {
        self.try_claim_from(name, &mut Standby::default()).await
    }

    /// Claims `name` if no one else holds it, asking on `standby`'s connection if it has one,
    /// and leaving the connection there if the claim is held elsewhere.
    pub(crate) async fn try_claim_from(
        &self,
        name: &str,
        standby: &mut Standby,
    ) -> Result<Option<Claim>, StorageError> {
        match self {
            EventLog::Postgres(pg) => {
                let lock = format!("subscription:{name}");
                // A kept connection the server has closed meanwhile (an idle time-out) is
                // replaced at once by a new one.
                let asked = match standby.0.take() {
                    Some(kept) => match try_lock(kept, &lock).await {
                        Ok(asked) => asked,
                        Err(_) => try_lock(own_connection(pg).await?, &lock).await?,
                    },
                    None => try_lock(own_connection(pg).await?, &lock).await?,
                };
                match asked {
                    (connection, true) => Ok(Some(Claim::Postgres(connection))),
                    (connection, false) => {
                        standby.0 = Some(connection);
                        Ok(None)
                    }
                }
            }
            EventLog::Sqlite(lite) => {
                let path = claim_file(lite.path(), name);
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| claim_error(e, "opening a claim file"))?;
                match file.try_lock() {
                    Ok(()) => Ok(Some(Claim::Sqlite(file))),
                    Err(std::fs::TryLockError::WouldBlock) => Ok(None),
                    Err(std::fs::TryLockError::Error(e)) => {
                        Err(claim_error(e, "locking a claim file"))
                    }
                }
            }
        }
    }
}

/// The lock file of claim `name` on the SQLite database at `database`: in a folder beside it,
/// named after the claim (characters a file name should not hold become `_`).
fn claim_file(database: &std::path::Path, name: &str) -> PathBuf {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut folder = database.as_os_str().to_owned();
    folder.push(".claims");
    PathBuf::from(folder).join(format!("{safe}.lock"))
}

fn claim_error(error: std::io::Error, context: &'static str) -> StorageError {
    StorageError::Database {
        context,
        source: sqlx::Error::Io(error),
    }
}

/// Asks for the advisory lock `lock` on `connection`: the connection, and whether it holds it.
async fn try_lock(
    mut connection: sqlx::PgConnection,
    lock: &str,
) -> Result<(sqlx::PgConnection, bool), StorageError> {
    let locked = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(lock)
        .fetch_one(&mut connection)
        .await
        .context("claiming a subscriber")?;
    Ok((connection, locked))
}

/// A connection of the claim's own, not the pool's: the lock lives and dies with it.
async fn own_connection(pg: &PgLog) -> Result<sqlx::PgConnection, StorageError> {
    sqlx::PgConnection::connect_with(&pg.pool().connect_options())
        .await
        .context("opening a claim connection")
}
