//! The inclusion proof of one event (issue 18): what an auditor needs to check, with nothing but
//! the service's public key, that the event is in the log as it was sealed. The event's fields
//! as the chain hashes them give its content hash; with the link before it, its position,
//! stream version and time they give its link; the audit path takes that link to the Merkle
//! root over the links of the events in its seal's range (RFC 6962), where its leaf is its rank
//! among them (on PostgreSQL a range may hold positions no event has); the seal signs that root
//! (docs/audit.md, and `scripts/verify_proof.py`, which checks a proof independently).

use uuid::Uuid;

use crate::{
    chain,
    error::StorageError,
    integrity::{self, Hash},
    seal::{self, Seal},
    EventLog,
};

/// An event's inclusion proof.
#[derive(Debug, Clone, PartialEq)]
pub struct Proof {
    /// The event's fields as hashed into its content hash: `event_id`, `stream_type`,
    /// `stream_id`, `event_type`, `event_version`, `payload` and `metadata`, as stored (personal
    /// fields sealed, as the log holds them).
    pub event: serde_json::Value,
    /// Its position.
    pub position: i64,
    /// Its stream version.
    pub sequence: i64,
    /// Its time, in microseconds since the Unix epoch.
    pub recorded_at: i64,
    /// The link of the event before it (32 zero bytes before the chain's first).
    pub previous_link: Hash,
    /// Its link, as stored.
    pub link: Hash,
    /// Its leaf's index in the seal's tree: the number of events before it in the seal's range.
    pub leaf_index: u64,
    /// The seal's tree size: its `leaves`, the events in its range.
    pub tree_size: u64,
    /// The sibling hashes from its leaf up to the root (RFC 6962).
    pub audit_path: Vec<Hash>,
    /// The seal over its range.
    pub seal: Seal,
}

/// What a proof of one event comes to.
#[derive(Debug, Clone, PartialEq)]
pub enum Proven {
    /// The proof.
    Proof(Box<Proof>),
    /// No event has that id.
    NoSuchEvent,
    /// The event is not sealed yet: it is at `position`, and the seals reach `sealed_up_to`.
    NotSealedYet {
        /// The event's position.
        position: i64,
        /// The last sealed position (none: no seal yet).
        sealed_up_to: Option<i64>,
    },
    /// The event, at this position, is from before the chain began (SQLite events written
    /// before migration 0032, which have no link): no seal covers it, nor ever will.
    BeforeTheChain(i64),
}

/// The inclusion proof of the event with id `event_id`, read from the log's own rows.
pub async fn prove(log: &EventLog, event_id: Uuid) -> Result<Proven, StorageError> {
    let Some(event) = chain::as_hashed(log, event_id).await? else {
        return Ok(Proven::NoSuchEvent);
    };
    let position = event.position;
    let Some(seal) = seal::covering(log, position).await? else {
        let sealed_up_to = seal::last(log).await?.map(|s| s.last);
        // On SQLite the append links every event: one without a link never will be (on
        // PostgreSQL the chainer has not reached it yet).
        let unlinked = event.link.is_none() && matches!(log, EventLog::Sqlite(_));
        if unlinked || sealed_up_to.is_some_and(|last| last >= position) {
            return Ok(Proven::BeforeTheChain(position));
        }
        return Ok(Proven::NotSealedYet {
            position,
            sealed_up_to,
        });
    };
    let leaves = seal::links(log, seal.first, seal.last).await?;
    let corrupt = |reason: &str| StorageError::Corrupt {
        position,
        reason: reason.to_owned(),
    };
    if i64::try_from(leaves.links.len()).ok() != Some(seal.leaves) {
        return Err(StorageError::Corrupt {
            position: seal.first,
            reason: format!(
                "seal {} counts {} leaves where its range holds {} links",
                seal.number,
                seal.leaves,
                leaves.links.len()
            ),
        });
    }
    // Its leaf: its rank among the events of the range, not its distance from `first`.
    let index = leaves
        .positions
        .binary_search(&position)
        .map_err(|_| corrupt("it has no link in its seal's range"))?;
    let link = event
        .link
        .and_then(|bytes| Hash::try_from(bytes).ok())
        .ok_or_else(|| corrupt("it has no link of 32 bytes"))?;
    let previous_link = if index > 0 {
        leaves.links[index - 1]
    } else if seal.number == 1 {
        integrity::GENESIS
    } else {
        seal::link_before(log, position)
            .await?
            .ok_or_else(|| corrupt("the event before it has no link"))?
    };
    Ok(Proven::Proof(Box::new(Proof {
        event: event.content,
        position,
        sequence: event.sequence,
        recorded_at: event.recorded_at,
        previous_link,
        link,
        leaf_index: index as u64,
        tree_size: leaves.links.len() as u64,
        audit_path: integrity::inclusion_proof(&leaves.links, index),
        seal,
    })))
}
