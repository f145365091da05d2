"""Running the queued jobs in a test: a real RQ worker on the real (throwaway) Redis."""

from __future__ import annotations

from typing import Any

import django_rq
from rq import SimpleWorker


def work(capture: Any, rounds: int = 8) -> None:
    """Work the default queue until it is empty; jobs queue more after their commits, run too.

    ``capture`` is pytest-django's ``django_capture_on_commit_callbacks``: the test's transaction
    never commits, so each round runs the on-commit callbacks (the jobs' enqueues) itself.
    """
    queue = django_rq.get_queue("default")
    for _round in range(rounds):
        with capture(execute=True):
            SimpleWorker([queue], connection=queue.connection).work(burst=True)
        if not queue.count:
            return
