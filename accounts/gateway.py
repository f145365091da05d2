"""The core-banking gateway: activate a card, ask for its status.

Two backends, chosen with ``CORE_GATEWAY`` in settings:

* ``simulated`` (default): deterministic for a given seed, with fault injection read from the
  database (``SimulatorFault`` rows, edited in the admin or with ``manage.py simulate_fault``):
  a failure rate per product or channel, timeouts, extra latency, and the named
  ``configuration_fault`` scenario that fails every activation on one channel. A batch asks
  for ``get_gateway(for_batch=True)``: the faults are then read once for its many calls.
* ``http``: a JSON API of a real core-banking system, with timeouts and retries on 5xx and
  timeouts only.

Both raise ``TransientGatewayError`` (worth retrying) or ``PermanentGatewayError`` (not).
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from accounts.models import SimulatorFault


class GatewayError(Exception):
    """A refused or failed call; ``code`` is core banking's error code (or ours)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TransientGatewayError(GatewayError):
    """Timeouts, overload, 5xx: the same call may work later."""


class PermanentGatewayError(GatewayError):
    """A configuration or data problem: retrying will not help."""


@dataclass(frozen=True)
class CardStatus:
    account_number: str
    active: bool
    detail: str = ""


class Gateway(Protocol):
    def activate_card(self, account_number: str, *, product: str, channel: str, attempt: int) -> None: ...

    def card_status(self, account_number: str) -> CardStatus: ...


# --- simulated -------------------------------------------------------------------------------


def _draw(seed: str, *parts: object) -> float:
    """A number in [0, 1) fixed by the seed and the parts: the same call always draws the same."""
    digest = hashlib.sha256("|".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class SimulatedGateway:
    """Deterministic stand-in for core banking, for demos, tests and drills.

    Without ``faults`` every call reads the active ``SimulatorFault`` rows, so a fault switched
    on in the admin applies at once; with ``faults`` (``preloaded()``, for a batch that calls
    many times in one transaction) the calls use those rows and query nothing.
    """

    def __init__(self, seed: str | None = None, *, faults: Sequence[SimulatorFault] | None = None) -> None:
        self.seed = seed or settings.CORE_GATEWAY_SEED
        self.faults = list(faults) if faults is not None else None

    @classmethod
    def preloaded(cls, seed: str | None = None) -> SimulatedGateway:
        """A gateway holding the faults active now: one query, however many calls follow."""
        from accounts.models import SimulatorFault

        return cls(seed, faults=list(SimulatorFault.objects.filter(active=True)))

    def _faults(self, product: str, channel: str) -> list[SimulatorFault]:
        if self.faults is None:
            from accounts.models import SimulatorFault

            return list(SimulatorFault.objects.active_for(product=product, channel=channel))
        # The same rule as ``SimulatorFaultQuerySet.active_for``, in the same (name) order.
        return [
            fault
            for fault in self.faults
            if fault.active and fault.product in ("", product) and fault.channel in ("", channel)
        ]

    def activate_card(self, account_number: str, *, product: str, channel: str, attempt: int) -> None:
        for fault in self._faults(product, channel):
            if fault.latency_ms:
                time.sleep(fault.latency_ms / 1000)
            if fault.scenario == "configuration_fault":
                raise PermanentGatewayError(
                    "CFG-CHANNEL-MISSING", f"product {product} is not configured on channel {channel}"
                )
            if _draw(self.seed, "timeout", account_number, attempt) < fault.timeout_rate:
                raise TransientGatewayError("CB-TIMEOUT", "core banking did not answer in time")
            if _draw(self.seed, "fail", account_number) < fault.failure_rate:
                raise PermanentGatewayError("CB-4031", "card activation refused by core banking")

    def card_status(self, account_number: str) -> CardStatus:
        from accounts.models import LoanAccount, State

        account = LoanAccount.objects.filter(number=account_number).only("state").first()
        if account is None:
            raise PermanentGatewayError("CB-404", f"no card for account {account_number}")
        return CardStatus(account_number, account.state == State.ACTIVE)


# --- HTTP ------------------------------------------------------------------------------------


class HttpGateway:
    """A real core-banking JSON API: ``POST {base}/cards/{number}/activate``, ``GET {base}/cards/{number}``."""

    def __init__(
        self, base_url: str | None = None, *, timeout: float | None = None, retries: int | None = None
    ) -> None:
        self.base_url = (base_url or settings.CORE_GATEWAY_URL).rstrip("/")
        if not self.base_url:
            raise ImproperlyConfigured("CORE_GATEWAY=http needs CORE_GATEWAY_URL, e.g. https://core.bank.internal/api.")
        self.timeout = timeout if timeout is not None else settings.CORE_GATEWAY_TIMEOUT
        self.retries = retries if retries is not None else settings.CORE_GATEWAY_RETRIES

    def _call(self, method: str, path: str, body: dict[str, object] | None = None) -> dict[str, object]:
        data = json.dumps(body).encode() if body is not None else None
        last: GatewayError | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(min(0.2 * 2**attempt, 2))
            request = urllib.request.Request(  # noqa: S310 - the URL comes from our own settings
                self.base_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    payload = response.read()
                    return json.loads(payload) if payload else {}
            except urllib.error.HTTPError as exc:
                detail = _error_body(exc)
                code = str(detail.get("code") or f"HTTP-{exc.code}")
                message = str(detail.get("message") or exc.reason)
                if exc.code >= 500:
                    last = TransientGatewayError(code, message)
                    continue
                raise PermanentGatewayError(code, message) from None
            except (TimeoutError, urllib.error.URLError) as exc:
                reason = getattr(exc, "reason", exc)
                last = TransientGatewayError(
                    "CB-TIMEOUT" if "timed out" in str(reason) else "CB-UNREACHABLE", str(reason)
                )
                continue
            except json.JSONDecodeError:
                raise PermanentGatewayError(
                    "CB-BAD-RESPONSE", "core banking answered with something that is not JSON"
                ) from None
        assert last is not None
        raise last

    def activate_card(self, account_number: str, *, product: str, channel: str, attempt: int) -> None:
        self._call(
            "POST", f"/cards/{account_number}/activate", {"product": product, "channel": channel, "attempt": attempt}
        )

    def card_status(self, account_number: str) -> CardStatus:
        payload = self._call("GET", f"/cards/{account_number}")
        return CardStatus(account_number, bool(payload.get("active")), str(payload.get("detail", "")))


def _error_body(exc: urllib.error.HTTPError) -> dict[str, object]:
    try:
        body = json.loads(exc.read() or b"{}")
    except (json.JSONDecodeError, OSError):
        return {}
    return body if isinstance(body, dict) else {}


BACKENDS = {"simulated": "accounts.gateway.SimulatedGateway", "http": "accounts.gateway.HttpGateway"}


@cache
def _backend_class(name: str) -> type:
    try:
        return import_string(BACKENDS[name])
    except KeyError:
        raise ImproperlyConfigured(f"CORE_GATEWAY={name!r} is not a gateway; use simulated or http.") from None


def get_gateway(*, for_batch: bool = False) -> Gateway:
    """The configured backend.

    ``for_batch``: the caller is about to make many calls in one transaction (a reactivation
    batch's micro-batch), so the simulated backend reads its faults once, now; a fault switched
    on meanwhile applies from the next micro-batch. The HTTP backend is the same either way.
    """
    backend = _backend_class(settings.CORE_GATEWAY)
    if for_batch and issubclass(backend, SimulatedGateway):
        return backend.preloaded()
    gateway: Gateway = backend()
    return gateway
