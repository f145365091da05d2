"""The health probes, against a real Redis that the test stops and starts."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest
from django.db import DatabaseError, connections
from django.test import Client

from portal.embedded_redis import RedisProcess
from portal.health import CHECKS

pytestmark = pytest.mark.django_db


def test_healthz_answers_while_the_process_runs(client: Client) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.content == b"ok\n"


def test_readyz_answers_ok_when_database_and_redis_answer(client: Client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "down": [], "checks": {"database": "ok", "redis": "ok"}}


def test_readyz_names_redis_while_it_is_stopped(client: Client, settings, tmp_path: Path) -> None:
    own_redis = RedisProcess(tmp_path / "r")
    own_redis.start()
    settings.REDIS_URL = own_redis.url
    try:
        assert client.get("/readyz").status_code == 200

        own_redis.stop()
        response = client.get("/readyz")
        assert response.status_code == 503
        body = json.loads(response.content)
        assert body["status"] == "unavailable"
        assert body["down"] == ["redis"]
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["redis"] != "ok"

        own_redis.start()
        assert client.get("/readyz").status_code == 200
    finally:
        own_redis.stop()


def test_readyz_names_the_database_when_it_fails(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_cursor(*args: object, **kwargs: object) -> None:
        raise DatabaseError("connection refused")

    # On the class: the probe runs in its own thread, with its own connection.
    monkeypatch.setattr(type(connections["default"]), "cursor", broken_cursor)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["down"] == ["database"]
    assert "connection refused" in response.json()["checks"]["database"]


def test_readyz_says_within_half_a_second_that_redis_hangs(client: Client, settings) -> None:
    """A Redis that accepts connections but never answers: no retries, no waiting on it."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        settings.REDIS_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503 and response.json()["down"] == ["redis"]
    assert elapsed < 0.5, f"readyz took {elapsed:.2f} s to say Redis is down"


def test_readyz_does_not_wait_for_a_database_that_hangs(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def hanging() -> None:
        release.wait(5)

    monkeypatch.setitem(CHECKS, "database", hanging)
    try:
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
    finally:
        release.set()
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "no answer within 400 ms", "redis": "ok"}
    assert elapsed < 0.5
