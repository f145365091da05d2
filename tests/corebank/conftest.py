"""Fixtures for the core-banking service's own tests: the service as a real process, a webhook receiver.

The service runs once per session (``/sim/reset`` before every test gives each test an empty
core); tests that need their own configuration (secrets, restarts) start their own
:class:`~tests.coreservice.CoreService`. Webhook retries are shortened (0.2 s doubling to 1 s)
so that delivery tests stay quick; one test checks the default backoff.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from corebank.contract import Contract
from tests.coreservice import CoreService, sign

WEBHOOK_SECRET = "dev-webhook-secret"
FAST_RETRIES = ("--retry-initial", "0.2", "--retry-max", "1")
CONTRACT = Contract.load()
EVENT_SCHEMA = Draft202012Validator(CONTRACT.schema("CoreEvent"), format_checker=FormatChecker())


class Receiver:
    """A stand-in for the portal's ``/api/core/events``: checks signatures, records what it got.

    ``mode``: ``"ok"`` (200 with a receipt; an event_id seen before gets ``409 DUPLICATE_EVENT``
    like the portal), ``"down"`` (503), ``"duplicate"`` (always 409 DUPLICATE_EVENT).
    """

    def __init__(self, secret: str = WEBHOOK_SECRET, port: int = 0) -> None:
        self.secret = secret
        self.mode = "ok"
        self.events: list[dict[str, Any]] = []  # accepted, in arrival order
        self.attempts: list[dict[str, Any]] = []  # every POST, accepted or not
        self.problems: list[str] = []  # bad signatures, bodies that break the contract
        self.seen: set[str] = set()
        self.condition = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, answer = receiver._receive(self.path, self.headers.get("X-Core-Signature"), body)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/core/events"

    def _receive(self, path: str, signature: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        with self.condition:
            try:
                event = json.loads(body)
            except ValueError:
                event = {"unparsed": body.decode(errors="replace")}
            self.attempts.append(event)
            self.condition.notify_all()
            if path != "/api/core/events":
                self.problems.append(f"posted to {path}")
                return 404, {"error_code": "NOT_FOUND", "error_message": path}
            problem = check_signature(signature, body, self.secret)
            if problem:
                self.problems.append(problem)
                return 401, {"error_code": "SIGNATURE_INVALID", "error_message": problem}
            errors = sorted(EVENT_SCHEMA.iter_errors(event), key=str)
            if errors:
                self.problems.append(f"{event.get('type')}: {errors[0].message}")
            if self.mode == "down":
                return 503, {"error_code": "DOWN", "error_message": "portal down"}
            if self.mode == "duplicate" or event["event_id"] in self.seen:
                return 409, {"error_code": "DUPLICATE_EVENT", "error_message": "already received"}
            self.seen.add(event["event_id"])
            self.events.append(event)
            self.condition.notify_all()
            return 200, {"event_id": event["event_id"], "status": "applied", "outcome": "ok"}

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.condition:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.condition.wait(remaining)
            return True

    def of(self, account_number: str) -> list[dict[str, Any]]:
        with self.condition:
            return [event for event in self.events if event["account_number"] == account_number]

    def types(self, account_number: str) -> list[str]:
        return [event["type"] for event in self.of(account_number)]

    def clear(self) -> None:
        with self.condition:
            self.mode = "ok"
            self.events.clear()
            self.attempts.clear()
            self.problems.clear()
            self.seen.clear()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def check_signature(header: str | None, body: bytes, secret: str) -> str | None:
    """What is wrong with a webhook's X-Core-Signature, checked independently of corebank.signing."""
    if not header:
        return "no X-Core-Signature"
    parts = [part.split("=", 1) for part in header.split(",")]
    fields: dict[str, list[str]] = {}
    for part in parts:
        if len(part) == 2:
            fields.setdefault(part[0], []).append(part[1])
    if len(fields.get("t", [])) != 1 or not fields.get("v1"):
        return f"malformed X-Core-Signature {header!r}"
    t = fields["t"][0]
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, candidate) for candidate in fields["v1"]):
        return "X-Core-Signature does not match"
    if abs(time.time() - int(t)) > 300:
        return "X-Core-Signature is stale"
    return None


class Api:
    """A signed client of the service's ``/v1`` (keep-alive)."""

    def __init__(self, core: CoreService) -> None:
        self.core = core
        self.client = httpx.Client(base_url=core.url, timeout=10.0)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        secret: str | None = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
    ) -> httpx.Response:
        content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        sent = {"Content-Type": "application/json", "X-Core-Signature": sign(content, secret or self.core.api_secret)}
        if key:
            sent["Idempotency-Key"] = key
        sent.update(headers or {})
        return self.client.request(
            method, path, content=content, headers=sent, timeout=timeout if timeout is not None else 10.0
        )

    def issue(self, card: dict[str, Any], key: str | None = None) -> httpx.Response:
        return self.call("POST", "/v1/cards", card, key=key or new_key())

    def transition(self, token: str, state: str, reason_code: str, key: str | None = None) -> httpx.Response:
        body = {"card_token": token, "state": state, "channel": "API", "reason_code": reason_code}
        return self.call("POST", "/v1/cardtransitions", body, key=key or new_key())

    def set_limit(self, token: str, usable_limit: str, key: str | None = None) -> httpx.Response:
        body = {"usable_limit": usable_limit, "reason": "tranche released"}
        return self.call("PUT", f"/v1/cards/{token}/limit", body, key=key or new_key())

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def held(core: CoreService, token: str) -> dict[str, Any]:
    """The card core holds for ``token`` (which must exist)."""
    card = core.card(token)
    assert card is not None, f"core has no card {token}"
    return card


def new_key() -> str:
    return f"key-{uuid.uuid4().hex}"


def new_card(channel: str = "Mobile app", **overrides: Any) -> dict[str, Any]:
    """A ``CardRequest`` with a fresh token and account number."""
    card = {
        "token": f"tok_{uuid.uuid4().hex[:20]}",
        "account_number": f"LA{uuid.uuid4().int % 10**12:012d}",
        "product": "working_capital",
        "channel": channel,
        "credit_limit": "1000000.00",
        "usable_limit": "300000.00",
    }
    card.update(overrides)
    return card


def start_core(tmp_dir: Path, events_url: str, **kwargs: Any) -> CoreService:
    core = CoreService(tmp_dir, events_url=events_url, **kwargs)
    core.start()
    return core


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="session")
def shared_core(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[CoreService]:
    core = start_core(tmp_path_factory.mktemp("corebank"), receiver.url, extra_args=FAST_RETRIES)
    yield core
    core.stop()


@pytest.fixture
def core(shared_core: CoreService, receiver: Receiver) -> CoreService:
    """The session's service, emptied, with no faults, and a receiver that takes everything."""
    shared_core.reset()
    receiver.clear()
    return shared_core


@pytest.fixture
def api(core: CoreService) -> Iterator[Api]:
    client = Api(core)
    yield client
    client.close()
