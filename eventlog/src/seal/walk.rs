//! The seals' check along the chain as [`crate::chain::check`] recomputes it: each seal by
//! itself (its number, range, chaining, key, signature, published copy), then its leaves, head
//! and Merkle root against the recomputed links of the events in its range.

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
/// position order, it finds each seal's range contiguous with the one before, and its number of
/// leaves, head and Merkle root equal to what the links of the events in its range give (a
/// position no event holds is no leaf). A seal's own faults (its number, its range, its
/// chaining to the previous seal, its key, its signature, a published copy that differs) are
/// found at once and reported where the walk reaches the seal, so that the first fault along
/// the log is the one reported.
#[derive(Debug)]
pub(crate) struct Walk {
    seals: Vec<Seal>,
    faults: Vec<Option<String>>,
    next: usize,
    /// The recomputed links of the events met so far in the range of seal `next`.
    links: Vec<Hash>,
    /// The position of the last of them.
    last_position: i64,
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
            last_position: 0,
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
        while let Some(seal) = self.seals.get(self.next) {
            if self.links.is_empty() {
                if let Some(fault) = &self.faults[self.next] {
                    return Err(self.broken(position, fault.clone()));
                }
                // The first seal starts at the chain's first event; each later one right after
                // the previous seal (its fault otherwise), where no event may be.
                if (self.next == 0 && position != seal.first) || position < seal.first {
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
            if position <= seal.last {
                self.links.push(*link);
                self.last_position = position;
                if position == seal.last {
                    self.close()?;
                }
                return Ok(());
            }
            // The seal's range ended on a position no event holds: it is held against the
            // events it had, and this event belongs to a later seal.
            self.close()?;
        }
        Ok(())
    }

    /// Holds seal `next` against the links of the events met in its range, and moves on.
    fn close(&mut self) -> Result<(), ChainBreak> {
        let seal = &self.seals[self.next];
        let root = integrity::merkle_root(&self.links);
        let mut differs = Vec::new();
        if let Some(link) = self.links.last().filter(|link| **link != seal.head) {
            differs.push(format!(
                "its head {} is not the link of position {} ({})",
                hex(&seal.head),
                self.last_position,
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
        let leaves = self.links.len();
        if i64::try_from(leaves).ok() != Some(seal.leaves) {
            differs.push(format!(
                "it counts {} leaves where its range holds {leaves} events",
                seal.leaves
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
    pub(crate) fn finish(mut self, checked_up_to: i64) -> Result<Sealed, ChainBreak> {
        // A seal whose range the check covered whole but whose last position held no event.
        if self
            .seals
            .get(self.next)
            .is_some_and(|seal| !self.links.is_empty() && seal.last <= checked_up_to)
        {
            self.close()?;
        }
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
    let positions = i128::from(seal.last) - i128::from(seal.first) + 1;
    if seal.leaves < 1 || i128::from(seal.leaves) > positions {
        return Some(format!(
            "counts {} leaves, which its {positions} positions cannot hold",
            seal.leaves
        ));
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
        "leaves",
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::seal::Covered;

    /// The seals over `ranges` (first, last, positions of the events in it), each chained to
    /// the one before, signed by `key`; the leaves' links are their positions' bytes.
    fn seals(key: &SigningKey, ranges: &[(i64, i64, &[i64])]) -> Vec<Seal> {
        let mut made: Vec<Seal> = Vec::new();
        for (number, (first, last, events)) in ranges.iter().enumerate() {
            let links: Vec<Hash> = events.iter().map(|p| link(*p)).collect();
            let covered = Covered {
                number: number as i64 + 1,
                first: *first,
                last: *last,
                leaves: events.len() as i64,
                head: links.last().copied().unwrap_or_default(),
                root: integrity::merkle_root(&links),
                sealed_at: 1,
            };
            let previous = made.last().map(|s| s.signature);
            made.push(Seal::sign(covered, previous, key));
        }
        made
    }

    fn link(position: i64) -> Hash {
        let mut link = [0; 32];
        link[..8].copy_from_slice(&position.to_be_bytes());
        link
    }

    /// The walk over `stored` fed the events at `positions`, finished at the last of them.
    fn walk(key: &SigningKey, stored: Vec<Seal>, positions: &[i64]) -> Result<Sealed, ChainBreak> {
        let trust = Trust {
            keys: vec![key.verifying_key()],
            published: Vec::new(),
        };
        let mut walk = Walk::new(stored, &trust);
        for position in positions {
            walk.linked(*position, &link(*position))?;
        }
        walk.finish(positions.last().copied().unwrap_or(0))
    }

    #[test]
    fn positions_no_event_holds_are_no_leaves_wherever_they_fall_in_a_range() {
        let key = SigningKey::from_bytes(&[1; 32]);
        // Holes inside seal 1, at seal 2's start, and (not made by the sealer, but taken) at
        // seal 2's end.
        let events = [1, 2, 5, 9, 10, 20];
        let stored = seals(
            &key,
            &[(1, 5, &[1, 2, 5]), (6, 12, &[9, 10]), (13, 20, &[20])],
        );
        let sealed = walk(&key, stored, &events).unwrap();
        assert_eq!(
            sealed,
            Sealed {
                seals: 3,
                up_to: Some(20)
            }
        );
    }

    #[test]
    fn a_seal_counting_other_leaves_than_its_range_holds_fails() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let mut covered = seals(&key, &[(1, 5, &[1, 2, 5])]);
        // Signed as counting 4 leaves, with the root of the 3 events.
        let mut claimed = Covered {
            number: 1,
            first: 1,
            last: 5,
            leaves: 4,
            head: covered[0].head,
            root: covered[0].root,
            sealed_at: 1,
        };
        covered[0] = Seal::sign(claimed, None, &key);
        let broken = walk(&key, covered, &[1, 2, 5, 6]).unwrap_err();
        assert_eq!(broken.position, 1);
        assert!(
            broken
                .reason
                .contains("it counts 4 leaves where its range holds 3 events"),
            "{broken:?}"
        );
        // An event of the range removed (and the chain recomputed): the root and count differ.
        let stored = seals(&key, &[(1, 5, &[1, 2, 5])]);
        let broken = walk(&key, stored, &[1, 5, 6]).unwrap_err();
        assert!(broken.reason.contains("its Merkle root"), "{broken:?}");
        assert!(broken.reason.contains("holds 2 events"), "{broken:?}");
        // A range with no event at all, between two that have.
        let stored = seals(&key, &[(1, 2, &[1, 2]), (3, 4, &[4]), (5, 6, &[6])]);
        let broken = walk(&key, stored, &[1, 2, 6]).unwrap_err();
        assert_eq!(broken.position, 3);
        assert!(broken.reason.starts_with("seal 2 "), "{broken:?}");
        assert!(broken.reason.contains("holds 0 events"), "{broken:?}");
        // A count its range cannot hold is the seal's own fault.
        claimed.leaves = 6;
        let stored = vec![Seal::sign(claimed, None, &key)];
        let broken = walk(&key, stored, &[1, 2, 5]).unwrap_err();
        assert!(
            broken
                .reason
                .contains("counts 6 leaves, which its 5 positions cannot hold"),
            "{broken:?}"
        );
    }

    #[test]
    fn a_seal_whose_last_events_are_gone_goes_beyond_the_chain() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let stored = seals(&key, &[(1, 5, &[1, 2, 5])]);
        let broken = walk(&key, stored, &[1, 2]).unwrap_err();
        assert!(
            broken
                .reason
                .contains("goes beyond the chain's last link, at position 2"),
            "{broken:?}"
        );
    }
}
