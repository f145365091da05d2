"""The client side of the core-banking contract (``docs/core-banking.openapi.yaml``).

``get_gateway()`` returns the backend named by ``CORE_GATEWAY``:

* ``http``: core banking over HTTP (the bank's system, or the reference service that
  ``make run`` starts). Requests are signed (``X-Core-Signature``), writes carry the command's
  ``Idempotency-Key``, the connection is kept alive between calls.
* ``simulated``: an in-process stand-in with the same rules, for unit tests only. It holds its
  cards in memory (per process) and can be told to fail; production refuses it at start-up.

A call answers a ``CoreAnswer``, or raises ``TransientGatewayError`` (a timeout, 5xx, a key
still in use: the same request may work later) or ``PermanentGatewayError`` (core refused;
retrying will not change that). Nothing here retries: the outbox does, with the same key.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any, Protocol

import httpx
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from accounts.signatures import HEADER, sign

TRANSIENT_STATUSES = frozenset({408, 429})
IN_USE = "IDEMPOTENCY_KEY_IN_USE"


class GatewayError(Exception):
    """A failed call; ``code`` is core banking's error code (or ours for the transport)."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


class TransientGatewayError(GatewayError):
    """Timeouts, overload, 5xx: the same request may work later."""


class PermanentGatewayError(GatewayError):
    """Core banking refused the request; retrying it will not help."""


@dataclass(frozen=True)
class CoreRequest:
    """One request of the contract, exactly as it is sent every time."""

    method: str
    path: str
    body: Mapping[str, Any] | None = None
    idempotency_key: str = ""


@dataclass(frozen=True)
class CoreAnswer:
    status: int
    body: dict[str, Any]
    replayed: bool = False


@dataclass(frozen=True)
class CoreCard:
    """A card as core banking holds it (the contract's ``Card``)."""

    token: str
    account_number: str
    state: str
    credit_limit: Decimal
    usable_limit: Decimal

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CoreCard:
        return cls(
            token=str(data["token"]),
            account_number=str(data["account_number"]),
            state=str(data["state"]),
            credit_limit=Decimal(str(data["credit_limit"])),
            usable_limit=Decimal(str(data["usable_limit"])),
        )


@dataclass(frozen=True)
class CardPage:
    cards: list[CoreCard]
    next_cursor: str
    is_more: bool


class Gateway(Protocol):
    def send(self, request: CoreRequest) -> CoreAnswer: ...

    def card(self, token: str) -> CoreCard | None: ...

    def changed_cards(self, cursor: str, count: int) -> CardPage: ...


def _error_from(status: int, body: Any) -> GatewayError:
    detail = body if isinstance(body, dict) else {}
    code = str(detail.get("error_code") or f"HTTP-{status}")[:60]
    message = str(detail.get("error_message") or "core banking answered without an explanation")[:300]
    if status >= 500 or status in TRANSIENT_STATUSES or code == IN_USE:
        return TransientGatewayError(code, message, status=status)
    return PermanentGatewayError(code, message, status=status)


# --- HTTP ------------------------------------------------------------------------------------


class HttpGateway:
    """Core banking over HTTP, signed, with one kept-alive connection pool per process.

    Safe to call from several threads at once (``concurrent``): the pool hands each request a
    connection of its own; the delivery job uses that to keep a few requests on their way.
    """

    concurrent = True
    _clients: dict[tuple[str, float], httpx.Client] = {}
    _lock = threading.Lock()

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = (base_url or settings.CORE_GATEWAY_URL).rstrip("/")
        if not self.base_url:
            raise ImproperlyConfigured("CORE_GATEWAY=http needs CORE_GATEWAY_URL, e.g. https://core.bank.internal.")
        self.timeout = timeout if timeout is not None else settings.CORE_GATEWAY_TIMEOUT
        self.secret = settings.CORE_API_SECRETS[0]
        # A transport of its own (tests): a client of its own, not the shared pool.
        self.transport = transport

    def _client(self) -> httpx.Client:
        if self.transport is not None:
            return httpx.Client(base_url=self.base_url, timeout=self.timeout, transport=self.transport)
        key = (self.base_url, self.timeout)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = httpx.Client(
                    base_url=self.base_url,
                    timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 3.0)),
                    headers={"User-Agent": "activation-desk"},
                )
                self._clients[key] = client
            return client

    def _call(self, request: CoreRequest) -> CoreAnswer:
        content = b"" if request.body is None else json.dumps(request.body, separators=(",", ":")).encode()
        headers = {HEADER: sign(content, self.secret)}
        if request.body is not None:
            headers["Content-Type"] = "application/json"
        if request.idempotency_key:
            headers["Idempotency-Key"] = request.idempotency_key
        try:
            response = self._client().request(request.method, request.path, content=content or None, headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientGatewayError("CB-TIMEOUT", f"core banking did not answer in time ({exc})") from None
        except httpx.TransportError as exc:
            raise TransientGatewayError("CB-UNREACHABLE", f"core banking could not be reached ({exc})") from None
        try:
            body = response.json() if response.content else {}
        except ValueError:
            raise TransientGatewayError(
                "CB-BAD-RESPONSE", f"core banking answered {response.status_code} with something that is not JSON"
            ) from None
        if response.status_code >= 300:
            raise _error_from(response.status_code, body)
        if not isinstance(body, dict):
            raise TransientGatewayError("CB-BAD-RESPONSE", "core banking answered with JSON that is not an object")
        return CoreAnswer(response.status_code, body, replayed=response.headers.get("Idempotent-Replayed") == "true")

    def send(self, request: CoreRequest) -> CoreAnswer:
        return self._call(request)

    def card(self, token: str) -> CoreCard | None:
        try:
            answer = self._call(CoreRequest("GET", f"/v1/cards/{token}"))
        except PermanentGatewayError as exc:
            if exc.status == 404:
                return None
            raise
        return CoreCard.from_json(answer.body)

    def changed_cards(self, cursor: str, count: int) -> CardPage:
        answer = self._call(CoreRequest("GET", f"/v1/cards?changed_since={cursor}&count={count}"))
        return CardPage(
            cards=[CoreCard.from_json(item) for item in answer.body["data"]],
            next_cursor=str(answer.body["next_cursor"]),
            is_more=bool(answer.body["is_more"]),
        )


# --- in process, for unit tests ----------------------------------------------------------------


@dataclass
class SimulatedCore:
    """The state behind ``SimulatedGateway``: one per process, reset by the tests."""

    cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, tuple[str, CoreAnswer | GatewayError]] = field(default_factory=dict)
    applications: dict[str, int] = field(default_factory=dict)
    requests: list[CoreRequest] = field(default_factory=list)
    seq: int = 0
    down: bool = False
    fail_next: int = 0  # the next N writes fail with a 500 (not applied)
    config_fault_channels: set[str] = field(default_factory=set)

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


SIMULATED = SimulatedCore()
_ALLOWED = {
    ("UNACTIVATED", "ACTIVE"),
    ("UNACTIVATED", "SUSPENDED"),
    ("ACTIVE", "SUSPENDED"),
    ("SUSPENDED", "ACTIVE"),
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimulatedGateway:
    """The contract's rules in memory: issue, transitions, limits, idempotency, and faults."""

    def __init__(self, core: SimulatedCore | None = None) -> None:
        self.core = core or SIMULATED

    def _touch(self, card: dict[str, Any]) -> None:
        self.core.seq += 1
        card["seq"] = self.core.seq
        card["last_modified_time"] = _now()

    def _public(self, card: dict[str, Any]) -> dict[str, Any]:
        return {key: value for key, value in card.items() if key not in ("seq", "ever_activated", "before_suspension")}

    def send(self, request: CoreRequest) -> CoreAnswer:
        core = self.core
        core.requests.append(request)
        if core.down:
            raise TransientGatewayError("CORE_DOWN", "core banking is down", status=503)
        fingerprint = json.dumps([request.method, request.path, request.body], sort_keys=True)
        if request.idempotency_key in core.answers:
            stored_fingerprint, stored = core.answers[request.idempotency_key]
            if stored_fingerprint != fingerprint:
                raise PermanentGatewayError("IDEMPOTENCY_KEY_REUSED", "another body under this key", status=422)
            if isinstance(stored, GatewayError):
                raise stored
            return CoreAnswer(stored.status, stored.body, replayed=True)
        if core.fail_next:
            core.fail_next -= 1
            raise TransientGatewayError("CB-5001", "core banking failed", status=500)
        try:
            answer: CoreAnswer | GatewayError = self._apply(request)
        except PermanentGatewayError as exc:
            answer = exc
        core.answers[request.idempotency_key] = (fingerprint, answer)
        core.applications[request.idempotency_key] = core.applications.get(request.idempotency_key, 0) + 1
        if isinstance(answer, GatewayError):
            raise answer
        return answer

    def _apply(self, request: CoreRequest) -> CoreAnswer:
        body = dict(request.body or {})
        if request.path == "/v1/cards":
            return self._issue(body)
        if request.path == "/v1/cardtransitions":
            return self._transition(body)
        if request.path.endswith("/limit"):
            return self._limit(request.path.split("/")[3], body)
        raise PermanentGatewayError("NOT_FOUND", f"no operation {request.method} {request.path}", status=404)

    def _issue(self, body: dict[str, Any]) -> CoreAnswer:
        if body["channel"] in self.core.config_fault_channels:
            raise PermanentGatewayError(
                "CFG-CHANNEL-MISSING",
                f"product {body['product']} is not configured on channel {body['channel']}",
                status=422,
            )
        existing = self.core.cards.get(body["token"])
        if existing:
            if existing["account_number"] != body["account_number"]:
                raise PermanentGatewayError("CARD_TOKEN_TAKEN", "token used by another line", status=409)
            return CoreAnswer(200, self._public(existing))
        card = {
            "token": body["token"],
            "account_number": body["account_number"],
            "state": "UNACTIVATED",
            "product": body["product"],
            "channel": body["channel"],
            "credit_limit": body["credit_limit"],
            "usable_limit": body["usable_limit"],
            "created_time": _now(),
            "activated_time": None,
            "ever_activated": False,
            "before_suspension": "",
        }
        self._touch(card)
        self.core.cards[body["token"]] = card
        return CoreAnswer(201, self._public(card))

    def _card(self, token: str) -> dict[str, Any]:
        card = self.core.cards.get(token)
        if card is None:
            raise PermanentGatewayError("CARD_NOT_FOUND", f"no card {token}", status=404)
        return card

    def _transition(self, body: dict[str, Any]) -> CoreAnswer:
        card = self._card(body["card_token"])
        previous, target = card["state"], body["state"]
        if previous != target:
            if target == "TERMINATED":
                pass
            elif (previous, target) not in _ALLOWED:
                raise PermanentGatewayError("INVALID_TRANSITION", f"{previous} cannot become {target}", status=409)
            if previous == "UNACTIVATED" and target == "ACTIVE" and card["channel"] in self.core.config_fault_channels:
                raise PermanentGatewayError(
                    "CFG-CHANNEL-MISSING",
                    f"product {card['product']} is not configured on channel {card['channel']}",
                    status=422,
                )
            if target == "SUSPENDED":
                card["before_suspension"] = previous
            elif previous == "SUSPENDED" and target == "ACTIVE":
                target = card["before_suspension"] or "ACTIVE"
            if target == "ACTIVE" and not card["ever_activated"]:
                card["ever_activated"] = True
                card["activated_time"] = _now()
            card["state"] = target
            self._touch(card)
        return CoreAnswer(
            201,
            {
                "card_token": card["token"],
                "state": card["state"],
                "previous_state": previous,
                "reason_code": body["reason_code"],
                "created_time": _now(),
            },
        )

    def _limit(self, token: str, body: dict[str, Any]) -> CoreAnswer:
        card = self._card(token)
        if card["state"] == "TERMINATED":
            raise PermanentGatewayError("INVALID_TRANSITION", "the card is terminated", status=409)
        if Decimal(body["usable_limit"]) > Decimal(card["credit_limit"]):
            raise PermanentGatewayError("LIMIT_ABOVE_CREDIT_LIMIT", "above the credit limit", status=422)
        card["usable_limit"] = body["usable_limit"]
        self._touch(card)
        return CoreAnswer(200, self._public(card))

    def card(self, token: str) -> CoreCard | None:
        if self.core.down:
            raise TransientGatewayError("CORE_DOWN", "core banking is down", status=503)
        card = self.core.cards.get(token)
        return CoreCard.from_json(card) if card else None

    def changed_cards(self, cursor: str, count: int) -> CardPage:
        if self.core.down:
            raise TransientGatewayError("CORE_DOWN", "core banking is down", status=503)
        after = int(cursor or 0)
        changed = sorted((card for card in self.core.cards.values() if card["seq"] > after), key=lambda c: c["seq"])
        page = changed[:count]
        return CardPage(
            cards=[CoreCard.from_json(card) for card in page],
            next_cursor=str(page[-1]["seq"]) if page else str(after),
            is_more=len(changed) > count,
        )

    # Helpers for tests: how core banking would look after a change decided inside core.
    def set_state(self, token: str, state: str) -> None:
        card = self._card(token)
        card["state"] = state
        if state == "ACTIVE":
            card["ever_activated"] = True
        self._touch(card)


BACKENDS = {"simulated": "accounts.gateway.SimulatedGateway", "http": "accounts.gateway.HttpGateway"}


@cache
def _backend_class(name: str) -> type:
    try:
        return import_string(BACKENDS[name])
    except KeyError:
        raise ImproperlyConfigured(f"CORE_GATEWAY={name!r} is not a gateway; use http or simulated.") from None


def get_gateway() -> Gateway:
    """The configured backend."""
    gateway: Gateway = _backend_class(settings.CORE_GATEWAY)()
    return gateway
