"""Liveness and readiness probes for load balancers and process managers."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from portal.selectors import database_error, redis_error


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
    """200 when the database and Redis both answer; 503 naming what is down."""
    errors = {"database": database_error(), "redis": redis_error()}
    down = sorted(name for name, error in errors.items() if error)
    body = {
        "status": "unavailable" if down else "ok",
        "down": down,
        "checks": {name: error or "ok" for name, error in errors.items()},
    }
    return JsonResponse(body, status=503 if down else 200)
