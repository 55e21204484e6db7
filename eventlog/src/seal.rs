//! Seals over the hash chain (issue 18): the sealer ([`crate::sealer`]) signs, with the
//! service's Ed25519 key, the chain's head and the RFC 6962 Merkle root over the links of the
//! positions since the previous seal, and chains each seal to the one before by its signature.
//! Whoever rewrites events and recomputes every link after them (which the chain alone cannot
//! tell) no longer matches the seals, and cannot sign new ones without the key; the seals are
//! also published outside the table (an `AuditSealed` event, a line of the seals file), so that
//! removing the latest ones shows too.
//!
//! A seal's published form is one JSON object (docs/audit.md):
//!
//! ```json
//! {"format": "backoffice/audit-seal/1", "number": 3, "first": 2001, "last": 3000,
//!  "leaves": 1000, "head": "<hex>", "root": "<hex>", "sealed_at": 1767225600000000,
//!  "public_key": "<base64>", "previous_signature": "<base64>" or null, "signature": "<base64>"}
//! ```
//!
//! The seal's leaves are the links of the events in `first..=last`, in position order: on
//! PostgreSQL a rolled-back append leaves positions that no event holds, so a range may have
//! fewer events than positions, and `leaves` counts them. `last` is an event's position (the
//! sealer ends each seal on one); `head` is its link, `root` the Merkle root over the leaves,
//! `sealed_at` microseconds since the Unix epoch, `previous_signature` the signature of seal
//! `number - 1` (none for the first). The signed message is the canonical JSON
//! ([`integrity::canonical_json`]) of that object without `signature`.
//!
//! This module: the seal, its forms and signature, and the stored seals (`audit_seals`); `walk`:
//! their check along the chain as [`crate::chain::check`] recomputes it.

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use chrono::DateTime;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde_json::{json, Value};
use sqlx::Row;

use crate::{
    error::{Context, StorageError},
    integrity::{self, Hash},
    on_readers, on_tx, EventLog, LogTransaction,
};

mod walk;

pub use walk::Trust;
pub(crate) use walk::Walk;

/// The `format` of a seal: what its signed message is made of.
pub const FORMAT: &str = "backoffice/audit-seal/1";

/// A signed seal over positions `first..=last` of the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// 1, 2, 3 … in the order they were made.
    pub number: i64,
    /// The first position covered: the one after the previous seal's last.
    pub first: i64,
    /// The last position covered: an event's.
    pub last: i64,
    /// The number of its leaves: the events in `first..=last`.
    pub leaves: i64,
    /// The link of `last`: the chain's head when sealed.
    pub head: Hash,
    /// The RFC 6962 Merkle root over the links of the events in `first..=last`, in position
    /// order.
    pub root: Hash,
    /// When it was made, in microseconds since the Unix epoch.
    pub sealed_at: i64,
    /// The Ed25519 public key that signed it.
    pub public_key: [u8; 32],
    /// The previous seal's signature (none for the first).
    pub previous_signature: Option<[u8; 64]>,
    /// The Ed25519 signature of [`Seal::message`].
    pub signature: [u8; 64],
}

/// What a seal covers, before it is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Covered {
    /// Its number.
    pub number: i64,
    /// Its first position.
    pub first: i64,
    /// Its last position.
    pub last: i64,
    /// The events in the range: the tree's leaves.
    pub leaves: i64,
    /// The link of `last`.
    pub head: Hash,
    /// The Merkle root over the links of the range's events.
    pub root: Hash,
    /// When, in microseconds since the Unix epoch.
    pub sealed_at: i64,
}

impl Seal {
    /// `covered`, chained to the seal whose signature is `previous_signature`, signed by `key`.
    pub fn sign(covered: Covered, previous_signature: Option<[u8; 64]>, key: &SigningKey) -> Self {
        let mut seal = Self {
            number: covered.number,
            first: covered.first,
            last: covered.last,
            leaves: covered.leaves,
            head: covered.head,
            root: covered.root,
            sealed_at: covered.sealed_at,
            public_key: key.verifying_key().to_bytes(),
            previous_signature,
            signature: [0; 64],
        };
        seal.signature = key.sign(&seal.message()).to_bytes();
        seal
    }

    /// The signed fields as JSON: the published form without `signature`.
    fn unsigned_json(&self) -> Value {
        json!({
            "format": FORMAT,
            "number": self.number,
            "first": self.first,
            "last": self.last,
            "leaves": self.leaves,
            "head": hex(&self.head),
            "root": hex(&self.root),
            "sealed_at": self.sealed_at,
            "public_key": BASE64.encode(self.public_key),
            "previous_signature": self.previous_signature.map(|s| BASE64.encode(s)),
        })
    }

    /// The bytes signed: the canonical JSON of the published form without `signature`.
    pub fn message(&self) -> Vec<u8> {
        integrity::canonical_json(&self.unsigned_json())
    }

    /// The published form (the module's header).
    pub fn to_json(&self) -> Value {
        let mut value = self.unsigned_json();
        value["signature"] = Value::String(BASE64.encode(self.signature));
        value
    }

    /// A seal from its published form; what is missing or malformed, otherwise.
    pub fn from_json(value: &Value) -> Result<Self, String> {
        let text = |name: &str| {
            value[name]
                .as_str()
                .ok_or_else(|| format!("`{name}` is not a string"))
        };
        let int = |name: &str| {
            value[name]
                .as_i64()
                .ok_or_else(|| format!("`{name}` is not an integer"))
        };
        if text("format")? != FORMAT {
            return Err(format!("`format` is not {FORMAT}"));
        }
        let hash = |name: &str| unhex(text(name)?).ok_or_else(|| format!("`{name}` is not hex"));
        let base64 = |name: &str, text: &str| {
            BASE64
                .decode(text)
                .map_err(|_| format!("`{name}` is not base64"))
        };
        let previous_signature = match &value["previous_signature"] {
            Value::Null => None,
            Value::String(text) => Some(fixed(base64("previous_signature", text)?)?),
            _ => return Err("`previous_signature` is neither null nor a string".to_owned()),
        };
        Ok(Self {
            number: int("number")?,
            first: int("first")?,
            last: int("last")?,
            leaves: int("leaves")?,
            head: hash("head")?,
            root: hash("root")?,
            sealed_at: int("sealed_at")?,
            public_key: fixed(base64("public_key", text("public_key")?)?)?,
            previous_signature,
            signature: fixed(base64("signature", text("signature")?)?)?,
        })
    }

    /// Whether its signature holds for its fields under `key` (Ed25519, strict).
    pub fn signed_by(&self, key: &VerifyingKey) -> bool {
        key.to_bytes() == self.public_key
            && key
                .verify_strict(&self.message(), &Signature::from_bytes(&self.signature))
                .is_ok()
    }
}

/// `bytes` as a fixed-size array, or why not.
fn fixed<const N: usize>(bytes: Vec<u8>) -> Result<[u8; N], String> {
    let length = bytes.len();
    bytes
        .try_into()
        .map_err(|_| format!("{length} bytes where {N} are expected"))
}

/// Lowercase hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Hash> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

const COLUMNS: &str = "number, first_position, last_position, leaves, head, root, sealed_at, \
                       public_key, previous_signature, signature";

/// The stored seals that `tail` (`WHERE` on `$1`, `ORDER BY`, `LIMIT`) selects.
async fn select(log: &EventLog, tail: &str, value: i64) -> Result<Vec<Seal>, StorageError> {
    let sql = format!("SELECT {COLUMNS} FROM audit_seals {tail}");
    let seals = match log {
        EventLog::Sqlite(lite) => {
            let rows = sqlx::query(&sql)
                .bind(value)
                .fetch_all(lite.readers())
                .await
                .context("reading seals")?;
            rows.iter()
                .map(|row| {
                    let at: String = row.try_get("sealed_at")?;
                    let at = DateTime::parse_from_rfc3339(&at)
                        .map_err(|e| sqlx::Error::Decode(e.into()))?;
                    decode(row, at.timestamp_micros())
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
        }
        EventLog::Postgres(pg) => {
            let rows = sqlx::query(&sql)
                .bind(value)
                .fetch_all(pg.pool())
                .await
                .context("reading seals")?;
            rows.iter()
                .map(|row| {
                    let at: chrono::DateTime<chrono::Utc> = row.try_get("sealed_at")?;
                    decode(row, at.timestamp_micros())
                })
                .collect()
        }
    };
    seals.context("reading a seal")
}

fn decode<R: Row>(row: &R, sealed_at: i64) -> Result<Seal, sqlx::Error>
where
    for<'c> &'c str: sqlx::ColumnIndex<R>,
    for<'d> i64: sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
    for<'d> Vec<u8>: sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
    for<'d> Option<Vec<u8>>: sqlx::Decode<'d, R::Database> + sqlx::Type<R::Database>,
{
    let previous: Option<Vec<u8>> = row.try_get("previous_signature")?;
    Ok(Seal {
        number: row.try_get("number")?,
        first: row.try_get("first_position")?,
        last: row.try_get("last_position")?,
        leaves: row.try_get("leaves")?,
        head: sized("head", row.try_get("head")?)?,
        root: sized("root", row.try_get("root")?)?,
        sealed_at,
        public_key: sized("public_key", row.try_get("public_key")?)?,
        previous_signature: previous
            .map(|bytes| sized("previous_signature", bytes))
            .transpose()?,
        signature: sized("signature", row.try_get("signature")?)?,
    })
}

/// `bytes` of column `column` as a fixed-size array.
fn sized<const N: usize>(column: &str, bytes: Vec<u8>) -> Result<[u8; N], sqlx::Error> {
    fixed(bytes).map_err(|reason| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: reason.into(),
    })
}

/// Every stored seal, in number order.
pub async fn stored(log: &EventLog) -> Result<Vec<Seal>, StorageError> {
    stored_after(log, 0).await
}

/// The stored seals numbered above `number`, in order.
pub async fn stored_after(log: &EventLog, number: i64) -> Result<Vec<Seal>, StorageError> {
    select(log, "WHERE number > $1 ORDER BY number", number).await
}

/// The last seal made, if any.
pub async fn last(log: &EventLog) -> Result<Option<Seal>, StorageError> {
    let tail = "WHERE number > $1 ORDER BY number DESC LIMIT 1";
    Ok(select(log, tail, 0).await?.pop())
}

/// The seal whose range holds `position`, if one does.
pub async fn covering(log: &EventLog, position: i64) -> Result<Option<Seal>, StorageError> {
    // The seal starting last at or before `position`; it holds it if it ends at or after it.
    let tail = "WHERE first_position <= $1 ORDER BY first_position DESC LIMIT 1";
    let seal = select(log, tail, position).await?.pop();
    Ok(seal.filter(|s| s.last >= position))
}

/// Stores `seal` within `tx` (after the append of its `AuditSealed` event, which on
/// PostgreSQL must come first).
pub(crate) async fn insert(tx: &mut LogTransaction, seal: &Seal) -> Result<(), StorageError> {
    let at = DateTime::from_timestamp_micros(seal.sealed_at)
        .ok_or(StorageError::Unsupported("a seal's time is out of range"))?;
    let sql = format!(
        "INSERT INTO audit_seals ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    );
    on_tx!(tx, |conn, time| sqlx::query(&sql)
        .bind(seal.number)
        .bind(seal.first)
        .bind(seal.last)
        .bind(seal.leaves)
        .bind(seal.head.to_vec())
        .bind(seal.root.to_vec())
        .bind(time(at))
        .bind(seal.public_key.to_vec())
        .bind(seal.previous_signature.map(|s| s.to_vec()))
        .bind(seal.signature.to_vec())
        .execute(conn)
        .await
        .map(|_| ()))
    .context("storing a seal")?;
    Ok(())
}

/// The links of the events in a range of positions, in position order: a seal's leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Leaves {
    /// The events' positions, ascending.
    pub positions: Vec<i64>,
    /// Their links, in the same order.
    pub links: Vec<Hash>,
}

/// The stored links of the events in positions `from..=to`, in order: on SQLite
/// `events.chain_hash`, on PostgreSQL `event_links`. A position no event holds (on PostgreSQL,
/// one a rolled-back append drew) has none and is no leaf; an event of the range without a
/// link of 32 bytes fails.
pub(crate) async fn links(log: &EventLog, from: i64, to: i64) -> Result<Leaves, StorageError> {
    let sql = match log {
        EventLog::Sqlite(_) => {
            "SELECT position, chain_hash FROM events WHERE position BETWEEN $1 AND $2 \
             ORDER BY position"
        }
        EventLog::Postgres(_) => {
            "SELECT position, link FROM event_links WHERE position BETWEEN $1 AND $2 \
             ORDER BY position"
        }
    };
    let rows: Vec<(i64, Option<Vec<u8>>)> = on_readers!(log, |pool, _time| sqlx::query_as(sql)
        .bind(from)
        .bind(to)
        .fetch_all(pool)
        .await)
    .context("reading links")?;
    let mut leaves = Leaves {
        positions: Vec::with_capacity(rows.len()),
        links: Vec::with_capacity(rows.len()),
    };
    for (position, bytes) in rows {
        let link = bytes.and_then(|bytes| Hash::try_from(bytes).ok());
        leaves.links.push(link.ok_or_else(|| StorageError::Corrupt {
            position,
            reason: "it has no link of 32 bytes".to_owned(),
        })?);
        leaves.positions.push(position);
    }
    Ok(leaves)
}

/// The stored link of the last event before `position`, if there is one with a link.
pub(crate) async fn link_before(
    log: &EventLog,
    position: i64,
) -> Result<Option<Hash>, StorageError> {
    let sql = match log {
        EventLog::Sqlite(_) => {
            "SELECT chain_hash FROM events WHERE position < $1 ORDER BY position DESC LIMIT 1"
        }
        EventLog::Postgres(_) => {
            "SELECT link FROM event_links WHERE position < $1 ORDER BY position DESC LIMIT 1"
        }
    };
    let link: Option<Option<Vec<u8>>> = on_readers!(log, |pool, _time| sqlx::query_scalar(sql)
        .bind(position)
        .fetch_optional(pool)
        .await)
    .context("reading the link before an event")?;
    Ok(link.flatten().and_then(|bytes| Hash::try_from(bytes).ok()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn seal(key: &SigningKey) -> Seal {
        let covered = Covered {
            number: 2,
            first: 11,
            last: 20,
            leaves: 7,
            head: [1; 32],
            root: [2; 32],
            sealed_at: 1_767_225_600_123_456,
        };
        Seal::sign(covered, Some([3; 64]), key)
    }

    #[test]
    fn a_seal_signs_its_published_form_without_the_signature_and_reads_back() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let seal = seal(&key);
        assert!(seal.signed_by(&key.verifying_key()));
        let published = seal.to_json();
        let mut unsigned = published.clone();
        unsigned.as_object_mut().unwrap().remove("signature");
        assert_eq!(seal.message(), integrity::canonical_json(&unsigned));
        assert_eq!(Seal::from_json(&published).unwrap(), seal);
        let other = SigningKey::from_bytes(&[8; 32]);
        assert!(!seal.signed_by(&other.verifying_key()));
        let mut changed = seal.clone();
        changed.root[0] ^= 1;
        assert!(!changed.signed_by(&key.verifying_key()));
        let mut changed = seal.clone();
        changed.last += 1;
        assert!(!changed.signed_by(&key.verifying_key()));
        let mut changed = seal;
        changed.leaves += 1;
        assert!(!changed.signed_by(&key.verifying_key()));
        let mut unsigned = published;
        unsigned.as_object_mut().unwrap().remove("leaves");
        assert_eq!(
            Seal::from_json(&unsigned),
            Err("`leaves` is not an integer".to_owned())
        );
    }
}
