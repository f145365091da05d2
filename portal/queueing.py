"""Putting work on the RQ queue: only after the transaction commits, and never fatally."""

from __future__ import annotations

import logging
from typing import Any

import django_rq
from django.db import transaction
from redis.exceptions import RedisError

log = logging.getLogger(__name__)


def enqueue_on_commit(func: str, *args: Any, **options: Any) -> None:
    """Queue ``func`` (a dotted path) once the current transaction commits.

    If Redis is down the work is not lost: the database still says what is to be done, and the
    next periodic run re-drives it. The caller's change is saved either way.
    """

    def send() -> None:
        try:
            # We already wait for the commit ourselves; "auto" enqueues right now.
            django_rq.get_queue("default", commit_mode="auto").enqueue(func, *args, **options)
        except (RedisError, OSError) as exc:
            log.warning("could not queue %s%s; the next periodic run will: %s", func, args, exc)

    transaction.on_commit(send)
