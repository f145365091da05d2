"""Middleware of our own: the answer when the database connection is lost, and the staff's language.

A database connection can die under a request: PostgreSQL restarted or failed over, a network blip, an
administrator's ``pg_terminate_backend``. The transaction the request had open is gone with it,
so nothing of it was saved; the user is told exactly that, with a 503 and ``Retry-After``, on
a page drawn without the database, instead of the generic error page. Django closes the broken
connection when the request finishes and the next request opens a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import translation

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
