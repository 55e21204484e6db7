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
  3. the Merkle root of the seal's range from that link and the audit path (RFC 6962 leaf and
     node hashes, RFC 9162 section 2.1.3.2's verification); it must be the seal's `root`, and
     for the seal's last event the link must be its `head`;
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


def hex32(value, name):
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise Refused(f"{name} is not hex") from None
    if len(raw) != 32:
        raise Refused(f"{name} is not 32 bytes")
    return raw


def b64(value, name, size):
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
    seal = proof["seal"]
    if seal.get("format") != SEAL_FORMAT:
        raise Refused(f"the seal's format is not {SEAL_FORMAT}")

    # 4. The seal: signed by the key given, over its own fields.
    if b64(seal["public_key"], "the seal's public_key", 32) != public_key:
        raise Refused("the seal is signed by another key than the one given")
    unsigned = {name: value for name, value in seal.items() if name != "signature"}
    signature = b64(seal["signature"], "the seal's signature", 64)
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, canonical(unsigned))
    except InvalidSignature:
        raise Refused("the seal's signature does not hold for its fields") from None

    # 1. and 2. The event's content hash and link.
    position, first, last = proof["position"], seal["first"], seal["last"]
    content = sha256(canonical(proof["event"]))
    link = sha256(
        hex32(proof["previous_link"], "previous_link"),
        be64(position),
        be64(proof["sequence"]),
        be64(proof["recorded_at_micros"]),
        content,
    )
    if link != hex32(proof["link"], "link"):
        raise Refused(
            f"the event's link is {link.hex()}, not the proof's {proof['link']}: the event, "
            "its position, stream version or time, or the link before it differ from what "
            "was linked"
        )

    # 3. The audit path, from the event's place in the seal's range to the seal's root.
    if not first <= position <= last:
        raise Refused(f"position {position} is outside the seal's range {first}..{last}")
    index, size = position - first, last - first + 1
    if (proof["leaf_index"], proof["tree_size"]) != (index, size):
        raise Refused("the leaf index or tree size does not follow from the positions")
    path = [hex32(sibling, "an audit path hash") for sibling in proof["audit_path"]]
    root = root_from_path(link, index, size, path)
    if root != hex32(seal["root"], "the seal's root"):
        raise Refused(
            f"the audit path leads to {root.hex()}, not to the seal's root {seal['root']}"
        )
    if position == last and link != hex32(seal["head"], "the seal's head"):
        raise Refused("the seal's last event is not its head")
    return (
        f"the proof holds: event {proof['event'].get('event_id')} at position {position} is "
        f"leaf {index} of {size} under seal {seal['number']} (positions {first}..{last}), "
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
    except (KeyError, TypeError, ValueError) as error:
        print(f"the proof does not hold: it is malformed ({error!r})", file=sys.stderr)
    except OSError as error:
        print(f"cannot read the proof: {error}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
