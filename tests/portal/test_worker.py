"""A worker killed with SIGKILL leaves nothing running: its work horse and scheduler die with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import django_rq
import pytest
import redis
from rq.scheduler import SCHEDULER_LOCKING_KEY_TEMPLATE

from portal.embedded_redis import RedisProcess

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")


def children(pid: int) -> set[int]:
    """The live processes whose parent is ``pid``."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.add(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_a_killed_worker_leaves_no_horse_no_scheduler_and_no_lock_renewed(
    redis_server: RedisProcess, tmp_path: Path
) -> None:
    connection = redis.Redis.from_url(redis_server.url)
    env = {**os.environ, "REDIS_URL": redis_server.url, "DJANGO_SETTINGS_MODULE": "portal.settings"}
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "default", "--with-scheduler"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    horse_and_scheduler: set[int] = set()
    try:
        lock = SCHEDULER_LOCKING_KEY_TEMPLATE % "default"
        assert wait_for(lambda: connection.exists(lock)), "the worker's scheduler never took its lock"
        django_rq.get_queue("default").enqueue("time.sleep", 60)  # a long job: its horse is running
        assert wait_for(lambda: len(children(worker.pid)) >= 2), "no work horse and scheduler under the worker"
        horse_and_scheduler = children(worker.pid)

        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)

        assert wait_for(lambda: not any(alive(pid) for pid in horse_and_scheduler), 10), "children outlived the worker"
        ttl = connection.ttl(lock)
        time.sleep(2)
        assert 0 < connection.ttl(lock) < ttl <= 61  # nobody renews the dead scheduler's lock: it expires
    finally:
        if worker.poll() is None:
            worker.kill()
        for pid in horse_and_scheduler | children(worker.pid):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        connection.flushall()
        connection.close()
