"""Signed-in sessions: Django's database sessions that know whose they are, and their two clocks.

``SESSION_ENGINE = "portal.sessions"``. Each session row carries its user's id
(``portal.models.StaffSession``, kept up to date on every save, whatever changes the session
key), so a person's sessions are one indexed query away: "sign out everywhere" deletes the
others, a second-factor reset deletes them all.

Two clocks live in the session itself, started at every sign-in (``session_started``) and
read by ``portal.middleware.SessionTimeoutMiddleware`` at no cost in queries:

- ``SIGNED_IN_AT``: a sign-in lasts at most ``SESSION_COOKIE_AGE``, however busy the person;
- ``LAST_ACTIVITY``: a session nobody used for ``SESSION_IDLE_TIMEOUT`` is signed out. The stamp
  is rewritten only when older than ``SESSION_ACTIVITY_RESOLUTION`` seconds, so a page does not
  cost a session write each time.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from portal.audit import record
from portal.heartbeat import heartbeat
from portal.http import staff_user
from portal.models import SecurityEvent, StaffSession

SIGNED_IN_AT = "signed_in_at"
LAST_ACTIVITY = "last_activity"
# Set by portal.reauth when the person last gave their password (and code); a sign-in is one.
REAUTH_AT = "reauth_at"


def _user_id(data: dict[str, Any]) -> int | None:
    try:
        return int(data[SESSION_KEY])
    except (KeyError, TypeError, ValueError):
        return None


class SessionStore(DatabaseSessionStore):
    """The database session store, writing whose session it is beside the data."""

    @classmethod
    def get_model_class(cls) -> type[StaffSession]:
        return StaffSession

    def create_model_instance(self, data: dict[str, Any]) -> StaffSession:
        session = super().create_model_instance(data)
        assert isinstance(session, StaffSession)
        session.user_id = _user_id(data)
        return session

    async def acreate_model_instance(self, data: dict[str, Any]) -> StaffSession:
        session = await super().acreate_model_instance(data)
        assert isinstance(session, StaffSession)
        session.user_id = _user_id(data)
        return session


def now_seconds() -> int:
    return int(time.time())


def session_started(sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
    """At each sign-in (``user_logged_in``): start the clocks, and forget any earlier second step.

    A receiver because it is the one place every sign-in passes through: the two-step sign-in,
    the admin's, and ``Client.force_login`` in tests. It only writes the session it is given.
    """
    from portal.second_factor import second_step_forget

    session = request.session
    now = now_seconds()
    session[SIGNED_IN_AT] = now
    session[LAST_ACTIVITY] = now
    session[REAUTH_AT] = now  # the password was just given
    second_step_forget(session)


def session_clock(session: SessionBase, *, now: int | None = None) -> str:
    """``"expired"`` (past the absolute limit), ``"idle"`` (unused too long), ``"stale"`` (the
    activity stamp wants rewriting) or ``"fresh"``.

    A session without stamps (made by a script, not a sign-in) is stamped on first use.
    """
    now = now_seconds() if now is None else now
    started = session.get(SIGNED_IN_AT)
    last = session.get(LAST_ACTIVITY)
    if not isinstance(started, int) or not isinstance(last, int):
        return "stale"
    if now - started > settings.SESSION_COOKIE_AGE:
        return "expired"
    if now - last > settings.SESSION_IDLE_TIMEOUT:
        return "idle"
    if now - last >= settings.SESSION_ACTIVITY_RESOLUTION:
        return "stale"
    return "fresh"


def session_touch(session: SessionBase, *, now: int | None = None) -> None:
    """Record activity now (and a sign-in time for a session that had none)."""
    now = now_seconds() if now is None else now
    session.setdefault(SIGNED_IN_AT, now)
    session[LAST_ACTIVITY] = now


def sessions_end(*, user_id: int, keep: str | None = None) -> int:
    """End every session of this person except ``keep`` (a session key); how many were ended."""
    sessions = StaffSession.objects.filter(user_id=user_id)
    if keep:
        sessions = sessions.exclude(session_key=keep)
    deleted, _by_model = sessions.delete()
    return deleted


def sessions_end_elsewhere(*, request: HttpRequest) -> int:
    """Sign out everywhere: every other session of the signed-in person ends, this one stays.

    Recorded in the access log with how many were ended; returns that number.
    """
    user = staff_user(request)
    with transaction.atomic():
        ended = sessions_end(user_id=user.pk, keep=request.session.session_key)
        record(SecurityEvent.Kind.SIGN_OUT_EVERYWHERE, request=request, target_user=user, details={"ended": ended})
    return ended


def sessions_open(*, user_id: int) -> int:
    """How many unexpired sessions this person has (this browser's included)."""
    return StaffSession.objects.filter(user_id=user_id, expire_date__gt=timezone.now()).count()


def staff_session_create(user: Any) -> str:
    """A signed-in session for ``user`` made without a request (benchmarks, scripts): its key.

    It has passed the second step only when ``OTP_REQUIRED`` is off; scripts that need more set it.
    """
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    now = now_seconds()
    session[SIGNED_IN_AT] = session[LAST_ACTIVITY] = session[REAUTH_AT] = now
    session.create()
    return str(session.session_key)


def clear_expired_sessions() -> dict[str, int]:
    """Nightly: delete the sessions past their expiry (Django's ``clearsessions``, counted)."""
    with heartbeat("clear_sessions") as counts:
        counts["deleted"], _by_model = StaffSession.objects.filter(expire_date__lt=timezone.now()).delete()
    return counts
