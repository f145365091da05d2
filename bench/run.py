"""``make bench``: the portal's speed at scale, measured in one run.

Against ``DATABASE_URL`` (PostgreSQL for the real figures; SQLite works with a smaller data
set) it creates the data set if it is missing (``BENCH_ACCOUNTS``, default 1,000,000;
``BENCH_CASES``, default 100,000), then measures, prints a table and writes
``bench/results.json`` (or ``--out``):

* each main page, and the Django admin changelist (or change page) over the same rows: server
  time p50 and p95 over ``BENCH_REQUESTS`` requests (default 30) of the in-process test client,
  signed in, with ``DEBUG`` off, and the number of SQL queries;
* one monitor scan over all accounts; anomaly detection;
* a CSV import of ``BENCH_IMPORT_ROWS`` new customers and accounts (default 50,000), checked
  (dry run) then imported, in seconds (``bench/imports.py``; the rows are removed afterwards);
* a reactivation batch of ``BENCH_BATCH`` accounts (default 10,000) through the simulated
  gateway with one and with two real RQ worker processes, in accounts per second;
* commands delivered per second over HTTP to the reference core-banking service, with one and
  with two RQ worker processes: ``BENCH_COMMANDS`` activations (default 20,000), then as many
  risk-hold suspensions (``bench/corebanking.py``);
* one full reconciliation of every card the desk holds against that service, in seconds;
* the peak memory (RSS) of a gunicorn web process serving every page, and of the RQ worker.

It uses ``REDIS_URL`` if set, else a throwaway embedded redis-server, and starts its own
reference core-banking services (``python -m corebank serve``, SQLite in a temporary folder).
The batch accounts are synthetic (drill data, never counted) and deleted afterwards, as are the
delivery bench's accounts (real accounts: drill commands are never sent) and its
reconciliation run; nothing else is changed except what the monitor itself would do (and what
reconciliation fixes, if the data set disagrees with its own cards).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "bench" / "results.json"


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    try:
        return int(value.replace("_", "")) if value else default
    except ValueError:
        sys.exit(f"{name} must be a whole number, not {value!r}")


@contextmanager
def _redis() -> Iterator[None]:
    """REDIS_URL when given, else an embedded redis-server for this run only."""
    if os.environ.get("REDIS_URL"):
        yield
        return
    from portal.embedded_redis import RedisProcess

    with tempfile.TemporaryDirectory(prefix="bench-redis-") as directory:
        server = RedisProcess(Path(directory))
        server.start()
        os.environ["REDIS_URL"] = server.url
        try:
            yield
        finally:
            server.stop()
            del os.environ["REDIS_URL"]


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return round(ordered[index], 1)


# --- the data set ------------------------------------------------------------------------------


def ensure_data(accounts: int, cases: int) -> float | None:
    """Create the data set if it is smaller than asked; return the seconds it took (None: there)."""
    from django.core.management import call_command

    from accounts.models import LoanAccount

    have = LoanAccount.objects.filter(is_drill=False).count()
    if have >= accounts:
        print(f"Data set: {have:,} accounts already there.")
        return None
    print(f"Data set: creating {accounts - have:,} accounts and up to {cases:,} cases…", flush=True)
    started = time.perf_counter()
    call_command("seed_demo", accounts=accounts, cases=cases, force=True, stdout=sys.stdout)
    return round(time.perf_counter() - started, 1)


# --- pages --------------------------------------------------------------------------------------


def _samples() -> dict[str, Any]:
    """An account and a case from the middle of their tables, and a deep page number."""
    from django.db.models import Max, Min

    from accounts.models import LoanAccount
    from casework.models import Case

    span = LoanAccount.objects.filter(is_drill=False).aggregate(low=Min("pk"), high=Max("pk"))
    account = (
        LoanAccount.objects.filter(is_drill=False, pk__gte=(span["low"] + span["high"]) // 2).order_by("pk").first()
    )
    case_span = Case.objects.filter(is_drill=False).open().aggregate(low=Min("pk"), high=Max("pk"))
    case = (
        Case.objects.filter(is_drill=False, pk__gte=((case_span["low"] or 0) + (case_span["high"] or 0)) // 2)
        .open()
        .order_by("pk")
        .first()
    )
    if account is None or case is None:
        sys.exit("The data set has no account or no open case: run with a larger BENCH_ACCOUNTS / BENCH_CASES.")
    total = LoanAccount.objects.filter(is_drill=False).count()
    return {"account": account, "case": case, "deep_page": max(1, total // 25 // 2)}


def page_specs(samples: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    """Page name → (our URL, the admin URL over the same rows or None)."""
    from accounts.views import PAGE_SIZE as ACCOUNT_PAGE

    account, case, deep = samples["account"], samples["case"], samples["deep_page"]
    admin_deep = (deep - 1) * ACCOUNT_PAGE // 100  # the admin shows 100 rows a page, numbered from 0
    open_statuses = "new,assigned,in_progress,waiting_customer"
    return {
        "dashboard": ("/", None),
        "account_list": ("/accounts/", "/admin/accounts/loanaccount/"),
        "account_list_filtered": (
            "/accounts/?state=empty&empty_cause=customer_incomplete",
            "/admin/accounts/loanaccount/?state__exact=empty&empty_cause__exact=customer_incomplete",
        ),
        "account_list_deep": (f"/accounts/?page={deep}", f"/admin/accounts/loanaccount/?p={admin_deep}"),
        "account_detail": (account.get_absolute_url(), f"/admin/accounts/loanaccount/{account.pk}/change/"),
        "case_board": ("/cases/board/", f"/admin/casework/case/?status__in={open_statuses}"),
        "case_board_department": (
            "/cases/board/?department=service",
            f"/admin/casework/case/?status__in={open_statuses}&department__code__exact=service",
        ),
        "case_detail": (case.get_absolute_url(), f"/admin/casework/case/{case.pk}/change/"),
        "jobs": ("/jobs/", None),
    }


def _measure(client: Any, url: str, requests: int) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _warm in range(2):
        response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"GET {url} answered {response.status_code}; the bench needs every page to work.")
    timings = []
    for _request in range(requests):
        started = time.perf_counter()
        client.get(url)
        timings.append((time.perf_counter() - started) * 1000)
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    return {"p50_ms": _percentile(timings, 0.5), "p95_ms": _percentile(timings, 0.95), "queries": len(queries)}


def measure_pages(requests: int) -> dict[str, dict[str, Any]]:
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.test import Client

    if settings.DEBUG:
        raise SystemExit("The bench measures production settings: DEBUG must be off (see _production_settings).")
    ours, admin = Client(), Client()
    ours.force_login(User.objects.get(username="lead"))
    admin.force_login(User.objects.get(username="admin"))
    results: dict[str, dict[str, Any]] = {}
    for name, (url, admin_url) in page_specs(_samples()).items():
        print(f"  {name} …", end="", flush=True)
        row = _measure(ours, url, requests)
        theirs = _measure(admin, admin_url, requests) if admin_url else None
        results[name] = {
            **row,
            "admin_p50_ms": theirs["p50_ms"] if theirs else None,
            "admin_p95_ms": theirs["p95_ms"] if theirs else None,
            "admin_queries": theirs["queries"] if theirs else None,
            "url": url,
            "admin_url": admin_url,
        }
        print(f" {row['p95_ms']} ms p95", flush=True)
    return results


# --- jobs ---------------------------------------------------------------------------------------


def measure_monitor() -> dict[str, Any]:
    import django_rq

    from accounts.models import LoanAccount, State
    from accounts.monitor import monitor_scan

    started = time.perf_counter()
    summary = monitor_scan()
    seconds = round(time.perf_counter() - started, 2)
    # The work it queued (cases, messages) is real, but not this bench's: the batch workers
    # below would run it too.
    django_rq.get_queue("default").empty()
    in_scope = LoanAccount.objects.filter(state__in=(State.ISSUED, State.VERIFYING)).count()
    return {
        "seconds": seconds,
        "examined": summary.examined,
        "changed": summary.changed,
        "waiting_for_activation": in_scope,
        "not_issued_flagged": summary.not_issued,
    }


def measure_anomaly() -> float:
    from casework.anomaly import detect_anomalies

    started = time.perf_counter()
    detect_anomalies()
    return round(time.perf_counter() - started, 2)


def _child_env() -> dict[str, str]:
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings", "PYTHONPATH": str(ROOT)}


def _production_settings() -> None:
    """Measure what production runs: DEBUG off (template debugging, query logging and all).

    Plain HTTP on loopback and the test client's host name, so no HTTPS redirect or secure
    cookies; a throwaway secret key unless one is set. Worker and web processes inherit it.
    """
    os.environ.update(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(60),
        DJANGO_ALLOWED_HOSTS="testserver,127.0.0.1",
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SECURE_COOKIES="0",
        DJANGO_HSTS_SECONDS="0",
        # Pages and drill re-drives never reach core banking; the delivery bench starts its own.
        CORE_GATEWAY=os.environ.get("CORE_GATEWAY") or "simulated",
        CORE_ALLOW_SIMULATED="1",
        # The bench's sessions are made without a phone; the second step costs no query anyway.
        OTP_REQUIRED=os.environ.get("OTP_REQUIRED") or "0",
    )
    from bench.corebanking import shared_secrets

    shared_secrets()  # signed requests to the reference core-banking services the bench starts


def _rss_mb(pid: int) -> float:
    """Resident memory of a process and its children now, in MB (Linux /proc; 0 elsewhere)."""
    total = 0
    pids = [pid]
    while pids:
        current = pids.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        total += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        pids += [int(child) for child in children]
    return round(total / 1024, 1)


def _bench_accounts(count: int) -> list[int]:
    """Synthetic accounts, empty for a system fault: what a re-drive after a fix works on."""
    from accounts.demo import demo_accounts_create
    from accounts.models import EmptyCause, LoanAccount, State

    before = LoanAccount.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    demo_accounts_create(
        count=count,
        seed=4242,
        is_drill=True,
        states=((State.EMPTY, 1),),
        causes=((EmptyCause.SYSTEM_CONFIG, 1),),
    )
    return list(LoanAccount.objects.filter(pk__gt=before, is_drill=True).values_list("pk", flat=True))


def _purge(ids: list[int]) -> None:
    from bench.corebanking import purge_accounts
    from casework.models import ReactivationBatch

    purge_accounts(ids)
    ReactivationBatch.objects.filter(title__startswith="Bench:").delete()


def run_batch(ids: list[int], workers: int) -> tuple[float, float]:
    """One batch over ``ids`` worked by ``workers`` RQ worker processes: (accounts/s, peak RSS MB)."""
    from django.contrib.auth.models import User
    from django.db import transaction
    from django.db.models import Min

    from casework.batches import batch_start
    from casework.models import ReactivationBatch

    lead = User.objects.get(username="lead")
    with transaction.atomic():
        batch = batch_start(title=f"Bench: {workers} worker(s)", account_ids=ids, user=lead)
    command = [sys.executable, "manage.py", "rqworker", "default", "--burst", "--verbosity", "0"]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=_child_env(), stdout=subprocess.DEVNULL)  # noqa: S603
        for _worker in range(workers)
    ]
    peak = 0.0
    deadline = started + 1800
    while any(process.poll() is None for process in processes):
        peak = max(peak, *(_rss_mb(process.pid) for process in processes))
        if time.perf_counter() > deadline:
            for process in processes:
                process.kill()
            raise SystemExit("The reactivation batch did not finish within 30 minutes.")
        time.sleep(0.2)
    batch.refresh_from_db()
    finished = batch.finished_at
    if batch.status != ReactivationBatch.Status.DONE or finished is None:
        raise SystemExit(f"The batch ended as {batch.status} with {batch.processed}/{batch.total} done.")
    # From the first account driven to the last answer: the workers' start-up is not the batch's speed.
    first = batch.items.aggregate(first=Min("attempted_at"))["first"] or batch.created_at
    seconds = max((finished - first).total_seconds(), 0.001)
    return round(batch.processed / seconds, 1), peak


def measure_reactivation(size: int) -> tuple[dict[str, Any], float]:
    from bench.corebanking import vacuum_churned

    ids = _bench_accounts(2 * size)
    try:
        one, rss_one = run_batch(ids[:size], 1)
        two, rss_two = run_batch(ids[size:], 2)
    finally:
        _purge(ids)
        vacuum_churned()
    return {"accounts": size, "per_second_1_worker": one, "per_second_2_workers": two}, max(rss_one, rss_two)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure_web_rss(urls: list[str]) -> float:
    """Peak RSS of one gunicorn worker after serving every page a few times, in MB."""
    from django.conf import settings
    from django.contrib.auth.models import User

    from portal.sessions import SessionStore, staff_session_create

    session = SessionStore(staff_session_create(User.objects.get(username="lead")))
    port = _free_port()
    env = _child_env()
    command = [sys.executable, "-m", "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz")
        peak = 0.0
        for _round in range(3):
            for url in urls:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}{url}",
                    headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}"},
                )
                with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                    response.read()
                peak = max(peak, _worker_rss(server.pid))
        return peak
    finally:
        server.terminate()
        server.wait(timeout=30)
        session.delete()


def _worker_rss(master: int) -> float:
    """The largest RSS among gunicorn's workers (its children), in MB."""
    try:
        children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    except OSError:
        return 0.0
    return max((_rss_mb(int(child)) for child in children), default=0.0)


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback only
                return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"The web server did not answer {url} within {timeout:.0f} s.")


# --- the report --------------------------------------------------------------------------------


def _table(results: dict[str, Any]) -> str:
    def cell(value: Any) -> str:
        return "—" if value is None else str(value)

    lines = [
        f"{'page':<24}{'p50 ms':>9}{'p95 ms':>9}{'queries':>9}{'admin p50':>11}{'admin p95':>11}"
        f"{'admin q':>9}{'ours/admin':>12}"
    ]
    for name, row in results["pages"].items():
        ratio = round(row["p95_ms"] / row["admin_p95_ms"], 2) if row["admin_p95_ms"] else None
        lines.append(
            f"{name:<24}{row['p50_ms']:>9}{row['p95_ms']:>9}{row['queries']:>9}{cell(row['admin_p50_ms']):>11}"
            f"{cell(row['admin_p95_ms']):>11}{cell(row['admin_queries']):>9}{cell(ratio):>12}"
        )
    monitor, batch = results["monitor_scan"], results["reactivation"]
    lines += [
        "",
        f"monitor scan     {monitor['seconds']} s, {monitor['examined']} examined, {monitor['changed']} changed "
        f"({monitor['waiting_for_activation']:,} accounts waiting for activation)",
        f"anomaly check    {results['anomaly_seconds']} s",
        f"CSV import       {results['import']['rows']:,} rows ({results['import']['megabytes']} MB): checked in "
        f"{results['import']['check_seconds']} s (dry run), imported in {results['import']['import_seconds']} s",
        f"reactivation     {batch['accounts']:,} accounts: {batch['per_second_1_worker']}/s with 1 worker, "
        f"{batch['per_second_2_workers']}/s with 2",
    ]
    delivery, reconciliation = results["delivery"], results["reconciliation"]
    for name in ("activations", "holds"):
        one, two = delivery[f"{name}_1_worker"], delivery[f"{name}_2_workers"]
        lines.append(
            f"core commands    {delivery['accounts']:,} {name} over HTTP: {one['per_second']}/s with 1 worker, "
            f"{two['per_second']}/s with 2 (CPU per command with 1 worker: service {one['service_cpu_ms_per_command']}"
            f" ms, worker {one['worker_cpu_ms_per_command']} ms)"
        )
    lines += [
        f"reconciliation   {reconciliation['cards_read']:,} cards in {reconciliation['seconds']} s "
        f"({reconciliation['cards_per_second']:,}/s): {reconciliation['mismatches']} mismatches, "
        f"{reconciliation['fixed']} fixed, {reconciliation['cased']} cased, {reconciliation['in_flight']} in flight, "
        f"{reconciliation['unknown']} unknown",
        f"peak RSS         web {results['rss_mb']['web']} MB, worker {results['rss_mb']['worker']} MB",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON results")
    arguments = parser.parse_args(argv)
    accounts = _env_int("BENCH_ACCOUNTS", 1_000_000)
    cases = _env_int("BENCH_CASES", 100_000)
    requests = max(3, _env_int("BENCH_REQUESTS", 30))
    batch_size = _env_int("BENCH_BATCH", 10_000)
    commands = _env_int("BENCH_COMMANDS", 20_000)

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    _production_settings()
    with _redis():
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0, interactive=False)
        call_command("collectstatic", verbosity=0, interactive=False)
        generated = ensure_data(accounts, cases)
        from bench.corebanking import measure_delivery, measure_reconciliation, vacuum_churned

        vacuum_churned()  # what an earlier run left behind, where autovacuum is off
        from accounts.models import LoanAccount
        from casework.models import Case

        print("Pages (server time, in-process client, DEBUG off):", flush=True)
        pages = measure_pages(requests)
        results: dict[str, Any] = {
            "database": connection.vendor,
            "accounts": LoanAccount.objects.filter(is_drill=False).count(),
            "cases": Case.objects.filter(is_drill=False).count(),
            "generated_seconds": generated,
            "requests_per_page": requests,
            "pages": pages,
        }
        print("Monitor scan, anomaly detection, reactivation batches…", flush=True)
        results["monitor_scan"] = measure_monitor()
        results["anomaly_seconds"] = measure_anomaly()
        print("CSV import…", flush=True)
        from bench.imports import measure_import

        results["import"] = measure_import(_env_int("BENCH_IMPORT_ROWS", 50_000))
        results["reactivation"], worker_rss = measure_reactivation(batch_size)
        print("Core banking over HTTP: commands delivered…", flush=True)
        results["delivery"] = measure_delivery(commands, _child_env())
        print("Core banking over HTTP: a full reconciliation…", flush=True)
        results["reconciliation"] = measure_reconciliation()
        print(f"  {results['reconciliation']['seconds']} s", flush=True)
        web_rss = measure_web_rss([row["url"] for row in pages.values()])
        results["rss_mb"] = {"web": web_rss, "worker": worker_rss}
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(_table(results))
    print(f"\nWritten to {arguments.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
