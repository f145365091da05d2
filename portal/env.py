"""Typed readers for configuration from environment variables.

Each helper returns a parsed value or raises ``ImproperlyConfigured`` with a message
that names the variable, shows the bad value and says what would be accepted, so a
misconfigured process stops at start-up instead of misbehaving later.
"""

from __future__ import annotations

import os
import zoneinfo
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def env_str(name: str, default: str, environ: Mapping[str, str] = os.environ) -> str:
    """The variable as text, or ``default`` when it is unset or empty."""
    return environ.get(name, "").strip() or default


def env_bool(name: str, default: bool, environ: Mapping[str, str] = os.environ) -> bool:
    """A yes/no switch: 1/0, true/false, yes/no, on/off (any case)."""
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={environ[name]!r} is not a yes/no value; use 1 or 0 (also true/false, yes/no, on/off)."
    )


def env_int(name: str, default: int, *, minimum: int = 0, environ: Mapping[str, str] = os.environ) -> int:
    """A whole number not below ``minimum``."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number; set it to e.g. {default}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={value} is too small; it must be at least {minimum}.")
    return value


def env_list(name: str, default: list[str], environ: Mapping[str, str] = os.environ) -> list[str]:
    """A comma-separated list; blanks around the commas are ignored."""
    raw = environ.get(name, "").strip()
    if not raw:
        return list(default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_timezone(name: str, default: str, environ: Mapping[str, str] = os.environ) -> str:
    """An IANA time zone name such as ``Asia/Shanghai``."""
    value = env_str(name, default, environ)
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a known time zone; use an IANA name such as 'Asia/Shanghai' or 'UTC'."
        ) from None
    return value


def env_database(name: str, default: str, environ: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """A database URL (``postgres://user@host:5432/name`` or ``sqlite:///path``) as Django settings."""
    url = env_str(name, default, environ)
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url))
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(
            f"{name}={url!r} is not a usable database URL ({exc}); "
            "use e.g. postgres://user:password@127.0.0.1:5432/activation_desk or sqlite:///var/db.sqlite3."
        ) from None
    if not config.get("ENGINE"):
        raise ImproperlyConfigured(f"{name}={url!r} names no database engine; start it with postgres:// or sqlite://.")
    return config


def env_redis_url(name: str, default: str, environ: Mapping[str, str] = os.environ) -> str:
    """A Redis URL: ``redis://host:port/db``, ``rediss://…`` or ``unix:///path/to/socket``."""
    url = env_str(name, default, environ)
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise ImproperlyConfigured(
            f"{name}={url!r} is not a Redis URL; use redis://127.0.0.1:6379/0 or unix:///path/to/redis.sock."
        )
    if parts.scheme == "unix" and not parts.path:
        raise ImproperlyConfigured(f"{name}={url!r} names no socket path; use unix:///path/to/redis.sock.")
    if parts.scheme != "unix" and not parts.hostname:
        raise ImproperlyConfigured(f"{name}={url!r} names no host; use e.g. redis://127.0.0.1:6379/0.")
    return url
