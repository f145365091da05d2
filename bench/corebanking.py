"""The core-banking half of ``make bench``: the outbox delivered over HTTP, and a full reconciliation.

Both run against the reference core-banking service (``python -m corebank serve``), started
here on a free port with a fresh SQLite file in a temporary folder and ``--events-url ""``:
its events stay in its outbox. The bench runs no web process to receive them, and the
portal's answer to its own command has already applied what an event would say; delivering
them would add the service's webhook cost (an httpx call per event) to every command.

* ``measure_delivery``: ``BENCH_COMMANDS`` synthetic accounts (not drill data: drill
  commands are never sent) whose cards the service holds, one pending command each, written
  in bulk, delivered by ``accounts.jobs.deliver_core_commands`` in 1, then 2, real RQ worker
  processes (``rqworker default --burst``) with ``CORE_GATEWAY=http``. Two kinds, on the same
  accounts: activations of verifying accounts whose steps are all done (the bulk confirmation
  path: the accounts become active, tranches, cases, audit), then risk-hold suspensions of
  those now active accounts (core's answer only updates the card state). Commands per second
  from the first attempt to the last completion; every command must be done and core must
  have applied each idempotency key once.
* ``measure_reconciliation``: every card the desk holds, exported (``export_core_cards``),
  loaded into the service (``python -m corebank load``), then one ``reconcile(mode=FULL)``
  over HTTP, timed.
"""

from __future__ import annotations

import os
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
_LISTENING = re.compile(r"corebank: listening on (http://[^\s]+)")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def shared_secrets() -> None:
    """The secrets the portal signs with and the service accepts: one throwaway pair per run."""
    os.environ.setdefault("CORE_API_SECRETS", secrets.token_urlsafe(32))
    os.environ.setdefault("CORE_WEBHOOK_SECRETS", secrets.token_urlsafe(32))


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process (all its threads), from /proc; 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class ReferenceCore:
    """One ``python -m corebank serve`` process on a free port of 127.0.0.1, events kept in its outbox."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = folder / "core.sqlite3"
        self.log_path = folder / "corebank.log"
        self.url = ""
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._client: httpx.Client | None = None

    def load(self, cards: Path) -> float:
        """``python -m corebank load`` (before ``start``); the seconds it took."""
        started = time.perf_counter()
        subprocess.run(  # noqa: S603
            [sys.executable, "-m", "corebank", "load", str(cards), "--db", str(self.db)],
            cwd=ROOT,
            env=self._env(),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return round(time.perf_counter() - started, 1)

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CORE_API_SECRETS": os.environ["CORE_API_SECRETS"],
            "CORE_WEBHOOK_SECRETS": os.environ["CORE_WEBHOOK_SECRETS"],
            "PYTHONUNBUFFERED": "1",
        }

    def start(self, timeout: float = 60) -> None:
        self._log = self.log_path.open("ab")
        command = [
            sys.executable, "-m", "corebank", "serve", "--host", "127.0.0.1", "--port", "0",
            "--db", str(self.db), "--events-url", "",
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603
            command, cwd=ROOT, env=self._env(), stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"The reference core-banking service exited:\n{self.log_path.read_text()[-2000:]}")
            found = _LISTENING.search(self.log_path.read_text(errors="replace"))
            if found:
                self.url = found.group(1)
                try:
                    if httpx.get(f"{self.url}/sim/health", timeout=2).status_code == 200:
                        self._client = httpx.Client(base_url=self.url, timeout=60)
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"The reference core-banking service did not start within {timeout:.0f} s.")

    def stats(self) -> dict[str, Any]:
        if self._client is None:
            raise RuntimeError("the reference service is not running")
        response = self._client.get("/sim/stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def cpu_seconds(self) -> float:
        return _cpu_seconds(self.process.pid) if self.process else 0.0

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None


@contextmanager
def reference_core(prefix: str) -> Iterator[ReferenceCore]:
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        core = ReferenceCore(Path(folder))
        try:
            yield core
        finally:
            core.stop()


def vacuum_churned() -> None:
    """``VACUUM (ANALYZE)`` the tables the bench writes and deletes in bulk, as autovacuum would (PostgreSQL).

    Where autovacuum is off (as on the machine these figures come from) the dead rows of each
    run would slow the next: after a few delivery runs, a million dead commands made the jobs
    page's count of pending commands take 0.15 s instead of 1 ms.
    """
    from django.db import connection

    from accounts.models import (
        ActivationLink,
        AuditEntry,
        CoreCommand,
        Customer,
        LoanAccount,
        Notification,
        Tranche,
    )  # fmt: skip
    from casework.models import Case, CaseEvent, ChecklistItem, ReactivationBatch, ReactivationItem

    if connection.vendor != "postgresql":
        return
    models = (
        LoanAccount, Customer, AuditEntry, Tranche, CoreCommand, ReactivationBatch, ReactivationItem,
        ActivationLink, Notification, Case, CaseEvent, ChecklistItem,
    )  # fmt: skip
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM (ANALYZE) {connection.ops.quote_name(model._meta.db_table)}")


# --- delivery ---------------------------------------------------------------------------------

ACTIVATE_REASON = "Every verification step is done: activate the card."
HOLD_REASON = "Risk hold: adverse credit bureau report."


def _delivery_accounts(count: int) -> list[int]:
    """Verifying accounts (not drill data) with every step done, each with its card in core banking."""
    from django.db.models import Q
    from django.utils import timezone

    from accounts.demo import demo_accounts_create
    from accounts.models import LoanAccount, State

    before = LoanAccount.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    demo_accounts_create(count=count, seed=4343, states=((State.VERIFYING, 1),))
    created = LoanAccount.objects.filter(pk__gt=before, is_drill=False, state=State.VERIFYING)
    ids = list(created.order_by("pk").values_list("pk", flat=True))
    now = timezone.now()
    created.filter(Q(sms_verified_at__isnull=True)).update(sms_verified_at=now)
    created.filter(Q(password_set_at__isnull=True)).update(password_set_at=now)
    created.filter(Q(credit_reviewed_at__isnull=True)).update(credit_reviewed_at=now)
    return ids


def _write_commands(ids: Sequence[int], kind: str) -> list[int]:
    """One pending command of ``kind`` per account, written in bulk as ``command_create`` would write it."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from accounts.models import Channel, CoreCommand, LoanAccount
    from accounts.outbox import core_request
    from portal.actors import Actor

    if kind == CoreCommand.Kind.ACTIVATE:
        # The customer finishing the last step on the activation page asks for the activation.
        actor, reason = Actor.system("customer (activation page)", Channel.WEB), ACTIVATE_REASON
    else:
        actor, reason = Actor.staff(User.objects.get(username="credit")), HOLD_REASON
    now = timezone.now()
    commands = []
    for account in LoanAccount.objects.filter(pk__in=ids).select_related("customer").order_by("pk").iterator(2000):
        method, path, body = core_request(account, kind, reason=reason)
        commands.append(
            CoreCommand(
                account=account, kind=kind, method=method, path=path, body=body, reason=reason,
                actor_name=actor.name, actor_channel=actor.channel, decided_by=actor.user,
                created_at=now, next_attempt_at=now,
            )
        )  # fmt: skip
    created = CoreCommand.objects.bulk_create(commands, batch_size=2000)
    return [command.pk for command in created]


def _hold(ids: Sequence[int]) -> None:
    """A credit officer's risk hold on these (active) accounts, as the desk records it before telling core."""
    from django.db.models import F
    from django.utils import timezone

    from accounts.models import EmptyCause, LoanAccount, State

    now = timezone.now()
    LoanAccount.objects.filter(pk__in=ids).update(
        state=State.EMPTY, empty_cause=EmptyCause.RISK_HOLD, empty_since=now, state_changed_at=now,
        version=F("version") + 1,
    )  # fmt: skip


def _run_workers(workers: int, env: dict[str, str], jobs: int, log: Path) -> float:
    """Queue ``jobs`` delivery runs and let ``workers`` burst workers empty the queue; their CPU seconds.

    The workers log as in production (``LOG_LEVEL``, INFO by default: a line per request to
    core banking), into ``log`` rather than onto the bench's output.
    """
    import django_rq

    from accounts.outbox import DELIVERY_JOB

    queue = django_rq.get_queue("default", commit_mode="auto")
    for _job in range(jobs):
        queue.enqueue(DELIVERY_JOB)
    cpu_before = _children_cpu_seconds()
    command = [sys.executable, "manage.py", "rqworker", "default", "--burst", "--verbosity", "0"]
    with log.open("ab") as output:
        processes = [
            subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=output)  # noqa: S603
            for _worker in range(workers)
        ]
        deadline = time.monotonic() + 1800
        for process in processes:
            try:
                process.wait(timeout=max(1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for other in processes:
                    other.kill()
                raise SystemExit("The delivery workers did not finish within 30 minutes.") from None
    failed = [process.returncode for process in processes if process.returncode]
    if failed:
        raise SystemExit(f"A delivery worker exited with {failed[0]}; its log ends:\n{_tail(log)}")
    return _children_cpu_seconds() - cpu_before


_STARTUP: dict[str, float] = {}


def _startup_cpu(env: dict[str, str], log: Path) -> float:
    """CPU seconds a burst worker spends starting and stopping with nothing to do (measured once)."""
    if "cpu" not in _STARTUP:
        _STARTUP["cpu"] = _run_workers(1, env, jobs=0, log=log)
    return _STARTUP["cpu"]


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def run_delivery(
    core: ReferenceCore, ids: Sequence[int], kind: str, workers: int, env: dict[str, str]
) -> dict[str, Any]:
    """Deliver one command of ``kind`` per account with ``workers`` RQ workers; check and time it."""
    from django.db.models import Max, Min

    from accounts.models import CoreCommand

    others = CoreCommand.objects.filter(status=CoreCommand.Status.PENDING).count()
    if others:
        raise SystemExit(
            f"{others} commands are already pending in this database; the delivery bench would send them to its "
            "reference service. Run it on a bench database."
        )
    command_ids = _write_commands(ids, kind)
    vacuum_churned()  # the rows the previous run left dead, as autovacuum would clear them between runs
    before, service_cpu = core.stats(), core.cpu_seconds()
    worker_cpu = _run_workers(workers, env, jobs=workers, log=core.folder / "workers.log")
    worker_cpu -= workers * _startup_cpu(env, core.folder / "workers.log")
    after, service_cpu = core.stats(), core.cpu_seconds() - service_cpu
    commands = CoreCommand.objects.filter(pk__in=command_ids)
    not_done = commands.exclude(status=CoreCommand.Status.DONE).count()
    if not_done:
        example = commands.exclude(status=CoreCommand.Status.DONE).values("status", "last_error_code", "last_error")[0]
        raise SystemExit(
            f"{not_done} of {len(command_ids)} {kind} commands are not done, e.g. {example}. The workers' log ends:\n"
            f"{_tail(core.folder / 'workers.log')}"
        )
    span = commands.aggregate(first=Min("last_attempt_at"), last=Max("completed_at"))
    seconds = max((span["last"] - span["first"]).total_seconds(), 0.001)
    keys = after["idempotency"]["keys"] - before["idempotency"]["keys"]
    applications = after["idempotency"]["applications"] - before["idempotency"]["applications"]
    if keys != len(command_ids) or applications != len(command_ids):
        raise SystemExit(
            f"Core banking saw {keys} keys and applied {applications} times for {len(command_ids)} commands."
        )
    count = len(command_ids)
    return {
        "commands": count,
        "workers": workers,
        "seconds": round(seconds, 2),
        "per_second": round(count / seconds, 1),
        "max_attempts": commands.aggregate(most=Max("attempts"))["most"],
        "replays": after["idempotency"]["replays"] - before["idempotency"]["replays"],
        # CPU time per command, from /proc and the workers' rusage (less their start-up).
        "service_cpu_ms_per_command": round(1000 * service_cpu / count, 2),
        "worker_cpu_ms_per_command": round(1000 * max(worker_cpu, 0.0) / count, 2),
    }


def measure_delivery(size: int, child_env: dict[str, str]) -> dict[str, Any]:
    """Activations, then holds, of ``size`` accounts with 1 worker and ``size`` others with 2."""
    from accounts.management.commands.export_core_cards import write_cards
    from accounts.models import CardState, CoreCommand, LoanAccount, State

    ids = _delivery_accounts(2 * size)
    try:
        with reference_core("bench-core-") as core:
            cards = core.folder / "cards.jsonl"
            write_cards(LoanAccount.objects.filter(pk__in=ids), cards)
            core.load(cards)
            core.start()
            env = {**child_env, "CORE_GATEWAY": "http", "CORE_GATEWAY_URL": core.url}
            results: dict[str, Any] = {"accounts": size, "events": "kept in the service's outbox"}
            for kind, name in ((CoreCommand.Kind.ACTIVATE, "activations"), (CoreCommand.Kind.SUSPEND, "holds")):
                if kind == CoreCommand.Kind.SUSPEND:
                    _hold(ids)
                for workers, chunk in ((1, ids[:size]), (2, ids[size:])):
                    print(f"  {name}, {workers} worker(s) …", end="", flush=True)
                    row = run_delivery(core, chunk, kind, workers, env)
                    results[f"{name}_{workers}_worker{'s' if workers > 1 else ''}"] = row
                    print(f" {row['per_second']}/s", flush=True)
                if kind == CoreCommand.Kind.ACTIVATE:
                    active = LoanAccount.objects.filter(pk__in=ids, state=State.ACTIVE, card_state=CardState.ACTIVE)
                    if active.count() != len(ids):
                        raise SystemExit(f"Only {active.count()} of {len(ids)} accounts are active after delivery.")
            stats = core.stats()
            results["core_cards"] = stats["cards"]
            results["core_events_pending"] = stats["events"]["pending"]
    finally:
        purge_accounts(ids)
        vacuum_churned()
    return results


def purge_accounts(ids: Sequence[int]) -> None:
    """Delete the bench's synthetic accounts with everything hanging off them, and their customers.

    They are marked as drill data first: the audit trail is append-only, and the one DELETE it
    lets through is of a drill's rows (``portal.append_only``); these accounts are no more real
    than a drill's (they only had to be sent to core banking, which a drill's never are).
    """
    from accounts.models import Customer, LoanAccount
    from casework.models import Case

    customers = set(LoanAccount.objects.filter(pk__in=ids).values_list("customer_id", flat=True))
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        LoanAccount.objects.filter(pk__in=chunk).update(is_drill=True)
        Case.objects.filter(account_id__in=chunk).update(is_drill=True)
        Case.objects.filter(account_id__in=chunk).delete()
        LoanAccount.objects.filter(pk__in=chunk).delete()
    # They were created with these accounts only (demo_accounts_create makes a customer per account group).
    Customer.objects.filter(pk__in=customers, accounts__isnull=True).delete()


# --- reconciliation -----------------------------------------------------------------------------


def measure_reconciliation() -> dict[str, Any]:
    """Every card the desk holds, loaded into a fresh reference service, then one full reconciliation."""
    from django.core.management import call_command

    from accounts.gateway import HttpGateway
    from accounts.models import ReconciliationRun
    from accounts.reconcile import PAGE_SIZE, reconcile

    with reference_core("bench-reconcile-") as core:
        cards = core.folder / "cards.jsonl"
        started = time.perf_counter()
        call_command("export_core_cards", str(cards), stdout=open(os.devnull, "w"))  # noqa: SIM115
        exported = round(time.perf_counter() - started, 1)
        loaded = core.load(cards)
        core.start()
        service_cpu = core.cpu_seconds()
        started = time.perf_counter()
        run = reconcile(mode=ReconciliationRun.Mode.FULL, gateway=HttpGateway(core.url))
        seconds = time.perf_counter() - started
        service_cpu = core.cpu_seconds() - service_cpu
        held = core.stats()["cards"]["total"]
    counts = run.counts()
    error = run.error
    # A bench run is not a reconciliation of the real core: the next incremental run must not start from its cursor.
    ReconciliationRun.objects.filter(pk=run.pk).delete()
    if error:
        raise SystemExit(f"The reconciliation stopped: {error}")
    return {
        "cards": held,
        **counts,
        "seconds": round(seconds, 1 if seconds >= 10 else 2),
        "cards_per_second": round(counts["cards_read"] / max(seconds, 0.001)),
        "page_size": PAGE_SIZE,
        "service_cpu_seconds": round(service_cpu, 1),
        "export_seconds": exported,
        "load_seconds": loaded,
    }
