"""``make reliability``: real processes, scripted faults, and a count of what was lost.

Against ``DATABASE_URL`` (a throwaway PostgreSQL database: the script writes to it), with an
embedded Redis it stops and starts, gunicorn with three workers and one RQ worker, it runs:

* **concurrent holds**: ten credit officers hold the same account at the same moment, each
  from the page as they loaded it: exactly one hold applied, the others told who changed it;
* **Redis stopped**: with Redis down, service agents send activation messages again; Redis
  comes back and the sweeper runs: every message sent once, none lost;
* **worker killed mid-batch**: a re-drive of 300 accounts, the worker killed with SIGKILL once
  it has started and a new one started: every account's card issued and activated, each
  command sent once.

It prints a table (faults injected, operations, lost, duplicated, 5xx) and exits non-zero
unless the last three are zeros. The suite grows scenario by scenario (a worker killed
mid-delivery, the database connection dropped, hostile input over HTTP).
"""

from __future__ import annotations

import io
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from portal.embedded_redis import RedisProcess

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Outcome:
    scenario: str
    faults: int = 0
    operations: int = 0
    lost: int = 0
    duplicated: int = 0
    server_errors: int = 0

    @property
    def ok(self) -> bool:
        return self.lost == self.duplicated == self.server_errors == 0


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
        self.worker = subprocess.Popen([sys.executable, *worker], cwd=ROOT, env=self.env, stderr=subprocess.DEVNULL)  # noqa: S603

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
            headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}; {settings.CSRF_COOKIE_NAME}={token}"},
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
            f"http://127.0.0.1:{self.port}{path}", headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session_key}"}
        )
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback only
            return str(response.read().decode())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def session_for(username: str) -> str:
    from django.contrib.auth.models import User
    from django.contrib.sessions.backends.db import SessionStore

    user = User.objects.get(username=username)
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    return str(session.session_key)


def concurrent_holds(portal: Portal, people: int = 10) -> Outcome:
    from accounts.models import AuditEntry, LoanAccount, State

    account = LoanAccount.objects.filter(state=State.ACTIVE, is_drill=False).order_by("pk").first()
    assert account is not None, "the demo data has no active account"
    sessions = [session_for("credit") for _person in range(people)]
    statuses: list[int] = []
    barrier = threading.Barrier(people)

    def hold(session_key: str) -> None:
        barrier.wait()
        path = f"/accounts/{account.number}/actions/hold/"
        statuses.append(portal.post(session_key, path, {"reason": "fraud alert", "version": account.version}))

    threads = [threading.Thread(target=hold, args=(key,)) for key in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
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
                redis_stopped(portal, redis, outbox),
                worker_killed_mid_batch(portal),
            ]
        finally:
            portal.stop()
            redis.stop()
    print(f"{'scenario':<44}{'faults':>8}{'operations':>12}{'lost':>6}{'duplicated':>12}{'5xx':>5}")
    for o in outcomes:
        print(f"{o.scenario:<44}{o.faults:>8}{o.operations:>12}{o.lost:>6}{o.duplicated:>12}{o.server_errors:>5}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    raise SystemExit(main())
