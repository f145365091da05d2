"""``X-Core-Signature``: the HMAC scheme both directions of the contract use.

``t=<unix seconds>,v1=<hex>[,v1=<hex>]`` where each ``<hex>`` is HMAC-SHA256, keyed with a shared
secret, of ``b"<t>." + raw body``. The timestamp is inside the MAC so an old request cannot be
replayed outside the 300-second window; several ``v1`` values (and several accepted secrets)
let the two sides rotate a secret without a moment where they disagree.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Sequence

HEADER = "X-Core-Signature"
TOLERANCE_SECONDS = 300
_TIMESTAMP = re.compile(r"[0-9]{1,15}")


class SignatureError(Exception):
    """A refused signature; ``code`` is ``SIGNATURE_MISSING``, ``SIGNATURE_INVALID`` or ``SIGNATURE_EXPIRED``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_secrets(value: str | Iterable[str]) -> tuple[str, ...]:
    """Secrets from a comma-separated setting (blank entries dropped), in the order given."""
    items = value.split(",") if isinstance(value, str) else value
    return tuple(item.strip() for item in items if item and item.strip())


def digest(secret: str | bytes, timestamp: int, body: bytes) -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(key, f"{timestamp}.".encode("ascii") + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secrets: str | Sequence[str], *, timestamp: int | None = None, every_secret: bool = False) -> str:
    """The header value for ``body``: signed with the first secret (or with each, during a rotation)."""
    chosen = [secrets] if isinstance(secrets, str) else list(secrets)
    if not chosen:
        raise ValueError("no secret to sign with")
    t = int(time.time()) if timestamp is None else timestamp
    used = chosen if every_secret else chosen[:1]
    return ",".join([f"t={t}", *(f"v1={digest(secret, t, body)}" for secret in used)])


def verify(
    header: str | None,
    body: bytes,
    secrets: Sequence[str | bytes],
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Accept a header that one configured secret produced within ``tolerance`` seconds, or raise."""
    if not header or not header.strip():
        raise SignatureError("SIGNATURE_MISSING", f"the {HEADER} header is missing")
    timestamp: int | None = None
    candidates: list[bytes] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            raise SignatureError("SIGNATURE_INVALID", f"{HEADER} is malformed: expected t=<unix>,v1=<hex>")
        if key == "t":
            if timestamp is not None or not _TIMESTAMP.fullmatch(value):
                raise SignatureError("SIGNATURE_INVALID", f"{HEADER} has a malformed timestamp")
            timestamp = int(value)
        elif key == "v1":
            # latin-1 can encode every header character WSGI hands over; compare bytes in constant time.
            candidates.append(value.strip().lower().encode("latin-1", "replace"))
    if timestamp is None or not candidates:
        raise SignatureError("SIGNATURE_INVALID", f"{HEADER} needs a t= timestamp and at least one v1= signature")
    expected = [digest(secret, timestamp, body).encode("ascii") for secret in secrets]
    matched = False
    for candidate in candidates:
        for wanted in expected:
            # No early exit: the time taken does not depend on which secret or candidate matched.
            matched |= hmac.compare_digest(candidate, wanted)
    if not matched:
        raise SignatureError("SIGNATURE_INVALID", f"{HEADER} does not match the body with any accepted secret")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(
            "SIGNATURE_EXPIRED", f"{HEADER} timestamp is {int(current - timestamp)} s away from core's clock"
        )
