"""``make reliability``: real processes, scripted faults, and a count of what was lost.

Against ``DATABASE_URL`` (a throwaway PostgreSQL database: the script writes to it), with an
embedded Redis it stops and starts, gunicorn with three workers and one RQ worker, it runs:

* **concurrent holds**: ten credit officers hold the same account at the same moment, each
  from the page as they loaded it: exactly one hold applied, the others told who changed it;
* **concurrent takes**: ten service agents take the same unassigned case at the same moment:
  exactly one gets it, the others are told who took it and when;
* **Redis stopped**: with Redis down, service agents send activation messages again; Redis
  comes back and the sweeper runs: every message sent once, none lost;
* **worker killed mid-batch**: a re-drive of 300 accounts, the worker killed with SIGKILL once
  it has started and a new one started: every account's card issued and activated, each
  command sent once.

* **worker killed mid-delivery**: activations of 40 accounts on their way to the reference
  core-banking service over HTTP (each request held 300 ms), the worker killed with SIGKILL
  while requests are in flight: core applies every command once (the ones it had applied
  are sent again with the same idempotency key and answered from its store);
* **database connection dropped**: a hold whose transaction has written and waits on a lock,
  its PostgreSQL backend terminated (``pg_terminate_backend``): a 503 saying nothing was
  saved, nothing of it saved, and the same hold sent again is applied once;
* **hostile input**: every row of ``tests/hostile_input.toml`` (forms, the webhook, the import)
  over HTTP: refused with a 4xx naming the problem and nothing written, or kept as typed.

It prints a table (faults injected, operations, lost, duplicated, 5xx) and exits non-zero
unless the last three are zeros and every scenario's answers were the expected ones. A 503
that says "nothing was saved", for a request whose database connection was killed, is that
request's clean answer and is not counted as a 5xx.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from portal.embedded_redis import RedisProcess

ROOT = Path(__file__).resolve().parent.parent
# The portal speaks Chinese first; the suite reads its answers in English, the source strings.
ENGLISH = {"Accept-Language": "en"}


@dataclass
class Outcome:
    scenario: str
    faults: int = 0
    operations: int = 0
    lost: int = 0
    duplicated: int = 0
    server_errors: int = 0
    wrong: list[str] = field(default_factory=list)  # answers other than the expected ones

    @property
    def ok(self) -> bool:
        return self.lost == self.duplicated == self.server_errors == 0 and not self.wrong


class Portal:
    """gunicorn and one RQ worker over the given Redis; sessions made directly in the database."""

    def __init__(self, redis_url: str, outbox: Path) -> None:
        from bench.run import _child_env, _free_port

        self.port = _free_port()
        self.env = {
            **_child_env(),
            "REDIS_URL": redis_url,
            "SMS_BACKEND": "accounts.sms.FileSmsBackend",
            "SMS_FILE_PATH": str(outbox),
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": str(outbox.parent / "mail"),
        }
        self.web: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.worker_env: dict[str, str] = {}  # on top of ``env``: what this worker is started with

    def start(self) -> None:
        from bench.run import _wait_http

        web = ["-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", "3"]
        self.web = subprocess.Popen([sys.executable, *web], cwd=ROOT, env=self.env, stderr=subprocess.DEVNULL)  # noqa: S603
        self.ensure_worker()
        _wait_http(f"http://127.0.0.1:{self.port}/healthz")

    def ensure_worker(self) -> None:
        """Start the RQ worker, or start it again if it has died (as a process manager would)."""
        if self.worker is not None and self.worker.poll() is None:
            return
        worker = ["manage.py", "rqworker", "default", "--with-scheduler"]
        env = {**self.env, **self.worker_env}
        self.worker = subprocess.Popen([sys.executable, *worker], cwd=ROOT, env=env, stderr=subprocess.DEVNULL)  # noqa: S603

    def restart_worker(self, **env: str) -> None:
        """Stop the worker (SIGTERM, as a deploy does) and start it with ``env`` on top of the portal's."""
        if self.worker is not None and self.worker.poll() is None:
            self.worker.terminate()
            self.worker.wait(timeout=60)
        self.worker_env = env
        self.ensure_worker()

    def client(self, username: str) -> httpx.Client:
        """An HTTP client signed in as ``username``, sending the CSRF token with every post."""
        from django.conf import settings

        token = secrets.token_hex(16)
        cookies = {settings.SESSION_COOKIE_NAME: session_for(username), settings.CSRF_COOKIE_NAME: token}
        headers = {"X-CSRFToken": token, **ENGLISH}
        return httpx.Client(base_url=f"http://127.0.0.1:{self.port}", cookies=cookies, headers=headers, timeout=120)

    def stop(self) -> None:
        for process in (self.web, self.worker):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=30)

    def post(self, session_key: str, path: str, data: dict[str, object]) -> int:
        """POST a form as the session's user (with a CSRF token); the status code, 3xx not followed."""
        from urllib.parse import urlencode

        from django.conf import settings

        token = secrets.token_hex(16)
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=urlencode({**data, "csrfmiddlewaretoken": token}).encode(),
            headers={
                "Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}; {settings.CSRF_COOKIE_NAME}={token}",
                **ENGLISH,
            },
        )
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=60) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def page(self, session_key: str, path: str) -> str:
        """GET a page as the session's user: its text (with the messages waiting for them)."""
        from django.conf import settings

        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}", **ENGLISH},
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback only
            return str(response.read().decode())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def session_for(username: str) -> str:
    from django.contrib.auth.models import User

    from portal.sessions import staff_session_create

    return staff_session_create(User.objects.get(username=username))


def all_at_once[T](calls: list[Callable[[], T]]) -> list[T]:
    """Each call in its own thread, all released at the same moment; their results."""
    barrier = threading.Barrier(len(calls))
    results: list[T] = []

    def run(call: Callable[[], T]) -> None:
        barrier.wait()
        results.append(call())

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def concurrent_holds(portal: Portal, people: int = 10) -> Outcome:
    from accounts.models import AuditEntry, LoanAccount, State

    account = LoanAccount.objects.filter(state=State.ACTIVE, is_drill=False).order_by("pk").first()
    assert account is not None, "the demo data has no active account"
    sessions = [session_for("credit") for _person in range(people)]
    path, form = f"/accounts/{account.number}/actions/hold/", {"reason": "fraud alert", "version": account.version}
    statuses = all_at_once([partial(portal.post, key, path, form) for key in sessions])
    applied = AuditEntry.objects.filter(account=account, transition="hold").count()
    pages = [portal.page(key, f"/accounts/{account.number}/") for key in sessions]
    told = sum(1 for page in pages if "after you opened it" in page or "changed this account" in page)
    done = sum(1 for page in pages if "Done: the account is now" in page)
    if (done, told) != (1, people - 1):
        sys.exit(f"concurrent holds: {done} told it was done and {told} told who changed it, of {people}")
    return Outcome(
        "concurrent holds on one account",
        faults=people - 1,
        operations=people,
        lost=int(applied == 0),
        duplicated=max(0, applied - 1),
        server_errors=sum(1 for status in statuses if status >= 500),
    )


def concurrent_takes(portal: Portal, people: int = 10) -> Outcome:
    """Ten service agents take the same unassigned case at the same moment, from the page as they loaded it.

    Exactly one gets it; the others are told who took it and when; the case has one assignment.
    """
    from casework.models import Case, CaseEvent
    from portal import roles
    from portal.services import staff_member_save

    unassigned = Case.objects.filter(status="new", assignee__isnull=True, department_id="service", is_drill=False)
    case = unassigned.order_by("pk").first()
    assert case is not None, "the demo data has no unassigned service case"
    names = [f"agent{n}" for n in range(1, people + 1)]
    for name in names:
        staff_member_save(username=name, role=roles.SERVICE_AGENT, departments=["service"], first_name=name.title())
    clients = [portal.client(name) for name in names]
    path, form = f"/cases/{case.pk}/take/", {"version": case.version}
    answers = all_at_once([partial(client.post, path, data=form) for client in clients])
    pages = [client.get(f"/cases/{case.pk}/").text for client in clients]
    got = sum(1 for page in pages if "The case is yours now." in page)
    told = sum(1 for page in pages if f"Case #{case.pk} was already taken by" in page)
    assignments = CaseEvent.objects.filter(case=case, kind=CaseEvent.Kind.ASSIGNMENT).count()
    wrong = [] if (got, told) == (1, people - 1) else [f"concurrent takes: {got} took it, {told} were told who did"]
    return Outcome(
        "concurrent takes of one case",
        faults=people - 1,
        operations=people,
        lost=int(assignments == 0),
        duplicated=max(0, assignments - 1),
        server_errors=sum(1 for answer in answers if answer.status_code >= 500),
        wrong=wrong,
    )


def redis_stopped(portal: Portal, redis: RedisProcess, outbox: Path, count: int = 5) -> Outcome:
    from accounts.models import LoanAccount, Notification, State

    accounts = list(LoanAccount.objects.filter(state=State.ISSUED, is_drill=False).order_by("pk")[:count])
    session = session_for("service")
    redis.stop()
    statuses = [
        portal.post(
            session, f"/accounts/{a.number}/actions/resend_activation/", {"reason": "asked", "version": a.version}
        )
        for a in accounts
    ]
    redis.start()
    time.sleep(1)
    portal.ensure_worker()  # it lost Redis and stopped; its process manager starts it again
    written = Notification.objects.filter(account__in=accounts, template="activation", status="queued")
    expected = written.count()
    if expected != 2 * len(accounts):  # an SMS and an email each
        sys.exit(f"Redis stopped: {expected} messages written for {len(accounts)} accounts; the scenario is broken")
    subprocess.run(
        [sys.executable, "manage.py", "run_periodic", "requeue_notifications"],
        cwd=ROOT, env={**portal.env, "NOTIFICATION_LOST_AFTER": "0"}, check=True, capture_output=True,
    )  # fmt: skip
    unsent = Notification.objects.filter(account__in=accounts, template="activation").exclude(status="sent")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and unsent.exists():
        portal.ensure_worker()  # a worker that met the outage late stops late: started again, as supervised
        time.sleep(0.5)
    sent = Notification.objects.filter(account__in=accounts, template="activation", status="sent", attempts=1)
    sms_sent = Notification.objects.filter(account__in=accounts, template="activation", medium="sms").count()
    files = len(list(outbox.glob("*")))
    return Outcome(
        "Redis stopped while messages were written",
        faults=1,
        operations=len(accounts),
        lost=expected - sent.count(),
        duplicated=max(0, files - sms_sent),
        server_errors=sum(1 for status in statuses if status >= 500),
    )


def worker_killed_mid_batch(portal: Portal, accounts: int = 300) -> Outcome:
    """A re-drive of ``accounts`` accounts; the worker is killed (SIGKILL) as soon as it has started.

    The process manager starts a new worker; the batch's own watch job re-queues its chunk once
    the new worker's scheduler runs (no rqcron). The core-banking outbox's sweeper runs every
    30 s, as its periodic job would. Every account must end with its card issued and activated,
    each command sent once.
    """
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.db.models import Count

    from accounts.models import CoreCommand
    from bench.run import _bench_accounts
    from casework.batches import batch_start
    from casework.models import ReactivationBatch, ReactivationItem

    ids = _bench_accounts(accounts)
    with transaction.atomic():
        batch = batch_start(title="Reliability: worker killed", account_ids=ids, user=User.objects.get(username="lead"))
    items = ReactivationItem.objects.filter(batch=batch)
    deadline = time.monotonic() + 60
    while not items.filter(attempted_at__isnull=False).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert portal.worker is not None
    portal.worker.kill()  # SIGKILL, mid-chunk
    portal.worker.wait(timeout=10)
    killed_after = items.filter(attempted_at__isnull=False).count()
    portal.ensure_worker()
    deadline, next_sweep = time.monotonic() + 300, 0.0
    while time.monotonic() < deadline:
        batch.refresh_from_db()
        if batch.status == ReactivationBatch.Status.DONE:
            break
        if time.monotonic() > next_sweep:
            subprocess.run(
                [sys.executable, "manage.py", "run_periodic", "sweep_core_commands"],
                cwd=ROOT, env=portal.env, check=True, capture_output=True,
            )  # fmt: skip
            next_sweep = time.monotonic() + 30
        portal.ensure_worker()
        time.sleep(1)
    kinds = CoreCommand.objects.filter(account_id__in=ids).values("account_id", "kind").annotate(n=Count("id"))
    duplicated = sum(1 for row in kinds if row["n"] > 1)
    settled = items.exclude(status=ReactivationItem.Status.PENDING).count()
    print(f"  worker killed after {killed_after} of {accounts} accounts were driven; batch {batch.status}")
    return Outcome(
        "worker killed (SIGKILL) mid-batch",
        faults=1,
        operations=accounts,
        lost=accounts - settled if batch.status == ReactivationBatch.Status.DONE else accounts,
        duplicated=duplicated,
    )


def _sweep_commands(env: dict[str, str]) -> None:
    """The core-banking outbox's sweeper, as its periodic job runs it: due commands get a delivery run."""
    subprocess.run(
        [sys.executable, "manage.py", "run_periodic", "sweep_core_commands"],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip


def worker_killed_mid_delivery(portal: Portal, accounts: int = 40) -> Outcome:
    """Activations on their way to core banking over HTTP; the worker killed while requests are in flight.

    The reference core-banking service holds each request 300 ms, so when the worker dies some
    requests have reached core and been applied without their answer being recorded. Once
    their lease has passed (14 s with a 2 s gateway timeout) the sweeper queues them again and
    the new worker sends them with the same idempotency keys: core answers those from its store.
    """
    from accounts.management.commands.export_core_cards import write_cards
    from accounts.models import CoreCommand, LoanAccount, State
    from bench.corebanking import _delivery_accounts, _write_commands, reference_core

    ids = _delivery_accounts(accounts)
    wrong: list[str] = []
    with reference_core("reliability-core-") as core:
        cards = core.folder / "cards.jsonl"
        write_cards(LoanAccount.objects.filter(pk__in=ids), cards)
        core.load(cards)
        core.start()
        httpx.put(f"{core.url}/sim/faults", json={"latency_ms": 300}, timeout=10).raise_for_status()
        http = {"CORE_GATEWAY": "http", "CORE_GATEWAY_URL": core.url, "CORE_GATEWAY_TIMEOUT": "2"}
        portal.restart_worker(**http)
        before = core.stats()["idempotency"]
        commands = CoreCommand.objects.filter(pk__in=_write_commands(ids, CoreCommand.Kind.ACTIVATE))
        in_flight = commands.filter(status=CoreCommand.Status.PENDING, attempts__gte=1)
        _sweep_commands({**portal.env, **http})
        # A run claims its commands, sends them (four at a time) and records the answers together:
        # it is killed once core has applied some of them and the run has recorded none.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and core.stats()["idempotency"]["applications"] - before["applications"] < 8:
            time.sleep(0.02)
        assert portal.worker is not None
        portal.worker.kill()  # SIGKILL, with requests on their way to core banking
        portal.worker.wait(timeout=10)
        cut_off = in_flight.count()
        portal.ensure_worker()
        deadline, next_sweep = time.monotonic() + 180, 0.0
        while time.monotonic() < deadline and commands.exclude(status=CoreCommand.Status.DONE).exists():
            if time.monotonic() > next_sweep:
                _sweep_commands({**portal.env, **http})
                next_sweep = time.monotonic() + 5
            portal.ensure_worker()
            time.sleep(0.5)
        after = core.stats()["idempotency"]
    portal.restart_worker()
    count = commands.count()
    done = commands.filter(status=CoreCommand.Status.DONE).count()
    applications = after["applications"] - before["applications"]
    active = LoanAccount.objects.filter(pk__in=ids, state=State.ACTIVE).count()
    if cut_off == 0:
        wrong.append("worker killed mid-delivery: no request was in flight when the worker was killed")
    if active != count:
        wrong.append(f"worker killed mid-delivery: {active} of {count} accounts are active")
    print(
        f"  worker killed with {cut_off} of {count} commands in flight; core applied {applications} commands, "
        f"answered {after['replays'] - before['replays']} again from its store"
    )
    return Outcome(
        "worker killed (SIGKILL) mid-delivery to core",
        faults=1,
        operations=count,
        lost=count - done,
        duplicated=max(0, applications - count),
        wrong=wrong,
    )


_WAITING_INSERT = """
    SELECT pid, backend_xid IS NOT NULL FROM pg_stat_activity
    WHERE datname = current_database() AND wait_event_type = 'Lock'
      AND position('INSERT INTO "accounts_corecommand"' in query) = 1
"""


def database_dropped(portal: Portal, count: int = 5) -> Outcome:
    """A hold in the middle of its transaction (it has written, it waits to write its command), its connection killed.

    The script locks the commands table, so each hold's request stops at its command's INSERT
    with its account row already changed in its transaction; the request's PostgreSQL backend is
    terminated there. The officer must read that nothing was saved, nothing of the hold may be
    saved, and the same form sent again must hold the account once.
    """
    from django.db import connection

    from accounts.models import AuditEntry, CoreCommand, LoanAccount, State

    accounts = list(LoanAccount.objects.filter(state=State.ACTIVE, is_drill=False).order_by("-pk")[:count])
    client = portal.client("credit")
    wrong: list[str] = []
    server_errors = 0

    def send(into: dict[str, httpx.Response], path: str, data: dict[str, object]) -> None:
        into["response"] = client.post(path, data=data)

    for account in accounts:
        path, data = f"/accounts/{account.number}/actions/hold/", {"reason": "fraud alert", "version": account.version}
        commands_before = CoreCommand.objects.filter(account=account).count()
        blocker = connection.get_new_connection(connection.get_connection_params())
        blocker.autocommit = False
        blocker.execute("LOCK TABLE accounts_corecommand IN EXCLUSIVE MODE")
        answer: dict[str, httpx.Response] = {}
        request = threading.Thread(target=send, args=(answer, path, data))
        request.start()
        waiting = None
        deadline = time.monotonic() + 30
        with connection.cursor() as cursor:
            while waiting is None and time.monotonic() < deadline:
                cursor.execute(_WAITING_INSERT)
                waiting = cursor.fetchone()
                time.sleep(0.02)
            if waiting is not None:
                cursor.execute("SELECT pg_terminate_backend(%s)", [waiting[0]])
        blocker.rollback()
        blocker.close()
        request.join(timeout=60)
        response = answer.get("response")
        if waiting is None or response is None:
            wrong.append(f"database dropped: the hold of {account.number} never waited on its command; not tested")
            continue
        if not waiting[1]:
            wrong.append(f"database dropped: the hold of {account.number} had written nothing when it was cut")
        if response.status_code != 503 or "nothing was saved" not in response.text:
            wrong.append(f"database dropped: {account.number} answered {response.status_code}, not a clear 503")
            server_errors += response.status_code >= 500
        fresh = LoanAccount.objects.get(pk=account.pk)
        half = (
            fresh.version != account.version
            or fresh.state != State.ACTIVE
            or AuditEntry.objects.filter(account=account, transition="hold").exists()
            or CoreCommand.objects.filter(account=account).count() != commands_before
        )
        if half:
            wrong.append(f"database dropped: part of the hold of {account.number} was saved")
        server_errors += client.post(path, data=data).status_code >= 500  # the officer sends it again
    holds = [AuditEntry.objects.filter(account=account, transition="hold").count() for account in accounts]
    return Outcome(
        "database connection dropped mid-request",
        faults=len(accounts),
        operations=2 * len(accounts),
        lost=sum(1 for n in holds if n == 0),
        duplicated=sum(1 for n in holds if n > 1),
        server_errors=server_errors,
        wrong=wrong,
    )


def hostile_input(portal: Portal) -> Outcome:
    """Every row of ``tests/hostile_input.toml`` over HTTP: the forms, the webhook, the import."""
    from urllib.parse import urlsplit

    from django.urls import resolve

    from accounts.models import ImportRun
    from tests import hostile

    clients: dict[str, httpx.Client] = {}
    statuses: list[int] = []

    def post(username: str, path: str, data: dict[str, Any], files: dict[str, tuple[str, bytes]]) -> hostile.Answer:
        client = clients.setdefault(username, portal.client(username))
        response = client.post(path, data=data, files=files or None)
        statuses.append(response.status_code)
        return hostile.Answer(response.status_code, response.text, response.headers.get("location", ""))

    def post_body(body: bytes, headers: dict[str, str]) -> hostile.Answer:
        url = f"http://127.0.0.1:{portal.port}/api/core/events"
        response = httpx.post(url, content=body, headers=headers, timeout=60)
        statuses.append(response.status_code)
        try:
            data = response.json()
        except ValueError:
            data = {"body": response.text[:200]}
        return hostile.Answer(response.status_code, data=data)

    def finish(location: str) -> str:
        run = ImportRun.objects.get(pk=resolve(urlsplit(location).path).kwargs["pk"])
        deadline = time.monotonic() + 120
        while run.running and time.monotonic() < deadline:
            portal.ensure_worker()
            time.sleep(0.3)
            run.refresh_from_db()
        return clients["credit"].get(location).text

    wrong: list[str] = []
    rows = 0
    for form in hostile.FORMS:
        for value in hostile.VALUES:
            wrong += hostile.check_form(post, form, value)
            rows += 1
    for name in hostile.WEBHOOK:
        wrong += hostile.check_webhook(post_body, name)
        rows += 1
    for name in hostile.IMPORTS:
        wrong += hostile.check_import(post, finish, name)
        rows += 1
    return Outcome(
        "hostile input over HTTP (tests/hostile_input.toml)",
        faults=rows,
        operations=rows,
        server_errors=sum(1 for status in statuses if status >= 500),
        wrong=wrong,
    )


def main() -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from bench.run import _production_settings

    _production_settings()
    with tempfile.TemporaryDirectory(prefix="reliability-") as directory:
        from portal.embedded_redis import RedisProcess

        redis = RedisProcess(Path(directory) / "redis")
        redis.start()
        os.environ["REDIS_URL"] = redis.url
        import django

        django.setup()
        logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would drown the summary
        from django.core.management import call_command
        from django.db import connection

        if connection.vendor != "postgresql":
            sys.exit("make reliability runs against PostgreSQL: point DATABASE_URL at a throwaway database.")
        call_command("migrate", verbosity=0, interactive=False)
        call_command("seed_demo", accounts=300, force=True, stdout=io.StringIO())
        outbox = Path(directory) / "sms"
        portal = Portal(redis.url, outbox)
        portal.start()
        try:
            outcomes = [
                concurrent_holds(portal),
                concurrent_takes(portal),
                redis_stopped(portal, redis, outbox),
                worker_killed_mid_batch(portal),
                worker_killed_mid_delivery(portal),
                database_dropped(portal),
                hostile_input(portal),
            ]
        finally:
            portal.stop()
            redis.stop()
    print(f"{'scenario':<50}{'faults':>8}{'operations':>12}{'lost':>6}{'duplicated':>12}{'5xx':>5}")
    for o in outcomes:
        print(f"{o.scenario:<50}{o.faults:>8}{o.operations:>12}{o.lost:>6}{o.duplicated:>12}{o.server_errors:>5}")
    for o in outcomes:
        for problem in o.wrong:
            print(f"WRONG: {problem}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
