"""Schemathesis hooks for scripts/schemathesis.sh.

An Idempotency-Key reused with another body is refused with a 422 (docs/api.md), and
schemathesis draws keys from a small space, so that two different requests often share one.
A valid generated key gets a unique suffix (it stays valid: 1 to 200 visible ASCII
characters); an invalid one is sent as generated, so that its refusal is still checked.
"""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[!-~]{1,200}$")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and VALID_KEY.match(key):
        headers["Idempotency-Key"] = key[:168] + "-" + uuid.uuid4().hex
        case.headers = headers
