//! The callers of the API tokens this process has seen, so that a request with a known token
//! costs no database round trip (issue 16; ADR 0014).
//!
//! Only on PostgreSQL and only while this process listens there for changes of tokens and
//! users: migration 0029's triggers notify `backoffice_credentials` in the commit of any update
//! or delete, and each notification empties this memory, so a revocation, a deactivation or a
//! role change holds from the next request. While the listening connection is down nothing is
//! remembered and every request asks the database. A lookup that began before a notification
//! is not remembered after it. On SQLite the lookup is a local read, and nothing is kept.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use crate::auth::Caller;

/// The channel migration 0029's triggers notify.
const CHANNEL: &str = "backoffice_credentials";

/// Callers by token id, while listening.
#[derive(Debug, Clone, Default)]
pub struct KnownCallers(Arc<Mutex<Known>>);

#[derive(Debug, Default)]
struct Known {
    listening: bool,
    /// Counts the times everything was forgotten: a lookup remembers its answer only if none
    /// came in between.
    forgotten: u64,
    /// Token id → the SHA-256 of its secret (hex) and its caller.
    callers: HashMap<String, (String, Caller)>,
}

/// Where a lookup started: what it may remember.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lookup(Option<u64>);

impl KnownCallers {
    /// The caller of token `token_id` whose secret hashes to `secret_sha256`, if known; else
    /// where a lookup starts.
    pub(crate) fn get(&self, token_id: &str) -> Result<(String, Caller), Lookup> {
        let known = self.lock();
        if !known.listening {
            return Err(Lookup(None));
        }
        known
            .callers
            .get(token_id)
            .cloned()
            .ok_or(Lookup(Some(known.forgotten)))
    }

    /// Whether the caller of token `token_id` is remembered now.
    pub fn remembers(&self, token_id: &str) -> bool {
        self.lock().callers.contains_key(token_id)
    }

    /// Remembers what lookup `from` found, unless something was forgotten since it started.
    pub(crate) fn remember(
        &self,
        from: Lookup,
        token_id: &str,
        secret_sha256: &str,
        caller: &Caller,
    ) {
        let mut known = self.lock();
        if known.listening && from.0 == Some(known.forgotten) {
            known.callers.insert(
                token_id.to_owned(),
                (secret_sha256.to_owned(), caller.clone()),
            );
        }
    }

    /// Listens for changes of tokens and users on `pool`'s database for as long as the
    /// returned future is polled, remembering callers only while it listens.
    pub async fn listen(self, pool: sqlx::PgPool) {
        loop {
            match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(mut listener) => match listener.listen(CHANNEL).await {
                    Ok(()) => {
                        self.set_listening(true);
                        // `Ok(None)`: the connection was lost, and notifications with it.
                        while let Ok(Some(_)) = listener.try_recv().await {
                            self.forget_all();
                        }
                        tracing::warn!("stopped listening for credential changes; reconnecting");
                    }
                    Err(error) => tracing::warn!(%error, "cannot listen for credential changes"),
                },
                Err(error) => {
                    tracing::warn!(%error, "cannot connect to listen for credential changes")
                }
            }
            self.set_listening(false);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    fn set_listening(&self, listening: bool) {
        let mut known = self.lock();
        known.listening = listening;
        known.callers.clear();
        known.forgotten += 1;
    }

    fn forget_all(&self) {
        let mut known = self.lock();
        known.callers.clear();
        known.forgotten += 1;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
