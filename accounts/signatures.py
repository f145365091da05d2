"""``X-Core-Signature``: how the portal and core banking sign what they send each other.

``t=<unix seconds>,v1=<hex>`` where ``<hex>`` is the HMAC-SHA256 of ``"<t>." + body`` keyed
with a shared secret (``docs/core-banking.openapi.yaml``). A receiver accepts any of its
configured secrets (two at once during a rotation) and refuses a timestamp more than five
minutes from its own clock, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Sequence

TOLERANCE_SECONDS = 300
HEADER = "X-Core-Signature"
# ASCII only: str.isdigit() would take "²", and compare_digest refuses non-ASCII text.
_DIGITS = re.compile(r"[0-9]{1,12}")
_HEX = re.compile(r"[0-9a-f]{64}")


class SignatureError(Exception):
    """Why a signature was refused, as an error code and a sentence for the sender."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _mac(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, secret: str, *, now: float | None = None) -> str:
    """The header value for ``body``, signed with ``secret`` at ``now`` (default: the clock)."""
    timestamp = int(time.time() if now is None else now)
    return f"t={timestamp},v1={_mac(secret, timestamp, body)}"


def verify(
    header: str, body: bytes, secrets: Sequence[str], *, now: float | None = None, tolerance: int = TOLERANCE_SECONDS
) -> None:
    """Return if ``header`` signs ``body`` with one of ``secrets`` within the window; else raise ``SignatureError``."""
    if not header.strip():
        raise SignatureError("SIGNATURE_MISSING", f"The {HEADER} header is missing.")
    timestamp: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        key, _sep, value = part.strip().partition("=")
        if key == "t" and _DIGITS.fullmatch(value):
            timestamp = int(value)
        elif key == "v1" and _HEX.fullmatch(value):
            macs.append(value)
    if timestamp is None or not macs:
        raise SignatureError(
            "SIGNATURE_INVALID", f"The {HEADER} header must read t=<unix seconds>,v1=<hex HMAC-SHA256>."
        )
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance:
        raise SignatureError(
            "SIGNATURE_EXPIRED",
            f"The signature's timestamp is more than {tolerance} seconds from our clock; sign the request again.",
        )
    for secret in secrets:
        expected = _mac(secret, timestamp, body).encode()
        if any(hmac.compare_digest(expected, given.encode()) for given in macs):
            return
    raise SignatureError("SIGNATURE_INVALID", "The signature does not match the body with any secret we hold.")
