"""Putting work on the RQ queue: only after the transaction commits, and never fatally."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import django_rq
from django.db import transaction
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


def enqueue_now(func: str, *args: Any, delay: timedelta | None = None, **options: Any) -> bool:
    """Queue ``func`` (a dotted path) now, or to run after ``delay`` (the workers' scheduler moves
    it to the queue then); False, with a warning, when Redis cannot be reached."""
    try:
        # The caller decides when (after the commit, or outside any transaction); "auto" enqueues right now.
        queue = django_rq.get_queue("default", commit_mode="auto")
        if delay is None:
            queue.enqueue(func, *args, **options)
        else:
            queue.enqueue_in(delay, func, *args, **options)
    except (RedisError, OSError) as exc:
        log.warning("could not queue %s%s; the next periodic run will: %s", func, args, exc)
        return False
    return True


def enqueue_on_commit(func: str, *args: Any, **options: Any) -> None:
    """Queue ``func`` (a dotted path) once the current transaction commits.

    If Redis is down the work is not lost: the database still says what is to be done, and the
    next periodic run re-drives it. The caller's change is saved either way.
    """
    transaction.on_commit(lambda: enqueue_now(func, *args, **options))
