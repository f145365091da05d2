"""Heartbeats of periodic jobs: every run records its start, success, duration and counts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.utils import timezone

from portal.models import JobHeartbeat


@contextmanager
def heartbeat(name: str, interval_seconds: int) -> Iterator[dict[str, int]]:
    """Wrap one run of a periodic job; put what it counted in the yielded dict."""
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
