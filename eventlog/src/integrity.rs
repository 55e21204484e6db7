//! The log's tamper evidence (issue 18): the canonical form an event is hashed in, the hash
//! chain that links each event to the one before it, and the Merkle tree over a range of the
//! chain that a seal signs, with the inclusion proof of one event.
//!
//! - `content` = SHA-256 of the canonical JSON of the event's own fields (below); it is what
//!   the writer knows before the log gives the event its position.
//! - `link(n)` = SHA-256 of `link(n-1) ‖ position ‖ sequence ‖ recorded_at ‖ content`, the
//!   three integers as 8-byte big-endian (`recorded_at` in microseconds since the Unix epoch),
//!   and `link(0)` 32 zero bytes; computed in the append, where positions are serialised.
//! - A Merkle tree over the links of positions `from..=to` (RFC 6962: a leaf is SHA-256 of
//!   `0x00 ‖ link`, a node SHA-256 of `0x01 ‖ left ‖ right`, the split at the largest power of
//!   two below the size) gives the root a seal signs; an inclusion proof is the sibling hashes
//!   from the leaf up.
//!
//! The canonical JSON: objects with their keys sorted by their UTF-8 bytes (which is code point
//! order), no whitespace, strings escaped as serde_json escapes them (`\"`, `\\`, `\b`, `\f`,
//! `\n`, `\r`, `\t`, other control characters as `\u00xx`; nothing else), numbers as serde_json
//! writes them (the events hold integers only). Python's
//! `json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` writes the
//! same bytes for such values (docs/audit.md).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The link before the first event.
pub const GENESIS: Hash = [0; 32];

/// `value` in the canonical JSON form.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(fields) => {
            let mut sorted: Vec<(&String, &Value)> = fields.iter().collect();
            sorted.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (key, field)) in sorted.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_canonical(field, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        Value::String(text) => write_string(text, out),
        // null, booleans and numbers: serde_json's own text.
        scalar => write_serde(scalar, out),
    }
}

fn write_string(text: &str, out: &mut Vec<u8>) {
    write_serde(text, out);
}

/// serde_json's own text of `value` (escaped strings, numbers as it writes them), written
/// straight into `out`: writing into a `Vec` cannot fail, and plain data always serializes.
fn write_serde<T: serde::Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) {
    if serde_json::to_writer(&mut *out, value).is_err() {
        out.extend_from_slice(b"null");
    }
}

/// The fields of an event the writer knows before its position: what `content` covers.
#[derive(Debug, Clone, Copy)]
pub struct Content<'a> {
    /// The event's id.
    pub event_id: Uuid,
    /// Its stream's type.
    pub stream_type: &'a str,
    /// Its stream's id.
    pub stream_id: &'a str,
    /// Its type.
    pub event_type: &'a str,
    /// Its payload's schema version.
    pub event_version: i32,
    /// The payload, as stored.
    pub payload: &'a Value,
    /// The metadata, as stored.
    pub metadata: &'a Value,
}

impl Content<'_> {
    /// These fields as the JSON object that is hashed (what an inclusion proof shows).
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "event_id": self.event_id.to_string(),
            "stream_type": self.stream_type,
            "stream_id": self.stream_id,
            "event_type": self.event_type,
            "event_version": self.event_version,
            "payload": self.payload,
            "metadata": self.metadata,
        })
    }

    /// The canonical JSON these fields are hashed in: [`Content::to_json`]'s, written without
    /// building it.
    pub fn canonical(&self) -> Vec<u8> {
        content_bytes(
            &self.event_id.to_string(),
            self.stream_type,
            self.stream_id,
            self.event_type,
            self.event_version,
            &canonical_json(self.payload),
            &canonical_json(self.metadata),
        )
    }

    /// SHA-256 of [`Content::canonical`].
    pub fn hash(&self) -> Hash {
        Sha256::digest(self.canonical()).into()
    }
}

/// The SHA-256 [`Content::hash`] gives when the stored `payload` and `metadata` texts are
/// already in the canonical form (as the SQLite append writes them): the same bytes, put
/// together without parsing them. Anything else hashes differently, and is then hashed the
/// long way.
pub(crate) fn hash_of_canonical_texts(
    event_id: &str,
    stream_type: &str,
    stream_id: &str,
    event_type: &str,
    event_version: i32,
    payload: &str,
    metadata: &str,
) -> Hash {
    let bytes = content_bytes(
        event_id,
        stream_type,
        stream_id,
        event_type,
        event_version,
        payload.as_bytes(),
        metadata.as_bytes(),
    );
    Sha256::digest(bytes).into()
}

/// The canonical JSON of an event's content from its fields, `payload` and `metadata` already
/// canonical: the keys in their sorted order.
fn content_bytes(
    event_id: &str,
    stream_type: &str,
    stream_id: &str,
    event_type: &str,
    event_version: i32,
    payload: &[u8],
    metadata: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(160 + payload.len() + metadata.len());
    out.extend_from_slice(b"{\"event_id\":");
    write_string(event_id, &mut out);
    out.extend_from_slice(b",\"event_type\":");
    write_string(event_type, &mut out);
    out.extend_from_slice(b",\"event_version\":");
    out.extend_from_slice(event_version.to_string().as_bytes());
    out.extend_from_slice(b",\"metadata\":");
    out.extend_from_slice(metadata);
    out.extend_from_slice(b",\"payload\":");
    out.extend_from_slice(payload);
    out.extend_from_slice(b",\"stream_id\":");
    write_string(stream_id, &mut out);
    out.extend_from_slice(b",\"stream_type\":");
    write_string(stream_type, &mut out);
    out.push(b'}');
    out
}

/// The microseconds since the Unix epoch of `at`, as the chain covers a time.
pub fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros()
}

/// The link of the event at `position` (stream version `sequence`, recorded at `recorded_at`
/// microseconds) whose content hashes to `content`, after the link `previous`.
pub fn link(
    previous: &Hash,
    position: i64,
    sequence: i64,
    recorded_at: i64,
    content: &Hash,
) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update(previous);
    hasher.update(position.to_be_bytes());
    hasher.update(sequence.to_be_bytes());
    hasher.update(recorded_at.to_be_bytes());
    hasher.update(content);
    hasher.finalize().into()
}

fn leaf(link: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([0u8]);
    hasher.update(link);
    hasher.finalize().into()
}

fn node(left: &Hash, right: &Hash) -> Hash {
    let mut hasher = Sha256::new();
    hasher.update([1u8]);
    hasher.update(left);
    hasher.update(right);
    hasher.finalize().into()
}

/// The largest power of two below `n` (n ≥ 2): where RFC 6962 splits a tree of `n` leaves.
fn split(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The Merkle root over `links` (RFC 6962); the hash of nothing for none.
pub fn merkle_root(links: &[Hash]) -> Hash {
    match links {
        [] => Sha256::digest([]).into(),
        [one] => leaf(one),
        _ => {
            let k = split(links.len());
            node(&merkle_root(&links[..k]), &merkle_root(&links[k..]))
        }
    }
}

/// The inclusion proof of `links[index]`: the sibling hashes from the leaf up to the root.
pub fn inclusion_proof(links: &[Hash], index: usize) -> Vec<Hash> {
    let mut path = Vec::new();
    proof_into(links, index, &mut path);
    path
}

fn proof_into(links: &[Hash], index: usize, path: &mut Vec<Hash>) {
    if links.len() <= 1 {
        return;
    }
    let k = split(links.len());
    if index < k {
        proof_into(&links[..k], index, path);
        path.push(merkle_root(&links[k..]));
    } else {
        proof_into(&links[k..], index - k, path);
        path.push(merkle_root(&links[..k]));
    }
}

/// Whether `proof` shows `link` at `index` of a tree of `size` leaves with root `root`
/// (RFC 9162 §2.1.3.2's verification).
pub fn verify_inclusion(
    link: &Hash,
    index: usize,
    size: usize,
    proof: &[Hash],
    root: &Hash,
) -> bool {
    if index >= size {
        return false;
    }
    let (mut fn_, mut sn) = (index, size - 1);
    let mut hash = leaf(link);
    for sibling in proof {
        if sn == 0 {
            return false;
        }
        if fn_ & 1 == 1 || fn_ == sn {
            hash = node(sibling, &hash);
            if fn_ & 1 == 0 {
                while fn_ & 1 == 0 && fn_ != 0 {
                    fn_ >>= 1;
                    sn >>= 1;
                }
            }
        } else {
            hash = node(&hash, sibling);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    sn == 0 && hash == *root
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_and_drops_whitespace() {
        let value: Value = serde_json::from_str(
            r#"{ "b": 1, "a": {"z": [1, {"y": null, "x": true}], "é": "\n\u0001\"/"} }"#,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(canonical_json(&value)).unwrap(),
            r#"{"a":{"z":[1,{"x":true,"y":null}],"é":"\n\u0001\"/"},"b":1}"#
        );
    }

    fn links(n: usize) -> Vec<Hash> {
        (0..n)
            .map(|i| Sha256::digest(i.to_be_bytes()).into())
            .collect()
    }

    #[test]
    fn every_leaf_of_trees_of_every_size_up_to_33_has_a_proof_that_verifies_and_only_there() {
        for size in 1..=33 {
            let links = links(size);
            let root = merkle_root(&links);
            for index in 0..size {
                let proof = inclusion_proof(&links, index);
                assert!(
                    verify_inclusion(&links[index], index, size, &proof, &root),
                    "{size} {index}"
                );
                let other = (index + 1) % size;
                if other != index {
                    assert!(!verify_inclusion(&links[other], index, size, &proof, &root));
                }
                let mut forged = links.clone();
                forged[index][0] ^= 1;
                assert_ne!(merkle_root(&forged), root);
            }
        }
    }

    #[test]
    fn canonical_texts_put_together_hash_as_the_content_does() {
        let payload = serde_json::json!({"z": 1, "a": ["é\n", {"b": null}]});
        let metadata = serde_json::json!({"actor": "user:ana"});
        let id = Uuid::now_v7();
        let content = Content {
            event_id: id,
            stream_type: "order",
            stream_id: "o-\"1\"",
            event_type: "OrderPlaced",
            event_version: 2,
            payload: &payload,
            metadata: &metadata,
        };
        let texts = |payload: &str| {
            hash_of_canonical_texts(
                &id.to_string(),
                "order",
                "o-\"1\"",
                "OrderPlaced",
                2,
                payload,
                &String::from_utf8(canonical_json(&metadata)).unwrap(),
            )
        };
        assert_eq!(
            texts(&String::from_utf8(canonical_json(&payload)).unwrap()),
            content.hash()
        );
        // Not canonical (a space, the keys' order): another hash, so the long way decides.
        assert_ne!(texts(r#"{"z": 1,"a":["é\n",{"b":null}]}"#), content.hash());
    }

    #[test]
    fn a_link_covers_the_previous_link_position_sequence_time_and_content() {
        let content = [7u8; 32];
        let base = link(&GENESIS, 1, 1, 1_000, &content);
        assert_ne!(base, link(&[1; 32], 1, 1, 1_000, &content));
        assert_ne!(base, link(&GENESIS, 2, 1, 1_000, &content));
        assert_ne!(base, link(&GENESIS, 1, 2, 1_000, &content));
        assert_ne!(base, link(&GENESIS, 1, 1, 1_001, &content));
        assert_ne!(base, link(&GENESIS, 1, 1, 1_000, &[8; 32]));
        assert_eq!(base, link(&GENESIS, 1, 1, 1_000, &content));
    }
}
