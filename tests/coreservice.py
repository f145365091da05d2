"""Run the reference core-banking service (``python -m corebank serve``) as a real process in tests.

``CoreService`` starts it on a free port of 127.0.0.1 with its own SQLite file under ``tmp_dir``,
waits until ``/sim/health`` answers, and offers small helpers over the ``/sim`` endpoints. No
pytest fixtures here: a conftest wraps it, e.g.::

    service = CoreService(tmp_path, events_url=f"{live_server.url}/api/core/events")
    service.start()
    try:
        ...  # point the portal at service.url
    finally:
        service.stop()

``stop()`` then ``start()`` again restarts it on the same port with the same database (the
outbox and the faults survive, as they would for a real restart).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, NoReturn, Self

import httpx

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 15.0
_LISTENING = re.compile(rb"corebank: listening on http://[^:\s]+:(\d+)")

CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code(first17: str = "91310000MA1FL0000") -> str:
    """A unified social credit code with a correct GB 32100 check character."""
    total = sum(CREDIT_CODE_CHARS.index(c) * w for c, w in zip(first17, CREDIT_CODE_WEIGHTS, strict=True))
    return first17 + CREDIT_CODE_CHARS[(31 - total % 31) % 31]


def sign(body: bytes, secret: str = "dev-core-api-secret", *, timestamp: int | None = None) -> str:  # noqa: S107
    """An ``X-Core-Signature`` value for ``body`` (``t=<unix>,v1=<HMAC-SHA256 of "<t>." + body>``)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


class CoreServiceError(RuntimeError):
    """The service did not start (the message carries its output) or a /sim call failed."""


class CoreService:
    """One ``python -m corebank serve`` process and plain helpers over its ``/sim`` endpoints."""

    def __init__(
        self,
        tmp_dir: Path,
        *,
        events_url: str,
        api_secrets: str = "dev-core-api-secret",
        webhook_secrets: str = "dev-webhook-secret",
        seed: Path | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.tmp_dir = Path(tmp_dir)
        self.events_url = events_url
        self.api_secrets = api_secrets
        self.webhook_secrets = webhook_secrets
        self.seed = seed
        self.extra_args = tuple(extra_args)
        self.db = self.tmp_dir / "corebank" / "core.sqlite3"
        self.log_path = self.tmp_dir / "corebank" / "corebank.log"
        self.port: int | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._client: httpx.Client | None = None

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise CoreServiceError("the core-banking service has not been started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_secret(self) -> str:
        """The secret requests are signed with by default (the first accepted one)."""
        return self.api_secrets.split(",")[0].strip()

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.db.parent.mkdir(parents=True, exist_ok=True)
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = self.log_path.open("ab")
        args = [
            sys.executable,
            "-m",
            "corebank",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port or 0),
            "--db",
            str(self.db),
            "--events-url",
            self.events_url,
            *(["--seed", str(self.seed)] if self.seed else []),
            *self.extra_args,
        ]
        env = {
            **os.environ,
            "CORE_API_SECRETS": self.api_secrets,
            "CORE_WEBHOOK_SECRETS": self.webhook_secrets,
            "PYTHONUNBUFFERED": "1",
        }
        self.process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._fail(f"exited with status {self.process.returncode}", log_offset)
            if self.port is None:
                found = _LISTENING.search(self._output(log_offset))
                if found:
                    self.port = int(found.group(1))
            if self.port is not None and self._healthy():
                self._client = httpx.Client(base_url=self.url, timeout=10.0)
                return
            time.sleep(0.05)
        self._fail(f"did not answer /sim/health within {timeout:.0f} s", log_offset)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it has not stopped within ``timeout`` seconds."""
        if self._client is not None:
            self._client.close()
            self._client = None
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def output(self) -> str:
        """Everything the process printed (all its runs)."""
        return self._output(0).decode(errors="replace")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- /sim helpers ---------------------------------------------------------------------------

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """``PUT /sim/faults`` with the given keys (others kept); the settings now in force."""
        result: dict[str, Any] = self._sim("PUT", "/sim/faults", faults)
        return result

    def faults(self) -> dict[str, Any]:
        result: dict[str, Any] = self._sim("GET", "/sim/faults")
        return result

    def reset(self) -> None:
        """Empty every table and reset the faults."""
        self._sim("POST", "/sim/reset")

    def applications(self, key: str) -> int:
        """How many times core applied the request sent with ``key`` (0 if it never saw the key)."""
        response = self._http().get(f"/sim/idempotency/{key}")
        if response.status_code == 404:
            return 0
        self._check(response)
        return int(response.json()["applications"])

    def idempotency(self, key: str) -> dict[str, Any] | None:
        response = self._http().get(f"/sim/idempotency/{key}")
        if response.status_code == 404:
            return None
        self._check(response)
        result: dict[str, Any] = response.json()
        return result

    def card(self, token: str) -> dict[str, Any] | None:
        """The card as core holds it (plus ``seq``, ``ever_activated``, ``state_before_suspension``)."""
        response = self._http().get(f"/sim/cards/{token}")
        if response.status_code == 404:
            return None
        self._check(response)
        result: dict[str, Any] = response.json()
        return result

    def events(
        self, status: str | None = None, *, account_number: str | None = None, limit: int = 100_000
    ) -> list[dict[str, Any]]:
        """Outbox events, oldest first, with delivery info (``status``: ``pending`` or ``delivered``)."""
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if account_number:
            params["account_number"] = account_number
        events: list[dict[str, Any]] = self._sim("GET", "/sim/events", params=params)["events"]
        return events

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._sim("GET", "/sim/stats")
        return result

    def approve_line(
        self,
        account_number: str,
        *,
        product: str = "working_capital",
        channel: str = "Mobile app",
        approved_limit: str = "1000000.00",
        customer: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Core approves a loan: stores the line and emits ``loan.approved``; returns the event."""
        body = {
            "account_number": account_number,
            "customer": customer
            or {
                "credit_code": credit_code(),
                "name": "Shanghai Example Trading Co., Ltd.",
                "contact_name": "Li Wei",
                "contact_mobile": "13812345678",
                "email": "li.wei@example.com",
                "risk_tier": "low",
                "credit_score": 720,
            },
            "line": {"product": product, "channel": channel, "approved_limit": approved_limit},
        }
        event: dict[str, Any] = self._sim("POST", "/sim/lines", body)["event"]
        return event

    def set_card_state(self, token: str, state: str, reason_code: str | None = None) -> dict[str, Any]:
        """A change decided inside core (emits the matching event; none for ``UNACTIVATED``)."""
        body: dict[str, Any] = {"state": state}
        if reason_code:
            body["reason_code"] = reason_code
        result: dict[str, Any] = self._sim("POST", f"/sim/cards/{token}/state", body)
        return result

    def complete_step(self, account_number: str, step: str) -> dict[str, Any]:
        """The customer finished ``sms_code`` or ``password`` in core's channels: emits the event."""
        event: dict[str, Any] = self._sim("POST", f"/sim/lines/{account_number}/steps", {"step": step})["event"]
        return event

    def sign(self, body: bytes, secret: str | None = None) -> str:
        """An ``X-Core-Signature`` for a request to this service (default: its first API secret)."""
        return sign(body, secret or self.api_secret)

    # --- internals ------------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        if self._client is None:
            raise CoreServiceError("the core-banking service is not running")
        return self._client

    def _sim(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        response = self._http().request(method, path, json=body, params=params)
        self._check(response)
        return response.json()

    @staticmethod
    def _check(response: httpx.Response) -> None:
        if response.status_code >= 400:
            raise CoreServiceError(
                f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text}"
            )

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/sim/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def _output(self, offset: int) -> bytes:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read()
        except OSError:
            return b""

    def _fail(self, why: str, log_offset: int) -> NoReturn:
        output = self._output(log_offset).decode(errors="replace")
        self.stop()
        raise CoreServiceError(f"the core-banking service {why}; its output:\n{output}")
