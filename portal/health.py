"""Liveness and readiness probes for load balancers and process managers."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

from django.contrib.auth.decorators import login_not_required
from django.db import connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.selectors import database_error, redis_error

DEADLINE = 0.4  # seconds: load balancers probe every few seconds and give up after one or two
# Probes run beside the request, so that a database or Redis that hangs (rather than refuses)
# cannot hold the answer; a few threads at most, whatever the rate of probes.
_PROBES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")
CHECKS: dict[str, Callable[[], str | None]] = {"database": database_error, "redis": redis_error}


def _probe(check: Callable[[], str | None]) -> str | None:
    try:
        return check()
    finally:
        connections.close_all()  # this probe thread's own database connection


def readiness(deadline: float = DEADLINE) -> dict[str, str | None]:
    """What is down (name → what went wrong), each check given ``deadline`` seconds at most."""
    futures = {name: _PROBES.submit(_probe, check) for name, check in CHECKS.items()}
    done, _late = wait(futures.values(), timeout=deadline)
    late = f"no answer within {round(deadline * 1000)} ms"
    return {name: future.result() if future in done else late for name, future in futures.items()}


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the process can answer at all."""
    return HttpResponse("ok\n", content_type="text/plain")


@login_not_required
@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database and Redis both answer; 503 naming what is down, within half a second."""
    errors = readiness()
    down = sorted(name for name, error in errors.items() if error)
    body = {
        "status": "unavailable" if down else "ok",
        "down": down,
        "checks": {name: error or "ok" for name, error in errors.items()},
    }
    return JsonResponse(body, status=503 if down else 200)
