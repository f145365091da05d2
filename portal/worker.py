"""The RQ worker the desk runs: its children die with it.

An RQ worker forks a work horse per job and, with ``--with-scheduler``, a scheduler process.
Killed with SIGKILL (the out-of-memory killer, ``kill -9``, a container stopped hard), the
worker cannot stop them: the horse ran on unsupervised and the scheduler kept renewing its
lock, so the replacement worker ran without a scheduler. Here every process forked by the
worker asks the kernel for SIGKILL when its parent dies (Linux ``PR_SET_PDEATHSIG``): nothing
keeps running, and the scheduler's lock expires within its TTL (about a minute) for the next
worker to take. Elsewhere (macOS in development) the worker is RQ's own.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

from rq import Worker

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent: int) -> None:
    """In a forked child: be killed when ``parent`` dies, or exit now if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return  # not Linux after all: no worse than RQ's own
    if os.getppid() != parent:  # the parent died between the fork and the prctl
        os._exit(1)


class DeskWorker(Worker):
    """RQ's worker, whose work horses and scheduler die with it (see the module's docstring)."""

    def work(self, *args: object, **kwargs: object) -> bool:
        if sys.platform.startswith("linux"):
            parent = os.getpid()
            os.register_at_fork(after_in_child=lambda: _die_with_parent(parent))
        return super().work(*args, **kwargs)  # type: ignore[arg-type]
