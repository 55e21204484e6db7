//! The seals' check along the chain as [`crate::chain::check`] recomputes it: each seal by
//! itself (its number, range, chaining, key, signature, published copy), then its head and
//! Merkle root against the recomputed links of its range.

use base64::{engine::general_purpose::STANDARD as BASE64, Engine as _};
use ed25519_dalek::VerifyingKey;

use super::{hex, Seal};
use crate::{
    chain::ChainBreak,
    integrity::{self, Hash},
};

/// What a check of the seals trusts, and what it compares the stored seals with.
#[derive(Debug, Clone, Default)]
pub struct Trust {
    /// The public keys a seal may be signed with: the service's own and any trusted before
    /// (a rotated key still vouches for the seals it signed).
    pub keys: Vec<VerifyingKey>,
    /// The seals as published outside the database (the seals file), where at hand: each must
    /// be stored as published, and none may be missing from the table.
    pub published: Vec<Seal>,
}

/// The seals' check along the chain: fed each linked event's position and recomputed link in
/// position order, it finds each seal's range contiguous with the one before and its head and
/// Merkle root equal to what the links give. A seal's own faults (its number, its range, its
/// chaining to the previous seal, its key, its signature, a published copy that differs) are
/// found at once and reported where the walk reaches the seal, so that the first fault along
/// the log is the one reported.
#[derive(Debug)]
pub(crate) struct Walk {
    seals: Vec<Seal>,
    faults: Vec<Option<String>>,
    next: usize,
    links: Vec<Hash>,
}

/// What the walk found sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sealed {
    /// Seals checked.
    pub seals: u64,
    /// The last sealed position.
    pub up_to: Option<i64>,
}

impl Walk {
    /// A walk over `stored`, as `trust` says.
    pub(crate) fn new(stored: Vec<Seal>, trust: &Trust) -> Self {
        let (trusted, published) = (&trust.keys, &trust.published);
        let mut faults: Vec<Option<String>> = Vec::with_capacity(stored.len());
        for (i, seal) in stored.iter().enumerate() {
            let previous = i.checked_sub(1).map(|p| &stored[p]);
            let copy = published.iter().find(|p| p.number == seal.number);
            faults.push(fault(seal, previous, i, trusted, copy));
        }
        let mut seals = stored;
        let last = seals.last().map_or(0, |s| s.number);
        for lost in published.iter().filter(|p| p.number > last) {
            seals.push(lost.clone());
            faults.push(Some(
                "is published (the seals file) but not stored: stored seals were removed"
                    .to_owned(),
            ));
        }
        Self {
            seals,
            faults,
            next: 0,
            links: Vec::new(),
        }
    }

    fn broken(&self, position: i64, what: String) -> ChainBreak {
        let seal = &self.seals[self.next];
        ChainBreak {
            position,
            reason: format!(
                "seal {} (positions {}..={}) {what}",
                seal.number, seal.first, seal.last
            ),
        }
    }

    /// The event at `position`, whose link the chain's check recomputed as `link`.
    pub(crate) fn linked(&mut self, position: i64, link: &Hash) -> Result<(), ChainBreak> {
        let Some(seal) = self.seals.get(self.next) else {
            return Ok(());
        };
        if self.links.is_empty() {
            if let Some(fault) = &self.faults[self.next] {
                return Err(self.broken(position, fault.clone()));
            }
            if position != seal.first {
                let what = format!(
                    "does not start at position {position}, the first after {}",
                    match self.next {
                        0 => "the chain's start".to_owned(),
                        _ => "the previous seal".to_owned(),
                    }
                );
                return Err(self.broken(position, what));
            }
        }
        self.links.push(*link);
        if position < seal.last {
            return Ok(());
        }
        let root = integrity::merkle_root(&self.links);
        let mut differs = Vec::new();
        if *link != seal.head {
            differs.push(format!(
                "its head {} is not the link of position {} ({})",
                hex(&seal.head),
                seal.last,
                hex(link)
            ));
        }
        if root != seal.root {
            differs.push(format!(
                "its Merkle root {} is not the root over the links of its range ({})",
                hex(&seal.root),
                hex(&root)
            ));
        }
        if !differs.is_empty() {
            let what = format!(
                "does not match the chain: {}: an event in its range, or before it, was \
                 changed and the links after it recomputed",
                differs.join("; ")
            );
            return Err(self.broken(seal.first, what));
        }
        self.next += 1;
        self.links.clear();
        Ok(())
    }

    /// The walk is over: the chain was checked up to `checked_up_to`.
    pub(crate) fn finish(self, checked_up_to: i64) -> Result<Sealed, ChainBreak> {
        if let Some(seal) = self.seals.get(self.next) {
            let what = match &self.faults[self.next] {
                Some(fault) if self.links.is_empty() => fault.clone(),
                _ => format!("goes beyond the chain's last link, at position {checked_up_to}"),
            };
            return Err(self.broken(seal.first, what));
        }
        Ok(Sealed {
            seals: self.next as u64,
            up_to: self.seals.last().map(|s| s.last),
        })
    }
}

/// What is wrong with `seal` by itself, the `index`th stored, after `previous`.
fn fault(
    seal: &Seal,
    previous: Option<&Seal>,
    index: usize,
    trusted: &[VerifyingKey],
    copy: Option<&Seal>,
) -> Option<String> {
    let expected_number = index as i64 + 1;
    if seal.number != expected_number {
        return Some(format!(
            "is numbered {} where {expected_number} comes: a seal before it was removed",
            seal.number
        ));
    }
    if seal.last < seal.first {
        return Some("ends before it starts".to_owned());
    }
    if let Some(previous) = previous {
        if seal.first != previous.last + 1 {
            return Some(format!(
                "does not follow seal {}, which ends at position {}",
                previous.number, previous.last
            ));
        }
    }
    if seal.previous_signature != previous.map(|p| p.signature) {
        return Some("does not carry the previous seal's signature".to_owned());
    }
    let Some(key) = trusted.iter().find(|k| k.to_bytes() == seal.public_key) else {
        return Some(format!(
            "is signed by a key that is not trusted ({})",
            BASE64.encode(seal.public_key)
        ));
    };
    if !seal.signed_by(key) {
        return Some(
            "has a signature that does not hold for its fields: it was changed after it was \
             signed"
                .to_owned(),
        );
    }
    match copy {
        Some(copy) if copy != seal => Some(format!(
            "differs from its published copy (the seals file): {}",
            differences(seal, copy).join(", ")
        )),
        _ => None,
    }
}

/// The names of the fields in which `a` and `b` differ.
fn differences(a: &Seal, b: &Seal) -> Vec<&'static str> {
    let (a, b) = (a.to_json(), b.to_json());
    [
        "first",
        "last",
        "head",
        "root",
        "sealed_at",
        "public_key",
        "previous_signature",
        "signature",
    ]
    .into_iter()
    .filter(|name| a[*name] != b[*name])
    .collect()
}
