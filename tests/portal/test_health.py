"""The health probes, against a real Redis that the test stops and starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.db import DatabaseError
from django.test import Client

from portal.embedded_redis import RedisProcess

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

    monkeypatch.setattr("portal.selectors.connection.cursor", broken_cursor)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["down"] == ["database"]
    assert "connection refused" in response.json()["checks"]["database"]
