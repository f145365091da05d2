"""Load test of the portal: a production-like gunicorn on loopback, driven by locust.

Run from the repository root, against the database DATABASE_URL names (var/db.sqlite3 by
default), which must hold the demo data (``python manage.py seed_demo``)::

    .venv/bin/python bench/loadtest.py

It samples account numbers and case ids from the database, collects the static files, starts
gunicorn on 127.0.0.1 with DJANGO_DEBUG=0 (and Redis: REDIS_URL's, or a throwaway embedded one),
runs ``bench/locustfile.py`` headless, stops everything again, prints the figures per page,
writes them to ``bench/loadtest.json`` and exits 1 if any request failed. The Aggregated figures
(and the top-level ones in the JSON, except ``failures``, which counts every request) cover the
requests made after all users had signed in (``"after_sign_in": true``; false when the run ended
first); the sign-in rows are listed on their own.

Environment: LOADTEST_USERS (20), LOADTEST_SPAWN_RATE (10 a second), LOADTEST_SECONDS (60),
LOADTEST_WEB_WORKERS (3 gunicorn workers); locust's own variables (LOADTEST_WAIT,
LOADTEST_PASSWORD) are described in bench/locustfile.py.

The server runs plain HTTP on loopback, so secure cookies, the HTTPS redirect and HSTS are off;
a fresh random secret key is used, mail and SMS go to memory. Everything else is production.
About one request in ten posts a case comment, so each run adds comments to the database:
use a disposable copy, never one with real data.
"""

from __future__ import annotations

import csv
import json
import math
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LOCUSTFILE = REPO / "bench" / "locustfile.py"
RESULT_FILE = REPO / "bench" / "loadtest.json"
SAMPLE_SIZE = 500
DEEP_PAGE = 200
LOGINS = ("lead", "service", "tech", "credit")
SIGN_IN = "/login/"  # the locustfile's name for the sign-in requests
SERVER_START_SECONDS = 60
# Locust needs a moment beyond -t to stop its users and write the CSV files.
LOCUST_GRACE_SECONDS = 60


class LoadTestError(Exception):
    """Something that stops the load test, with a message for the person running it."""


def env_int(name: str, default: int) -> int:
    """A positive whole number from the environment."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise LoadTestError(f"{name}={raw!r} is not a positive whole number.")
    return int(raw)


def server_environment(redis_url: str) -> dict[str, str]:
    """The caller's environment with the production settings a loopback test server needs."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            # Plain HTTP on loopback: no TLS proxy in front, so no secure-only cookies or redirects.
            "DJANGO_SECURE_COOKIES": "0",
            "DJANGO_SECURE_SSL_REDIRECT": "0",
            "DJANGO_HSTS_SECONDS": "0",
            "REDIS_URL": redis_url,
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "SMS_BACKEND": "accounts.sms.LocMemSmsBackend",
            # No RQ worker runs here: what staff decide during the test waits in the outbox, and
            # nothing reaches core banking. Production refuses the in-process gateway unless told.
            "CORE_GATEWAY": os.environ.get("CORE_GATEWAY") or "simulated",
            "CORE_ALLOW_SIMULATED": "1",
            # The simulated staff sign in with a password; the second step costs no query anyway.
            "OTP_REQUIRED": os.environ.get("OTP_REQUIRED") or "0",
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def spread(values: Iterator[Any], total: int, limit: int) -> list[Any]:
    """Every n-th of ``total`` values, so that at most ``limit`` are kept, spread over all of them."""
    stride = max(1, math.ceil(total / limit))
    return [value for index, value in enumerate(values) if index % stride == 0][:limit]


def build_sample() -> dict[str, Any]:
    """Account numbers, case ids and logins to spread the load over, read from the database."""
    import django
    from django.contrib.auth import get_user_model
    from django.db import DatabaseError

    django.setup()

    from accounts.models import LoanAccount
    from accounts.views import PAGE_SIZE
    from casework.models import Case
    from casework.policy import may_work
    from portal.selectors import department_codes

    try:
        accounts = LoanAccount.objects.filter(is_drill=False).order_by("id")
        account_total = accounts.count()
        cases = Case.objects.filter(is_drill=False).order_by("id")
        case_total = cases.count()
        if not account_total or not case_total:
            raise LoadTestError(
                f"The database holds {account_total} accounts and {case_total} cases (drills left out): "
                "run `python manage.py seed_demo` first (e.g. --accounts 2000)."
            )
        sample: dict[str, Any] = {
            "accounts": spread(accounts.values_list("number", flat=True).iterator(2000), account_total, SAMPLE_SIZE),
            "cases": spread(cases.values_list("id", flat=True).iterator(2000), case_total, SAMPLE_SIZE),
            "deep_page": min(DEEP_PAGE, math.ceil(account_total / PAGE_SIZE)),
            "cases_by_department": {},
            "logins": {},
        }
        for code in cases.values_list("department_id", flat=True).distinct().order_by("department_id"):
            department_cases = cases.filter(department_id=code)
            sample["cases_by_department"][code] = spread(
                department_cases.values_list("id", flat=True).iterator(2000), department_cases.count(), SAMPLE_SIZE
            )
        users = get_user_model().objects.filter(username__in=LOGINS, is_active=True)
        for user in users.order_by("username"):
            departments = [code for code in department_codes(user) if may_work(user, code)]
            if any(sample["cases_by_department"].get(code) for code in departments):
                sample["logins"][user.username] = sorted(departments)
    except DatabaseError as exc:
        raise LoadTestError(
            f"Could not read the database ({exc}): run `python manage.py migrate` and "
            "`python manage.py seed_demo` first."
        ) from None
    if not sample["logins"]:
        raise LoadTestError(
            f"None of the demo logins {', '.join(LOGINS)} exists and works a department with cases: "
            "run `python manage.py seed_demo` first."
        )
    return sample


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run_checked(command: list[str], env: Mapping[str, str], what: str, timeout: float) -> None:
    """Run a short command in the repository; its output is shown only if it fails."""
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
            command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise LoadTestError(f"{what} took longer than {timeout:.0f} s.") from None
    if done.returncode:
        raise LoadTestError(f"{what} failed:\n{done.stdout}{done.stderr}")


@contextmanager
def embedded_redis(directory: Path) -> Iterator[str]:
    """A throwaway redis-server on a unix socket in ``directory``; yields its URL."""
    from portal.embedded_redis import RedisProcess

    process = RedisProcess(directory)
    try:
        process.start()
    except (RuntimeError, ValueError) as exc:
        raise LoadTestError(f"Could not start the embedded Redis: {exc}. Set REDIS_URL to a Redis.") from None
    try:
        yield process.url
    finally:
        process.stop()


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """Ask a process (and the group it leads) to stop; kill it if it has not within 15 s."""
    if process.poll() is None:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # gunicorn workers left behind, if any
    process.wait()


@contextmanager
def gunicorn(port: int, workers: int, env: Mapping[str, str], log: Path) -> Iterator[str]:
    """gunicorn serving the portal on 127.0.0.1:``port`` until the block ends; yields its URL."""
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable, "-m", "gunicorn", "portal.wsgi",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--graceful-timeout", "5",
    ]  # fmt: skip
    with log.open("wb") as output:
        # Its own process group: Ctrl-C reaches only this script, which then stops gunicorn.
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_until_healthy(url, process, log)
            yield url
        finally:
            stop_process_group(process)


def wait_until_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll ``/healthz`` until it answers 200; fail if gunicorn exits or takes too long."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise LoadTestError(f"gunicorn exited with {process.returncode}:\n{tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as response:  # noqa: S310 - our loopback URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    raise LoadTestError(f"gunicorn did not answer {url}/healthz within {SERVER_START_SECONDS} s:\n{tail(log)}")


def tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def run_locust(url: str, users: int, spawn_rate: int, seconds: int, csv_prefix: Path, sample: Path) -> int:
    """Run the locustfile headless against ``url``; at most ``seconds`` plus a grace period."""
    command = [
        sys.executable, "-m", "locust",
        "-f", str(LOCUSTFILE),
        "--headless",
        "-u", str(users),
        "-r", str(spawn_rate),
        "-t", f"{seconds}s",
        "--host", url,
        "--csv", str(csv_prefix),
        "--only-summary",
    ]  # fmt: skip
    env = {**os.environ, "LOADTEST_SAMPLE": str(sample)}
    try:
        done = subprocess.run(  # noqa: S603 - our own interpreter and fixed arguments
            command, cwd=REPO, env=env, timeout=seconds + LOCUST_GRACE_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise LoadTestError(f"locust was still running {LOCUST_GRACE_SECONDS} s after its {seconds} s.") from None
    return done.returncode


@dataclass(frozen=True)
class PageStats:
    """Locust's figures for one request name (or the Aggregated row)."""

    requests: int
    failures: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    rps: float | None


def _number(raw: str) -> float | None:
    """A figure from locust's CSV ("N/A" when there were no requests)."""
    try:
        return float(raw)
    except ValueError:
        return None


def read_stats(path: Path) -> tuple[dict[str, PageStats], PageStats]:
    """The rows of locust's ``_stats.csv``: per "METHOD name", and the Aggregated row."""
    if not path.exists():
        raise LoadTestError(f"locust wrote no statistics ({path.name} is missing).")
    pages: dict[str, PageStats] = {}
    total: PageStats | None = None
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            stats = PageStats(
                requests=int(row["Request Count"]),
                failures=int(row["Failure Count"]),
                p50_ms=_number(row["50%"]),
                p95_ms=_number(row["95%"]),
                p99_ms=_number(row["99%"]),
                # locust divides by the time since the reset after sign-in: meaningless for sign-ins
                rps=None if row["Name"] == SIGN_IN else round(float(row["Requests/s"]), 2),
            )
            if row["Name"] == "Aggregated":
                total = stats
            else:
                pages[f"{row['Type']} {row['Name']}"] = stats
    if total is None:
        raise LoadTestError(f"{path.name} has no Aggregated row.")
    return pages, total


def read_failures(path: Path) -> dict[str, int]:
    """How often each distinct failure happened, from locust's ``_failures.csv``."""
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as handle:
        return {
            f"{row['Method']} {row['Name']}: {row['Error']}": int(row["Occurrences"]) for row in csv.DictReader(handle)
        }


def print_table(pages: dict[str, PageStats], total: PageStats, after_sign_in: bool) -> None:
    """The figures as a table, slowest pages (by p95) first."""

    def cell(value: float | None, decimals: int = 0) -> str:
        return "-" if value is None else f"{value:.{decimals}f}"

    label = "Aggregated (after sign-in)" if after_sign_in else "Aggregated"
    width = max(len(name) for name in [*pages, label])
    print(f"\n{'request':<{width}}  {'reqs':>7} {'fails':>6} {'p50':>6} {'p95':>6} {'p99':>6} {'rps':>7}   (ms)")
    ordered = sorted(pages.items(), key=lambda item: -(item[1].p95_ms or 0))
    for name, stats in [*ordered, (label, total)]:
        if name == label:
            print("-" * (width + 46))
        print(
            f"{name:<{width}}  {stats.requests:>7} {stats.failures:>6} {cell(stats.p50_ms):>6} "
            f"{cell(stats.p95_ms):>6} {cell(stats.p99_ms):>6} {cell(stats.rps, 2):>7}"
        )


def write_result(
    pages: dict[str, PageStats],
    total: PageStats,
    *,
    failures: int,
    after_sign_in: bool,
    users: int,
    seconds: int,
    workers: int,
) -> None:
    """The figures as JSON in ``bench/loadtest.json``."""
    result = {
        "users": users,
        "seconds": seconds,
        "web_workers": workers,
        "after_sign_in": after_sign_in,
        "requests": total.requests,
        "failures": failures,
        "rps": total.rps,
        "p50_ms": total.p50_ms,
        "p95_ms": total.p95_ms,
        "p99_ms": total.p99_ms,
        "pages": {name: asdict(stats) for name, stats in sorted(pages.items())},
    }
    RESULT_FILE.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into an exception, so the servers are stopped on the way out."""
    raise KeyboardInterrupt


def main() -> int:
    """Run the load test; 0 when every request succeeded."""
    users = env_int("LOADTEST_USERS", 20)
    spawn_rate = env_int("LOADTEST_SPAWN_RATE", 10)
    seconds = env_int("LOADTEST_SECONDS", 60)
    workers = env_int("LOADTEST_WEB_WORKERS", 3)
    os.chdir(REPO)
    sys.path.insert(0, str(REPO))
    signal.signal(signal.SIGTERM, _stop_on_sigterm)

    with ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="loadtest-")))
        redis_url = os.environ.get("REDIS_URL", "").strip()
        own_redis = not redis_url
        if own_redis:
            redis_url = f"unix://{work / 'redis' / 'redis.sock'}?db=0"
        env = server_environment(redis_url)
        os.environ.update(env)  # the sample is read with the server's settings and database

        sample_file = work / "sample.json"
        sample = build_sample()
        sample_file.write_text(json.dumps(sample), encoding="utf-8")
        print(
            f"Sample: {len(sample['accounts'])} accounts, {len(sample['cases'])} cases, "
            f"deep page {sample['deep_page']}, logins {', '.join(sample['logins'])}.",
            flush=True,
        )

        print("Collecting static files (DJANGO_DEBUG=0 serves them from the manifest)...", flush=True)
        run_checked([sys.executable, "manage.py", "collectstatic", "--noinput"], env, "collectstatic", timeout=300)
        if own_redis:
            stack.enter_context(embedded_redis(work / "redis"))
        # In production the periodic job keeps the dashboard's snapshot fresh (every minute, for
        # five): compute it once here, as it would be before anyone opens the dashboard.
        print("Computing the dashboard's figures, as the periodic job does...", flush=True)
        run_checked(
            [sys.executable, "manage.py", "run_periodic", "refresh_dashboard"],
            env,
            "the dashboard snapshot",
            timeout=300,
        )

        log = work / "gunicorn.log"
        url = stack.enter_context(gunicorn(free_port(), workers, env, log))
        print(f"gunicorn ({workers} workers) at {url}; locust: {users} users for {seconds} s.", flush=True)
        locust_code = run_locust(url, users, spawn_rate, seconds, work / "loadtest", sample_file)

        pages, total = read_stats(work / "loadtest_stats.csv")
        failures = read_failures(work / "loadtest_failures.csv")
        # Failed sign-ins are not in Aggregated, and locust's last CSV write may miss late ones.
        failed = max(total.failures, sum(page.failures for page in pages.values()), sum(failures.values()))
        sign_ins = pages.get(f"POST {SIGN_IN}")
        after_sign_in = sign_ins is not None and sign_ins.requests >= users
        print_table(pages, total, after_sign_in)
        write_result(
            pages, total, failures=failed, after_sign_in=after_sign_in, users=users, seconds=seconds, workers=workers
        )
        print(f"\nWritten to {RESULT_FILE.relative_to(REPO)}.")
        if not after_sign_in:
            print(
                "Not every user had signed in when the run ended, so Aggregated includes the sign-ins "
                "and the requests queued behind them: run longer (LOADTEST_SECONDS) or with fewer users."
            )
        if failed:
            lines = [f"{count:>6} x {failure}" for failure, count in failures.items()]
            print(f"\n{failed} requests failed:", *lines, sep="\n", file=sys.stderr)
            server_log = tail(log)
            if server_log:
                print(f"\nLast lines of the gunicorn log:\n{server_log}", file=sys.stderr)
            return 1
        if not total.requests:
            print(
                "No page was requested after the sign-ins: run longer (LOADTEST_SECONDS) or with fewer "
                "users (LOADTEST_USERS).",
                file=sys.stderr,
            )
            return 1
        if locust_code:
            print(f"locust exited with {locust_code} (a late failure or an error: see its summary).", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except LoadTestError as error:
        print(f"loadtest: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("loadtest: interrupted; servers stopped.", file=sys.stderr)
        sys.exit(130)
