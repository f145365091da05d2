"""Configuration comes from the environment and fails fast, naming the bad variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from portal.env import env_bool, env_database, env_int, env_list, env_redis_url, env_timezone

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = {
    "DJANGO_DEBUG": "0",
    "DJANGO_SECRET_KEY": "k" * 20 + "-production-secret-that-is-long-enough-0123456789",
    "DJANGO_ALLOWED_HOSTS": "desk.bank.internal",
    "CORE_GATEWAY": "http",
    "CORE_GATEWAY_URL": "https://core.bank.internal",
    "CORE_API_SECRETS": "a-secret-shared-with-core-banking",
    "CORE_WEBHOOK_SECRETS": "the-secret-core-banking-signs-events-with",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "EMAIL_", "SMS_", "CORE_"))
    }
    clean.pop("TIME_ZONE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_it_reads_yes_and_no_in_the_usual_spellings() -> None:
    assert env_bool("X", False, {"X": "Yes"}) is True
    assert env_bool("X", True, {"X": "off"}) is False
    assert env_bool("X", True, {}) is True


def test_it_rejects_a_switch_that_is_neither_yes_nor_no() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"DJANGO_DEBUG='maybe' is not a yes/no value; use 1 or 0"):
        env_bool("DJANGO_DEBUG", False, {"DJANGO_DEBUG": "maybe"})


def test_it_rejects_a_number_that_is_not_one() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"AXES_FAILURE_LIMIT='five' is not a whole number"):
        env_int("AXES_FAILURE_LIMIT", 5, environ={"AXES_FAILURE_LIMIT": "five"})
    with pytest.raises(ImproperlyConfigured, match=r"must be at least 1"):
        env_int("AXES_FAILURE_LIMIT", 5, minimum=1, environ={"AXES_FAILURE_LIMIT": "0"})


def test_it_splits_host_lists_on_commas() -> None:
    assert env_list("H", [], {"H": " a.internal, b.internal ,"}) == ["a.internal", "b.internal"]


def test_it_rejects_an_unknown_time_zone() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"TIME_ZONE='Mars/Olympus' is not a known time zone"):
        env_timezone("TIME_ZONE", "Asia/Shanghai", {"TIME_ZONE": "Mars/Olympus"})
    assert env_timezone("TIME_ZONE", "Asia/Shanghai", {}) == "Asia/Shanghai"


def test_it_parses_database_urls() -> None:
    config = env_database("DATABASE_URL", "", {"DATABASE_URL": "postgres://desk:pw@db.internal:5433/desk"})
    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == ("db.internal", 5433, "desk", "desk")


def test_it_rejects_a_database_url_it_cannot_use() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"DATABASE_URL='mysqlx://nowhere' is not a usable database URL"):
        env_database("DATABASE_URL", "", {"DATABASE_URL": "mysqlx://nowhere"})


def test_it_accepts_redis_and_unix_socket_urls_only() -> None:
    assert env_redis_url("REDIS_URL", "", {"REDIS_URL": "redis://10.0.0.5:6379/2"}) == "redis://10.0.0.5:6379/2"
    assert env_redis_url("REDIS_URL", "unix:///tmp/r.sock", {}) == "unix:///tmp/r.sock"
    with pytest.raises(ImproperlyConfigured, match=r"REDIS_URL='localhost:6379' is not a Redis URL"):
        env_redis_url("REDIS_URL", "", {"REDIS_URL": "localhost:6379"})


def test_it_stops_at_start_up_on_a_bad_value() -> None:
    result = manage("check", DJANGO_DEBUG="sometimes")
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_DEBUG='sometimes' is not a yes/no value" in result.stderr


def test_it_requires_a_secret_key_and_hosts_in_production() -> None:
    result = manage("check", DJANGO_DEBUG="0")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr

    result = manage("check", DJANGO_DEBUG="0", DJANGO_SECRET_KEY=PRODUCTION["DJANGO_SECRET_KEY"])
    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS is not set" in result.stderr


def test_it_passes_the_deployment_checklist_with_production_values() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNINGS" not in result.stderr


def test_production_refuses_to_run_without_a_real_core_banking() -> None:
    without = {name: value for name, value in PRODUCTION.items() if not name.startswith("CORE_")}
    unset = manage("check", **without)
    assert unset.returncode != 0
    assert "CORE_GATEWAY='' is not a gateway. Set CORE_GATEWAY=http and CORE_GATEWAY_URL" in unset.stderr

    simulated = manage("check", **without, CORE_GATEWAY="simulated")
    assert simulated.returncode != 0
    assert "CORE_GATEWAY=simulated with DJANGO_DEBUG=0 would run production on a pretend core banking" in (
        simulated.stderr
    )
    allowed = manage("check", **without, CORE_GATEWAY="simulated", CORE_ALLOW_SIMULATED="1")
    assert allowed.returncode == 0, allowed.stderr

    no_url = manage("check", **{**PRODUCTION, "CORE_GATEWAY_URL": ""})
    assert "CORE_GATEWAY=http needs CORE_GATEWAY_URL" in no_url.stderr
    no_secret = manage("check", **{**PRODUCTION, "CORE_API_SECRETS": ""})
    assert "CORE_API_SECRETS is not set" in no_secret.stderr
    no_webhook_secret = manage("check", **{**PRODUCTION, "CORE_WEBHOOK_SECRETS": ""})
    assert "CORE_WEBHOOK_SECRETS is not set" in no_webhook_secret.stderr


def test_the_nightly_credit_review_runs_at_a_set_local_time() -> None:
    from portal.periodic import PERIODIC_JOBS

    review = next(job for job in PERIODIC_JOBS if job.name == "credit_review")
    assert (review.at, review.cron) == ("02:00", "0 2 * * *")  # cron reads the process's TZ: TIME_ZONE
    result = manage("check", CREDIT_REVIEW_AT="2am")
    assert result.returncode != 0
    assert "CREDIT_REVIEW_AT='2am' is not a time of day; write it as HH:MM, e.g. 02:00." in result.stderr
