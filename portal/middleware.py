"""Middleware of our own: the answer when the database connection is lost, the staff's language,
the session's clocks (idle and absolute timeouts) and the second step of the sign-in.

A database connection can die under a request: PostgreSQL restarted or failed over, a network blip, an
administrator's ``pg_terminate_backend``. The transaction the request had open is gone with it,
so nothing of it was saved; the user is told exactly that, with a 503 and ``Retry-After``, on
a page drawn without the database, instead of the generic error page. Django closes the broken
connection when the request finishes and the next request opens a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import SESSION_KEY, logout
from django.contrib.auth.views import redirect_to_login
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from portal.audit import record
from portal.models import SecurityEvent
from portal.second_factor import second_step_due
from portal.sessions import session_clock, session_touch

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = 10


class DatabaseLostMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.error("The database connection was lost during %s %s", request.method, request.path, exc_info=exception)
        response = HttpResponse(render_to_string("503.html"), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


SESSION_LANGUAGE = "language"


class StaffLanguageMiddleware:
    """A signed-in staff member's language (from their profile, kept in the session) for every page.

    ``LocaleMiddleware`` has already chosen from the cookie or the browser's ``Accept-Language``;
    a choice saved on the profile wins over both, on any browser the person signs in from. The
    session holds it (copied at sign-in and when it changes), so no page spends a query on it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = request.session.get(SESSION_LANGUAGE) if hasattr(request, "session") else None
        if language and language in dict(settings.LANGUAGES):
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)


class PermissionsPolicyMiddleware:
    """``Permissions-Policy``: the browser features no page of the portal uses are switched off.

    Django's security middleware sends ``Referrer-Policy`` and ``Cross-Origin-Opener-Policy``
    and its CSP middleware the content policy; this header is the one a bank's scanner still
    asks for.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        return response


def _is_background(request: HttpRequest) -> bool:
    """An htmx GET (a poll, a progress bar refreshing itself): not something the person did."""
    return request.method == "GET" and request.headers.get("HX-Request") == "true"


def _navigate(request: HttpRequest, url: str) -> HttpResponse:
    """Send the browser to ``url``: a redirect, or for htmx the whole page (not inside a fragment)."""
    if request.headers.get("HX-Request") == "true":
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


def _page_url(request: HttpRequest) -> str:
    """The page to come back to: for htmx the page the fragment belongs to, for a form the page it
    was posted from (its address answers POST only), else this one."""
    if request.method == "GET" and request.headers.get("HX-Request") != "true":
        return request.get_full_path()
    page = request.headers.get("HX-Current-URL", "") or request.headers.get("Referer", "")
    if page and url_has_allowed_host_and_scheme(page, {request.get_host()}, request.is_secure()):
        parts = urlsplit(page)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return request.get_full_path() if request.method == "GET" else str(resolve_url(settings.LOGIN_REDIRECT_URL))


class SessionTimeoutMiddleware:
    """Signs out a session nobody used for ``SESSION_IDLE_TIMEOUT``, or older than ``SESSION_COOKIE_AGE``.

    Both clocks are in the session (``portal.sessions``), which every signed-in page loads
    anyway: no query of its own. The activity stamp is written only when older than
    ``SESSION_ACTIVITY_RESOLUTION`` (a session write a minute at most, not one per page), and an
    htmx GET (the dashboard's refresh, a progress bar) is not activity: a page left open does not
    keep the session alive. Only pages behind the login are concerned.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        if not getattr(view_func, "login_required", True) or SESSION_KEY not in request.session:
            return None
        clock = session_clock(request.session)
        if clock in ("idle", "expired"):
            return self._sign_out(request, clock)
        if clock == "stale" and not _is_background(request):
            session_touch(request.session)
        return None

    def _sign_out(self, request: HttpRequest, clock: str) -> HttpResponse:
        record(SecurityEvent.Kind.SESSION_EXPIRED, request=request, details={"reason": clock})
        page = _page_url(request)
        logout(request)
        if clock == "idle":
            minutes = settings.SESSION_IDLE_TIMEOUT // 60
            messages.info(
                request,
                ngettext(
                    "You were signed out after %(minutes)d minute without activity. Sign in again to go on.",
                    "You were signed out after %(minutes)d minutes without activity. Sign in again to go on.",
                    minutes,
                )
                % {"minutes": minutes},
            )
        else:
            messages.info(request, _("Your sign-in has reached its time limit. Sign in again to go on."))
        return _navigate(request, redirect_to_login(page, settings.LOGIN_URL).url)


class SecondFactorMiddleware:
    """Every page behind the login wants the second step passed, when it is due (``portal.second_factor``).

    A session that gave the password but not yet the code reaches only the second step, the
    enrolment and sign-out (views marked ``second_factor_exempt``); anything else sends it there,
    the Django admin and the RQ dashboard included. Read from the session: no query.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Callable[..., Any], view_args: Any, view_kwargs: Any
    ) -> HttpResponse | None:
        if not getattr(view_func, "login_required", True) or getattr(view_func, "second_factor_exempt", False):
            return None
        if SESSION_KEY not in request.session or not second_step_due(request.session):
            return None
        return _navigate(request, redirect_to_login(_page_url(request), reverse("second_factor")).url)
