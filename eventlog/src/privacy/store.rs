//! The log's side of sealing: its vault, the subject keys as it stores them
//! (`subject_keys`), sealing the events of an append and texts as they are written, opening them
//! as they are read, forgetting a subject, and wrapping keys again after a master key's
//! rotation.

use std::collections::HashMap;

use aes_gcm::{
    aead::{KeyInit, OsRng},
    Aes256Gcm, Key,
};
use chrono::Utc;
use uuid::Uuid;

use super::{envelope, open_bytes, open_payload, seal_bytes, seal_payload, Vault, ERASED};
use crate::{
    error::StorageError, on_readers, on_tx, Append, Appended, EventLog, LogTransaction, NewEvent,
    RecordedEvent,
};

/// The prefix of a text sealed by [`EventLog::seal_text`].
const SEALED_TEXT: &str = "$sealed:";

/// The associated data of a sealed text: its key, and what the text is (a table's column and
/// row), so that it cannot be moved elsewhere.
fn text_associated_data(key_id: &str, context: &str) -> Vec<u8> {
    format!("{key_id}\0{context}").into_bytes()
}

/// A subject key row: its master key's id and the wrapped key, both absent once forgotten.
type KeyRow = (String, Option<String>, Option<String>);

impl EventLog {
    /// The vault of master keys sealing personal data, if configured.
    pub(crate) fn vault(&self) -> Option<&Vault> {
        match self {
            Self::Postgres(log) => log.vault.as_deref(),
            Self::Sqlite(log) => log.vault.as_deref(),
        }
    }
    /// This log, sealing the personal fields of the events it appends and opening them on
    /// every read with the master keys of `vault` (`privacy`, ADR 0028).
    pub fn with_vault(mut self, vault: Vault) -> Self {
        let vault = Some(std::sync::Arc::new(vault));
        match &mut self {
            Self::Postgres(log) => log.vault = vault,
            Self::Sqlite(log) => log.vault = vault,
        }
        self
    }
    /// Whether an event of `appends` has personal fields to seal (and this log a vault).
    pub(crate) fn seals_any(&self, appends: &[Append]) -> bool {
        self.vault().is_some()
            && appends
                .iter()
                .any(|append| append.events.iter().any(|event| event.personal.is_some()))
    }
    /// Seals the personal fields of `appends`' events, answering the payloads as given of
    /// those it sealed (to hand back with the append's answer); nothing when none has any.
    pub(crate) async fn seal_appends(
        &self,
        mut tx: Option<&mut LogTransaction>,
        appends: &mut [Append],
    ) -> Result<Option<Vec<Vec<serde_json::Value>>>, StorageError> {
        if !self.seals_any(appends) {
            return Ok(None);
        }
        let plain = appends
            .iter()
            .map(|append| append.events.iter().map(|e| e.payload.clone()).collect())
            .collect();
        for append in appends.iter_mut() {
            if let Err(error) = self
                .seal_personal(tx.as_deref_mut(), &mut append.events)
                .await
            {
                // A subject key that could not be stored (a full disk) is the append's write
                // failing: readiness says so, as for the append itself.
                match self {
                    EventLog::Postgres(log) => log.health.record_failure(&error),
                    EventLog::Sqlite(log) => log.health.record_failure(&error),
                }
                return Err(error);
            }
        }
        Ok(Some(plain))
    }

    /// Puts the payloads as given back into the answer of an append that sealed them; a
    /// replayed append's events are opened from what is stored.
    pub(crate) async fn give_back(
        &self,
        appended: &mut [Appended],
        plain: Option<Vec<Vec<serde_json::Value>>>,
    ) -> Result<(), StorageError> {
        let Some(plain) = plain else {
            return Ok(());
        };
        for (appended, payloads) in appended.iter_mut().zip(plain) {
            if appended.replayed {
                self.open_personal(&mut appended.events).await?;
            } else {
                for (event, payload) in appended.events.iter_mut().zip(payloads) {
                    event.payload = payload;
                }
            }
        }
        Ok(())
    }
    pub(crate) async fn opened(
        &self,
        event: Option<RecordedEvent>,
    ) -> Result<Option<RecordedEvent>, StorageError> {
        let mut events: Vec<RecordedEvent> = event.into_iter().collect();
        self.open_personal(&mut events).await?;
        Ok(events.pop())
    }

    /// Seals the personal fields of `events` (those naming [`Personal`] data) with their
    /// subjects' keys, creating a key for a subject that has none. Within `tx` on SQLite (its
    /// one writer); otherwise in a transaction of its own, committed before the events' append
    /// commits (a key without its event is harmless). Without a vault the fields stay as they
    /// are.
    pub(crate) async fn seal_personal(
        &self,
        mut tx: Option<&mut LogTransaction>,
        events: &mut [NewEvent],
    ) -> Result<(), StorageError> {
        let Some(vault) = self.vault() else {
            return Ok(());
        };
        let mut keys: HashMap<String, (String, Key<Aes256Gcm>)> = HashMap::new();
        for event in events.iter_mut() {
            let Some(personal) = event.personal.take() else {
                continue;
            };
            if !keys.contains_key(&personal.subject) {
                let key = self
                    .key_to_seal(vault, tx.as_deref_mut(), &personal.subject)
                    .await?;
                keys.insert(personal.subject.clone(), key);
            }
            if let Some((key_id, key)) = keys.get(&personal.subject) {
                seal_payload(&mut event.payload, event.event_id, &personal, key_id, key)?;
            }
        }
        Ok(())
    }

    /// Opens the sealed fields of `events` in place: their values while the subject's key
    /// exists, [`ERASED`] once it was destroyed (or never stored). Without a vault every sealed
    /// field reads as erased.
    pub async fn open_personal(&self, events: &mut [RecordedEvent]) -> Result<(), StorageError> {
        let mut key_ids: Vec<String> = events
            .iter()
            .filter_map(|event| envelope(&event.payload).map(|(_, key, ..)| key.to_owned()))
            .collect();
        if key_ids.is_empty() {
            return Ok(());
        }
        key_ids.sort_unstable();
        key_ids.dedup();
        let mut keys: HashMap<String, Key<Aes256Gcm>> = HashMap::new();
        if let Some(vault) = self.vault() {
            for (key_id, master_id, wrapped) in self.key_rows(&key_ids).await? {
                if let (Some(master_id), Some(wrapped)) = (master_id, wrapped) {
                    let key = vault.unwrap(&key_id, &master_id, &wrapped)?;
                    keys.insert(key_id, key);
                }
            }
        }
        for event in events {
            let key = envelope(&event.payload).and_then(|(_, key_id, ..)| keys.get(key_id));
            let key = key.copied();
            open_payload(&mut event.payload, event.event_id, key.as_ref()).map_err(|reason| {
                StorageError::Corrupt {
                    position: event.position,
                    reason,
                }
            })?;
        }
        Ok(())
    }

    async fn key_rows(&self, key_ids: &[String]) -> Result<Vec<KeyRow>, StorageError> {
        use crate::error::Context as _;
        let placeholders: Vec<String> = (1..=key_ids.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT key_id, master_key_id, wrapped FROM subject_keys WHERE key_id IN ({})",
            placeholders.join(", ")
        );
        on_readers!(self, |pool, _time| {
            let mut query = sqlx::query_as(&sql);
            for key_id in key_ids {
                query = query.bind(key_id);
            }
            query.fetch_all(pool).await.context("reading subject keys")
        })
    }

    /// `text`, personal data of `subject` kept beside the log (a CRM contact's e-mail), sealed
    /// with the subject's key as `$sealed:<key id>:<base64>`; `context` names where it is kept
    /// (bound to the ciphertext). Within `tx` as [`EventLog::seal_personal`]; as it is without a
    /// vault.
    pub async fn seal_text(
        &self,
        tx: &mut LogTransaction,
        subject: &str,
        context: &str,
        text: &str,
    ) -> Result<String, StorageError> {
        let Some(vault) = self.vault() else {
            return Ok(text.to_owned());
        };
        let (key_id, key) = self.key_to_seal(vault, Some(tx), subject).await?;
        let sealed = seal_bytes(
            &Aes256Gcm::new(&key),
            text.as_bytes(),
            &text_associated_data(&key_id, context),
        )?;
        Ok(format!("{SEALED_TEXT}{key_id}:{sealed}"))
    }

    /// Opens a text sealed by [`EventLog::seal_text`] with the same `context`: as written while
    /// the subject's key exists, [`ERASED`] once destroyed; one that does not open with its
    /// live key is an error. Any other text is answered as is.
    pub async fn open_text(&self, context: &str, text: String) -> Result<String, StorageError> {
        let Some((key_id, sealed)) = text
            .strip_prefix(SEALED_TEXT)
            .and_then(|rest| rest.split_once(':'))
        else {
            return Ok(text);
        };
        let key = match self.vault() {
            Some(vault) => match self.key_rows(&[key_id.to_owned()]).await?.pop() {
                Some((key_id, Some(master_id), Some(wrapped))) => {
                    Some(vault.unwrap(&key_id, &master_id, &wrapped)?)
                }
                _ => None,
            },
            None => None,
        };
        let Some(key) = key else {
            return Ok(ERASED.to_owned());
        };
        open_bytes(
            &Aes256Gcm::new(&key),
            sealed,
            &text_associated_data(key_id, context),
        )
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            StorageError::Privacy(format!(
                "{context} does not open with its key {key_id}: changed in the database, or \
                 moved from elsewhere"
            ))
        })
    }

    /// The master keys that wrap live subject keys and that this process does not hold: a
    /// process started with other keys than the rest would read their customers' data as
    /// unreadable, so `serve` refuses to start instead.
    pub async fn unknown_master_keys(&self) -> Result<Vec<String>, StorageError> {
        use crate::error::Context as _;
        let ids: Vec<String> = on_readers!(self, |pool, _time| {
            sqlx::query_scalar(
                "SELECT DISTINCT master_key_id FROM subject_keys WHERE master_key_id IS NOT NULL",
            )
            .fetch_all(pool)
            .await
            .context("reading the master keys in use")
        })?;
        let vault = self.vault();
        Ok(ids
            .into_iter()
            .filter(|id| vault.is_none_or(|vault| vault.master(id).is_none()))
            .collect())
    }

    /// Makes sure the database holds a key wrapped by this process's master key (under a
    /// subject no customer has), so that [`EventLog::unknown_master_keys`] tells a process
    /// started with another master key from the first append on, not only once customers'
    /// keys exist.
    pub async fn register_master_key(&self) -> Result<(), StorageError> {
        let Some(vault) = self.vault() else {
            return Ok(());
        };
        if self.live_key(vault, MASTER_KEY_CHECK).await?.is_none() {
            let mut tx = self.begin().await?;
            subject_key(vault, &mut tx, MASTER_KEY_CHECK).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Destroys every key of `subject` within `tx`: its sealed fields read as [`ERASED`] from
    /// then on, everywhere. Answers how many keys were destroyed (0: none left).
    pub async fn forget_subject(
        tx: &mut LogTransaction,
        subject: &str,
    ) -> Result<u64, StorageError> {
        use crate::error::Context as _;
        let now = Utc::now();
        on_tx!(tx, |conn, time| {
            sqlx::query(
                "UPDATE subject_keys SET wrapped = NULL, master_key_id = NULL, forgotten_at = $1 \
                 WHERE subject = $2 AND wrapped IS NOT NULL",
            )
            .bind(time(now))
            .bind(subject)
            .execute(&mut *conn)
            .await
            .map(|done| done.rows_affected())
            .context("destroying subject keys")
        })
    }

    /// Wraps every live subject key with the current master key (after a rotation, so that
    /// the earlier master key may be retired). Answers how many were wrapped again.
    pub async fn rewrap_subject_keys(&self) -> Result<u64, StorageError> {
        use crate::error::Context as _;
        let Some(vault) = self.vault() else {
            return Err(StorageError::Privacy("no master key is configured".into()));
        };
        let mut tx = self.begin().await?;
        let rows: Vec<KeyRow> = on_tx!(&mut tx, |conn, _time| {
            sqlx::query_as(
                "SELECT key_id, master_key_id, wrapped FROM subject_keys \
                 WHERE wrapped IS NOT NULL AND master_key_id <> $1",
            )
            .bind(vault.master_key_id())
            .fetch_all(&mut *conn)
            .await
            .context("reading subject keys")
        })?;
        let mut count = 0;
        for (key_id, master_id, wrapped) in rows {
            let (Some(master_id), Some(wrapped)) = (master_id, wrapped) else {
                continue;
            };
            let key = vault.unwrap(&key_id, &master_id, &wrapped)?;
            let rewrapped = vault.wrap(&key_id, &key)?;
            on_tx!(&mut tx, |conn, _time| {
                sqlx::query(
                    "UPDATE subject_keys SET wrapped = $1, master_key_id = $2 \
                     WHERE key_id = $3 AND wrapped IS NOT NULL",
                )
                .bind(&rewrapped)
                .bind(vault.master_key_id())
                .bind(&key_id)
                .execute(&mut *conn)
                .await
                .map(|_| ())
                .context("wrapping a subject key again")
            })?;
            count += 1;
        }
        tx.commit().await?;
        Ok(count)
    }
}

impl EventLog {
    /// The key to seal `subject`'s data with: its live key, or a new one, stored within `tx` on
    /// SQLite (its one writer), otherwise in a transaction of its own committed before the
    /// caller's (a key without its data is harmless; data never lacks its key).
    async fn key_to_seal(
        &self,
        vault: &Vault,
        tx: Option<&mut LogTransaction>,
        subject: &str,
    ) -> Result<(String, Key<Aes256Gcm>), StorageError> {
        if let Some(key) = self.live_key(vault, subject).await? {
            return Ok(key);
        }
        if let Some(tx @ LogTransaction::Sqlite(_)) = tx {
            return subject_key(vault, tx, subject).await;
        }
        let mut own = self.begin_derived().await?;
        match subject_key(vault, &mut own, subject).await {
            Ok(key) => {
                own.commit().await?;
                Ok(key)
            }
            Err(error) => {
                own.rollback().await?;
                Err(error)
            }
        }
    }

    /// The live key of `subject`, if it has one (read without a transaction: most appends
    /// find one).
    async fn live_key(
        &self,
        vault: &Vault,
        subject: &str,
    ) -> Result<Option<(String, Key<Aes256Gcm>)>, StorageError> {
        use crate::error::Context as _;
        let found: Option<(String, String, String)> = on_readers!(self, |pool, _time| {
            sqlx::query_as(LIVE_KEY)
                .bind(subject)
                .fetch_optional(pool)
                .await
                .context("reading a subject key")
        })?;
        found
            .map(|(key_id, master_id, wrapped)| {
                let key = vault.unwrap(&key_id, &master_id, &wrapped)?;
                Ok((key_id, key))
            })
            .transpose()
    }
}

/// The subject of the key that only records which master key the database's processes use.
const MASTER_KEY_CHECK: &str = "$master-key-check";

/// The newest live key of a subject.
const LIVE_KEY: &str = "SELECT key_id, master_key_id, wrapped FROM subject_keys \
     WHERE subject = $1 AND wrapped IS NOT NULL ORDER BY created_at DESC LIMIT 1";

/// The live key of `subject`, made and stored (wrapped) if it has none.
async fn subject_key(
    vault: &Vault,
    tx: &mut LogTransaction,
    subject: &str,
) -> Result<(String, Key<Aes256Gcm>), StorageError> {
    use crate::error::Context as _;
    let found: Option<(String, String, String)> = on_tx!(tx, |conn, _time| {
        sqlx::query_as(LIVE_KEY)
            .bind(subject)
            .fetch_optional(&mut *conn)
            .await
            .context("reading a subject key")
    })?;
    if let Some((key_id, master_id, wrapped)) = found {
        let key = vault.unwrap(&key_id, &master_id, &wrapped)?;
        return Ok((key_id, key));
    }
    let key_id = Uuid::now_v7().to_string();
    let key = Aes256Gcm::generate_key(&mut OsRng);
    let wrapped = vault.wrap(&key_id, &key)?;
    let now = Utc::now();
    on_tx!(tx, |conn, time| {
        sqlx::query(
            "INSERT INTO subject_keys (key_id, subject, master_key_id, wrapped, created_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key_id)
        .bind(subject)
        .bind(vault.master_key_id())
        .bind(&wrapped)
        .bind(time(now))
        .execute(&mut *conn)
        .await
        .map(|_| ())
        .context("storing a subject key")
    })?;
    Ok((key_id, key))
}
