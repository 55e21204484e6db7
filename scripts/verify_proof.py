#!/usr/bin/env python3
"""Checks an inclusion proof of backoffice's audit trail without the service (docs/audit.md).

Usage: verify_proof.py PROOF.json PUBLIC_KEY
  PROOF.json  the answer of GET /api/v1/audit/proof/{event_id} ("-": standard input)
  PUBLIC_KEY  the service's Ed25519 seal public key, base64 of its 32 bytes, obtained apart
              from the proof (the proof names a key too; it must be this one)

It recomputes, from the proof alone:
  1. the event's content hash: SHA-256 of the canonical JSON of `event` (keys sorted, no
     whitespace: what json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
     writes);
  2. its link: SHA-256 of previous_link | position | sequence | recorded_at_micros | content,
     the integers as 8-byte big-endian signed; it must be the proof's `link`;
  3. the Merkle root of the seal's tree from that link at leaf `leaf_index` of the seal's
     `leaves` (the proof's `tree_size` must be that number) and the audit path (RFC 6962 leaf
     and node hashes, RFC 9162 section 2.1.3.2's verification); it must be the seal's `root`,
     and for the seal's last leaf the link must be its `head`. The leaves are the links of the
     events in the seal's positions `first..last`, in order (a position no event holds is no
     leaf), so the leaf index is the event's rank there, not its distance from `first`: the
     link binds the position, which must be within the range, and the root binds the index;
  4. the seal's Ed25519 signature over the canonical JSON of the seal without `signature`.

Exit status 0 when every step holds, 1 when one does not (the reason on standard error), 2 for
wrong usage. Needs Python 3 and `cryptography` (PyPI) for Ed25519; nothing else.
"""

import base64
import binascii
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SEAL_FORMAT = "backoffice/audit-seal/1"


class Refused(Exception):
    """The proof does not hold; the message says where."""


def canonical(value):
    """The canonical JSON bytes of a value (integers, strings, booleans, null, lists, objects)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def sha256(*parts):
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.digest()


def be64(number):
    return int(number).to_bytes(8, "big", signed=True)


def integer(value, name):
    """`value` if it is an integer that fits in 8 signed bytes (JSON true and false are not)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Refused(f"{name} is not an integer")
    if not -(2**63) <= value < 2**63:
        raise Refused(f"{name} is out of range")
    return value


def field(value, key, name):
    """`value[key]`, `value` being an object (named `name`)."""
    if not isinstance(value, dict):
        raise Refused(f"{name} is not an object")
    if key not in value:
        raise Refused(f"{name} has no `{key}`")
    return value[key]


def hex32(value, name):
    if not isinstance(value, str):
        raise Refused(f"{name} is not a string")
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise Refused(f"{name} is not hex") from None
    if len(raw) != 32:
        raise Refused(f"{name} is not 32 bytes")
    return raw


def b64(value, name, size):
    if not isinstance(value, str):
        raise Refused(f"{name} is not a string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (TypeError, ValueError, binascii.Error):
        raise Refused(f"{name} is not base64") from None
    if len(raw) != size:
        raise Refused(f"{name} is not {size} bytes")
    return raw


def root_from_path(link, index, size, path):
    """The root the audit path gives for `link` at leaf `index` of `size` (RFC 9162 2.1.3.2)."""
    if index >= size:
        raise Refused(f"leaf index {index} is outside a tree of {size}")
    fn, sn = index, size - 1
    node = sha256(b"\x00", link)
    for sibling in path:
        if sn == 0:
            raise Refused("the audit path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            node = sha256(b"\x01", sibling, node)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            node = sha256(b"\x01", node, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Refused("the audit path is shorter than the tree is deep")
    return node


def check(proof, public_key):
    """What the proof shows, or Refused."""
    seal = field(proof, "seal", "the proof")
    event = field(proof, "event", "the proof")
    if not isinstance(event, dict):
        raise Refused("the proof's event is not an object")
    if field(seal, "format", "the proof's seal") != SEAL_FORMAT:
        raise Refused(f"the seal's format is not {SEAL_FORMAT}")

    # 4. The seal: signed by the key given, over its own fields.
    if b64(field(seal, "public_key", "the seal"), "the seal's public_key", 32) != public_key:
        raise Refused("the seal is signed by another key than the one given")
    unsigned = {name: value for name, value in seal.items() if name != "signature"}
    signature = b64(field(seal, "signature", "the seal"), "the seal's signature", 64)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, canonical(unsigned))
    except InvalidSignature:
        raise Refused("the seal's signature does not hold for its fields") from None

    # 1. and 2. The event's content hash and link.
    position = integer(field(proof, "position", "the proof"), "the proof's position")
    first = integer(field(seal, "first", "the seal"), "the seal's first")
    last = integer(field(seal, "last", "the seal"), "the seal's last")
    content = sha256(canonical(event))
    link = sha256(
        hex32(field(proof, "previous_link", "the proof"), "previous_link"),
        be64(position),
        be64(integer(field(proof, "sequence", "the proof"), "the proof's sequence")),
        be64(
            integer(
                field(proof, "recorded_at_micros", "the proof"), "the proof's recorded_at_micros"
            )
        ),
        content,
    )
    if link != hex32(field(proof, "link", "the proof"), "link"):
        raise Refused(
            f"the event's link is {link.hex()}, not the proof's {proof['link']}: the event, "
            "its position, stream version or time, or the link before it differ from what "
            "was linked"
        )

    # 3. The audit path, from the event's leaf in the seal's tree to the seal's root. The tree
    # has the seal's (signed) number of leaves; the leaf index is the event's rank in the range,
    # which the root checks (the link already binds the position).
    if not first <= position <= last:
        raise Refused(f"position {position} is outside the seal's range {first}..{last}")
    size = integer(field(seal, "leaves", "the seal"), "the seal's leaves")
    if not 1 <= size <= last - first + 1:
        raise Refused(f"the seal's {size} leaves do not fit its range {first}..{last}")
    if integer(field(proof, "tree_size", "the proof"), "the proof's tree_size") != size:
        raise Refused(
            f"the proof's tree_size {proof['tree_size']} is not the seal's {size} leaves"
        )
    index = integer(field(proof, "leaf_index", "the proof"), "the proof's leaf_index")
    if not 0 <= index < size:
        raise Refused(f"leaf index {index} is outside a tree of {size}")
    if position == last and index != size - 1:
        raise Refused("the seal's last position is not its last leaf")
    path = field(proof, "audit_path", "the proof")
    if not isinstance(path, list):
        raise Refused("the proof's audit_path is not a list")
    path = [hex32(sibling, "an audit path hash") for sibling in path]
    root = root_from_path(link, index, size, path)
    if root != hex32(field(seal, "root", "the seal"), "the seal's root"):
        raise Refused(
            f"the audit path leads to {root.hex()}, not to the seal's root {seal['root']}"
        )
    if index == size - 1 and link != hex32(field(seal, "head", "the seal"), "the seal's head"):
        raise Refused("the seal's last event is not its head")
    return (
        f"the proof holds: event {event.get('event_id')} at position {position} is "
        f"leaf {index} of {size} under seal {seal.get('number')} (positions {first}..{last}), "
        f"signed by {seal['public_key']}"
    )


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        public_key = b64(argv[2].strip(), "PUBLIC_KEY", 32)
        if argv[1] == "-":
            proof = json.load(sys.stdin)
        else:
            with open(argv[1], encoding="utf-8") as file:
                proof = json.load(file)
        print(check(proof, public_key))
        return 0
    except Refused as refused:
        print(f"the proof does not hold: {refused}", file=sys.stderr)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as error:
        print(f"the proof does not hold: it is malformed ({error!r})", file=sys.stderr)
    except OSError as error:
        print(f"cannot read the proof: {error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
