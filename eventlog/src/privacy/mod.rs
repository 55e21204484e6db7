//! Personal data sealed per data subject, so that it can be erased from an append-only log
//! (crypto-shredding, ADR 0028).
//!
//! An event to append may name its personal fields ([`Personal`]: JSON pointers into its payload)
//! and the data subject they belong to (a customer's id). The log then stores the payload
//! without those fields and with an envelope in their place, under the key `"$personal"`:
//!
//! ```json
//! {"$personal": {"subject": "0190…", "key": "0190…", "fields": ["/shipping_address/city", …],
//!                "sealed": "<base64 of a 12-byte nonce and the AES-256-GCM ciphertext>"}}
//! ```
//!
//! The ciphertext is the JSON array of the fields' values in the envelope's order, sealed with
//! the subject's key and bound (as associated data) to the event id and the key id, so that it
//! cannot be moved to another event. Subject keys are random, stored in `subject_keys` wrapped
//! (AES-256-GCM) by the master key from the configuration; the chain hashes the stored form.
//!
//! Every read of the log opens the envelopes again: the fields come back as written while the
//! subject's key exists, and as [`ERASED`] once it has been destroyed ([`EventLog::forget`]).
//! A key wrapped by a master key this process does not hold is an error, never an erasure.

use aes_gcm::{
    aead::{Aead, AeadCore, KeyInit, OsRng, Payload},
    Aes256Gcm, Key, Nonce,
};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{error::StorageError, RecordedEvent};

mod store;

/// What an erased field reads as.
pub const ERASED: &str = "[erased]";

/// The payload key of the envelope of sealed fields.
pub const ENVELOPE: &str = "$personal";

/// The personal fields of an event to append, and whose they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Personal {
    /// The data subject: the id forgetting names (a customer's id).
    pub subject: String,
    /// JSON pointers to the fields (strings, or absent) in the payload.
    pub fields: Vec<String>,
}

/// A master key: wraps the subject keys.
struct MasterKey {
    /// A fingerprint of the key, stored beside what it wraps.
    id: String,
    cipher: Aes256Gcm,
}

impl MasterKey {
    fn new(bytes: &[u8; 32]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"backoffice master key\0")
            .chain_update(bytes)
            .finalize();
        Self {
            id: hex_prefix(&digest[..8]),
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(bytes)),
        }
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The master keys of this process: the current one wraps new subject keys; earlier ones
/// still unwrap what they wrapped until [`EventLog::rewrap_subject_keys`] has moved it.
pub struct Vault {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault")
            .field("current", &self.current.id)
            .field(
                "previous",
                &self.previous.iter().map(|k| &k.id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Vault {
    /// A vault of the master key `current` and the earlier keys `previous`.
    pub fn new(current: &[u8; 32], previous: &[[u8; 32]]) -> Self {
        Self {
            current: MasterKey::new(current),
            previous: previous.iter().map(MasterKey::new).collect(),
        }
    }

    /// The current master key's fingerprint.
    pub fn master_key_id(&self) -> &str {
        &self.current.id
    }

    fn master(&self, id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == id)
    }

    fn wrap(&self, key_id: &str, key: &Key<Aes256Gcm>) -> Result<String, StorageError> {
        seal_bytes(&self.current.cipher, key.as_slice(), key_id.as_bytes())
    }

    fn unwrap(
        &self,
        key_id: &str,
        master_id: &str,
        wrapped: &str,
    ) -> Result<Key<Aes256Gcm>, StorageError> {
        let master = self.master(master_id).ok_or_else(|| {
            StorageError::Privacy(format!(
                "subject key {key_id} is wrapped by master key {master_id}, which is not \
                 configured (the current one is {})",
                self.current.id
            ))
        })?;
        let bytes = open_bytes(&master.cipher, wrapped, key_id.as_bytes()).ok_or_else(|| {
            StorageError::Privacy(format!("subject key {key_id} does not unwrap"))
        })?;
        if bytes.len() != 32 {
            return Err(StorageError::Privacy(format!(
                "subject key {key_id} is not 32 bytes"
            )));
        }
        Ok(*Key::<Aes256Gcm>::from_slice(&bytes))
    }
}

fn seal_bytes(cipher: &Aes256Gcm, plain: &[u8], aad: &[u8]) -> Result<String, StorageError> {
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let sealed = cipher
        .encrypt(&nonce, Payload { msg: plain, aad })
        .map_err(|_| StorageError::Privacy("sealing failed".into()))?;
    let mut bytes = nonce.to_vec();
    bytes.extend_from_slice(&sealed);
    Ok(BASE64.encode(bytes))
}

fn open_bytes(cipher: &Aes256Gcm, sealed: &str, aad: &[u8]) -> Option<Vec<u8>> {
    let bytes = BASE64.decode(sealed).ok()?;
    if bytes.len() < 12 {
        return None;
    }
    let (nonce, ciphertext) = bytes.split_at(12);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()
}

fn associated_data(event_id: Uuid, key_id: &str, subject: &str, fields: &[String]) -> Vec<u8> {
    let mut aad = event_id.as_bytes().to_vec();
    for part in [key_id, subject, &fields.join("\n")] {
        aad.extend_from_slice(part.as_bytes());
        aad.push(0);
    }
    aad
}

/// Where a JSON pointer's last step lives: its parent's pointer and its own name.
fn split_pointer(pointer: &str) -> Option<(&str, &str)> {
    pointer.rsplit_once('/')
}

/// Takes the fields out of `payload` and puts the sealed envelope in their place.
fn seal_payload(
    payload: &mut Value,
    event_id: Uuid,
    personal: &Personal,
    key_id: &str,
    key: &Key<Aes256Gcm>,
) -> Result<(), StorageError> {
    let mut fields = Vec::new();
    let mut values = Vec::new();
    for pointer in &personal.fields {
        let Some((parent, name)) = split_pointer(pointer) else {
            continue;
        };
        let taken = payload
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .and_then(|object| object.remove(name));
        if let Some(value) = taken.filter(|value| !value.is_null()) {
            fields.push(pointer.clone());
            values.push(value);
        }
    }
    let plain = serde_json::to_vec(&values).map_err(|e| StorageError::Privacy(e.to_string()))?;
    let cipher = Aes256Gcm::new(key);
    let aad = associated_data(event_id, key_id, &personal.subject, &fields);
    let sealed = seal_bytes(&cipher, &plain, &aad)?;
    if let Value::Object(object) = payload {
        object.insert(
            ENVELOPE.to_owned(),
            json!({"subject": personal.subject, "key": key_id, "fields": fields, "sealed": sealed}),
        );
    }
    Ok(())
}

/// Whether `event` holds sealed personal fields.
pub(crate) fn is_sealed(event: &RecordedEvent) -> bool {
    event.payload.get(ENVELOPE).is_some()
}

/// The envelope of a stored payload, if it has one.
fn envelope(payload: &Value) -> Option<(&str, &str, Vec<String>, &str)> {
    let envelope = payload.get(ENVELOPE)?;
    let subject = envelope.get("subject")?.as_str()?;
    let key = envelope.get("key")?.as_str()?;
    let fields = envelope
        .get("fields")?
        .as_array()?
        .iter()
        .filter_map(|field| field.as_str().map(str::to_owned))
        .collect();
    let sealed = envelope.get("sealed")?.as_str()?;
    Some((subject, key, fields, sealed))
}

/// Puts the fields back into `payload` (their values, or [`ERASED`] without `key`) and removes
/// the envelope. Sealed fields that do not open with their live key (changed in the database,
/// moved from another event) are an error, never an erasure.
fn open_payload(
    payload: &mut Value,
    event_id: Uuid,
    key: Option<&Key<Aes256Gcm>>,
) -> Result<(), String> {
    let Some((subject, key_id, fields, sealed)) = envelope(payload) else {
        return Ok(());
    };
    let values = match key {
        None => vec![Value::String(ERASED.to_owned()); fields.len()],
        Some(key) => {
            let aad = associated_data(event_id, key_id, subject, &fields);
            open_bytes(&Aes256Gcm::new(key), sealed, &aad)
                .and_then(|plain| serde_json::from_slice::<Vec<Value>>(&plain).ok())
                .filter(|values| values.len() == fields.len())
                .ok_or_else(|| {
                    format!("its sealed personal fields do not open with their key {key_id}")
                })?
        }
    };
    if let Value::Object(object) = payload {
        object.remove(ENVELOPE);
    }
    for (pointer, value) in fields.iter().zip(values) {
        if let Some((parent, name)) = split_pointer(pointer) {
            if let Some(object) = payload.pointer_mut(parent).and_then(Value::as_object_mut) {
                object.insert(name.to_owned(), value);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn personal() -> Personal {
        Personal {
            subject: "c1".into(),
            fields: vec![
                "/address/city".into(),
                "/address/line2".into(),
                "/name".into(),
            ],
        }
    }

    #[test]
    fn sealed_fields_leave_the_payload_and_come_back_with_the_key() {
        let key = Aes256Gcm::generate_key(&mut OsRng);
        let id = Uuid::now_v7();
        let original =
            json!({"name": "Ana Lima", "address": {"city": "Berlin", "country": "DE"}, "total": 5});
        let mut payload = original.clone();
        seal_payload(&mut payload, id, &personal(), "k1", &key).unwrap();
        let stored = payload.to_string();
        assert!(
            !stored.contains("Ana") && !stored.contains("Berlin"),
            "{stored}"
        );
        assert!(stored.contains("\"country\":\"DE\"") && stored.contains("\"total\":5"));
        // line2 was absent: it is not sealed and comes back absent.
        assert_eq!(
            payload[ENVELOPE]["fields"],
            json!(["/address/city", "/name"])
        );
        open_payload(&mut payload, id, Some(&key)).unwrap();
        assert_eq!(payload, original);
    }

    #[test]
    fn without_the_key_the_fields_read_as_erased_and_moved_ones_do_not_open() {
        let key = Aes256Gcm::generate_key(&mut OsRng);
        let id = Uuid::now_v7();
        let mut payload = json!({"name": "Ana", "address": {"city": "Berlin"}});
        seal_payload(&mut payload, id, &personal(), "k1", &key).unwrap();
        let erased = json!({"name": ERASED, "address": {"city": ERASED}});
        let mut forgotten = payload.clone();
        open_payload(&mut forgotten, id, None).unwrap();
        assert_eq!(forgotten, erased);
        // Moved to another event, or its field list changed: an error, not an erasure.
        let mut moved = payload.clone();
        assert!(open_payload(&mut moved, Uuid::now_v7(), Some(&key)).is_err());
        let mut permuted = payload;
        permuted[ENVELOPE]["fields"] = json!(["/name", "/address/city"]);
        assert!(open_payload(&mut permuted, id, Some(&key)).is_err());
    }

    #[test]
    fn a_subject_key_unwraps_with_the_master_key_that_wrapped_it_only() {
        let old = Vault::new(&[1; 32], &[]);
        let key = Aes256Gcm::generate_key(&mut OsRng);
        let wrapped = old.wrap("k1", &key).unwrap();
        assert_eq!(
            old.unwrap("k1", old.master_key_id(), &wrapped).unwrap(),
            key
        );
        assert!(old.unwrap("k2", old.master_key_id(), &wrapped).is_err());
        let rotated = Vault::new(&[2; 32], &[[1; 32]]);
        assert_eq!(
            rotated.unwrap("k1", old.master_key_id(), &wrapped).unwrap(),
            key
        );
        let Err(StorageError::Privacy(message)) =
            Vault::new(&[2; 32], &[]).unwrap("k1", old.master_key_id(), &wrapped)
        else {
            panic!("a missing master key must be an error");
        };
        assert!(message.contains("not configured"), "{message}");
    }
}
