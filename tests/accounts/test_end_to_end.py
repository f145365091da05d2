"""End to end with real processes: the portal (gunicorn), an RQ worker, the reference core-banking
service and Redis, on PostgreSQL. Every step crosses the contract over HTTP both ways."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.db import connection

from accounts.delivery import commands_sweep
from accounts.models import CoreCommand, CoreEvent, LoanAccount, State
from portal import roles
from tests.coreservice import CoreService, credit_code
from tests.factories import TEST_PASSWORD, make_staff

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the portal, its worker and the test share one database: runs on PostgreSQL (as in CI)",
    ),
    pytest.mark.django_db(transaction=True),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"waited {timeout} s for {what}")


class Portal:
    """The portal's web and worker processes, pointed at the test database, Redis and core banking."""

    def __init__(self, tmp: Path, redis_url: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = connection.settings_dict
        self.env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}",
            "REDIS_URL": redis_url,
            "CORE_GATEWAY": "http",
            "CORE_GATEWAY_TIMEOUT_SECONDS": "2",
            "DJANGO_DEBUG": "1",
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "SMS_BACKEND": "accounts.sms.FileSmsBackend",
            "SMS_FILE_PATH": str(tmp / "outbox"),
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(tmp / "outbox"),
        }
        self.logs = tmp
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, *args: str) -> None:
        log = (self.logs / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True
        )

    def start(self, core_url: str) -> None:
        self.env["CORE_GATEWAY_URL"] = core_url
        self._spawn("web", "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", "2")
        self.start_worker()
        wait_for(self._up, "the portal to answer")

    def start_worker(self) -> None:
        self._spawn("worker", "manage.py", "rqworker", "default", "--with-scheduler")

    def kill_worker(self) -> None:
        worker = self.processes.pop("worker")
        os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse
        worker.wait(timeout=10)

    def _up(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


class Staff:
    """A signed-in browser session, posting the account page's forms."""

    def __init__(self, portal: Portal, username: str) -> None:
        # The portal's processes check passwords with the production hashers, not the tests' fast one.
        hashed = PBKDF2PasswordHasher().encode(TEST_PASSWORD, PBKDF2PasswordHasher().salt())
        User.objects.filter(username=username).update(password=hashed)
        self.portal = portal
        # The portal speaks Chinese first; these checks read its English source strings.
        self.http = httpx.Client(
            base_url=portal.url, follow_redirects=True, timeout=10, headers={"Accept-Language": "en"}
        )
        self.http.get("/login/")
        self.http.post(
            "/login/",
            data={"username": username, "password": TEST_PASSWORD, "csrfmiddlewaretoken": self._csrf()},
        ).raise_for_status()

    def _csrf(self) -> str:
        return str(self.http.cookies.get("csrftoken"))

    def act(self, number: str, action: str, reason: str) -> str:
        version = LoanAccount.objects.get(number=number).version
        response = self.http.post(
            f"/accounts/{number}/actions/{action}/",
            data={"reason": reason, "version": version, "csrfmiddlewaretoken": self._csrf()},
        )
        response.raise_for_status()
        return response.text

    def page(self, number: str) -> str:
        return self.http.get(f"/accounts/{number}/").text


@pytest.fixture
def system(tmp_path: Path, redis_server) -> Iterator[tuple[Portal, CoreService]]:
    portal = Portal(tmp_path, redis_server.url)
    core = CoreService(tmp_path, events_url=f"{portal.url}/api/core/events")
    core.start()
    try:
        portal.start(core.url)
        yield portal, core
    finally:
        portal.stop()
        core.stop()


def state_of(number: str) -> tuple[str, str, str]:
    account = LoanAccount.objects.filter(number=number).first()
    return (account.state, account.empty_cause, account.card_state) if account else ("", "", "")


def core_state(core: CoreService, number: str) -> str:
    card = core.card(f"CARD-{number}")
    return str(card["state"]) if card else ""


def approved_and_activated(core: CoreService, number: str, code: str) -> None:
    """Core approves a low-risk line; the portal issues its card; the customer's SMS step comes in."""
    customer = {"credit_code": credit_code(code), "name": f"{number} Trading Co., Ltd.", "contact_name": "Li Wei",
                "contact_mobile": "13812345678", "risk_tier": "low", "credit_score": 720}  # fmt: skip
    core.approve_line(number, customer=customer)
    wait_for(lambda: state_of(number) == ("issued", "", "UNACTIVATED"), f"{number} issued in core banking")
    assert core_state(core, number) == "UNACTIVATED"
    core.complete_step(number, "sms_code")
    wait_for(lambda: state_of(number) == ("active", "", "ACTIVE"), f"{number} active")
    assert core_state(core, number) == "ACTIVE"


def test_the_portal_and_core_banking_work_a_line_from_approval_to_closing(system) -> None:
    portal, core = system
    make_staff("credit", roles.CREDIT_OFFICER, ["credit"])
    credit = Staff(portal, "credit")

    # loan.approved → the account, auto-issued → the card in core → the customer's step → activation.
    approved_and_activated(core, "LA7000000001", "91310000MA1FL0001")
    kinds = list(
        CoreCommand.objects.filter(account__number="LA7000000001").order_by("pk").values_list("kind", "status")
    )
    assert kinds == [("issue", "done"), ("activate", "done")]

    # Core's events arrive on their own, after its answers: each one is received (and changes nothing twice).
    def received() -> set[str]:
        return set(CoreEvent.objects.filter(account__number="LA7000000001").values_list("event_type", flat=True))

    wanted = {"loan.approved", "card.issued", "card.activated", "verification.step_completed"}
    wait_for(lambda: received() >= wanted, "core's events")
    assert LoanAccount.objects.get(number="LA7000000001").audit_entries.filter(transition="activate").count() == 1

    # A hold suspends the card in core; the release reinstates it; closing terminates it.
    assert "Done: the account is now Empty card." in credit.act("LA7000000001", "hold", "bureau alert")
    wait_for(lambda: core_state(core, "LA7000000001") == "SUSPENDED", "the card suspended in core banking")
    page = credit.act("LA7000000001", "release_hold", "alert cleared")
    assert "Sent to core banking (Reinstate the card" in page
    wait_for(lambda: state_of("LA7000000001") == ("active", "", "ACTIVE"), "the release confirmed")
    assert core_state(core, "LA7000000001") == "ACTIVE"
    credit.act("LA7000000001", "close", "repaid")
    wait_for(lambda: core_state(core, "LA7000000001") == "TERMINATED", "the card terminated in core banking")
    assert state_of("LA7000000001")[0] == "closed"


def test_core_banking_down_then_a_killed_worker_lose_nothing_and_repeat_nothing(system) -> None:
    portal, core = system
    make_staff("credit", roles.CREDIT_OFFICER, ["credit"])
    credit = Staff(portal, "credit")
    approved_and_activated(core, "LA7000000002", "91310000MA1FL0002")

    # Core banking down: the hold is saved and shown as waiting; delivered once core is back.
    core.set_faults(down=True)
    assert "Done: the account is now Empty card." in credit.act("LA7000000002", "hold", "bureau alert")
    hold = CoreCommand.objects.get(account__number="LA7000000002", kind="suspend")
    wait_for(lambda: CoreCommand.objects.get(pk=hold.pk).last_error_code == "CORE_DOWN", "a refused try")
    assert "Waiting for core banking" in credit.page("LA7000000002")
    assert state_of("LA7000000002")[:2] == ("empty", "risk_hold")
    time.sleep(3)
    core.set_faults(down=False)
    wait_for(lambda: core_state(core, "LA7000000002") == "SUSPENDED", "the hold delivered after recovery", 40)
    wait_for(lambda: CoreCommand.objects.get(pk=hold.pk).status == "done", "the command done")
    assert core.applications(hold.idempotency_key) == 1

    # A worker killed while core is answering the close: redelivered after its lease, applied once.
    core.set_faults(latency_ms=4000)
    credit.act("LA7000000002", "close", "fraud confirmed")
    close = CoreCommand.objects.get(account__number="LA7000000002", kind="terminate")
    wait_for(lambda: CoreCommand.objects.get(pk=close.pk).attempts == 1, "the close on its way")
    time.sleep(0.5)
    portal.kill_worker()
    core.set_faults(latency_ms=0)
    portal.start_worker()
    assert CoreCommand.objects.get(pk=close.pk).status == "pending"

    def redelivered() -> bool:
        commands_sweep()  # what the periodic sweeper does every minute
        return CoreCommand.objects.get(pk=close.pk).status == "done"

    wait_for(redelivered, "the close redelivered once its lease passed", timeout=60, every=1)
    assert core.applications(close.idempotency_key) == 1
    assert core_state(core, "LA7000000002") == "TERMINATED"
    assert state_of("LA7000000002")[0] == State.CLOSED
