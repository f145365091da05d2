"""Heartbeats of periodic jobs: every run records its start, success, duration and counts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone

from portal.models import JobHeartbeat
from portal.periodic import PERIODIC_JOBS


@contextmanager
def heartbeat(name: str) -> Iterator[dict[str, int]]:
    """Wrap one run of a periodic job (named in ``portal.periodic``); put what it counted in the dict."""
    interval_seconds = next(job.interval_seconds for job in PERIODIC_JOBS if job.name == name)
    JobHeartbeat.objects.update_or_create(
        name=name, defaults={"interval_seconds": interval_seconds, "last_started_at": timezone.now()}
    )
    counts: dict[str, int] = {}
    started = time.monotonic()
    try:
        yield counts
    except Exception as exc:
        JobHeartbeat.objects.filter(name=name).update(last_error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    JobHeartbeat.objects.filter(name=name).update(
        last_succeeded_at=timezone.now(),
        last_duration_ms=int((time.monotonic() - started) * 1000),
        last_counts=counts,
        last_error="",
    )
