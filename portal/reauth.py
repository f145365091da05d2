"""Re-authentication: the sensitive actions want the password (and the code) given a moment ago.

A four-eyes decision, closing an account, releasing a hold, starting or stopping a batch,
exporting personal data in bulk and resetting someone's second factor are refused, with nothing
changed, unless the person gave their password (and, if they have one, a code from their
authenticator) within ``REAUTH_MINUTES``: at sign-in, or on the confirm page (``/confirm/``),
which sends them back to the page they were on to press the button again.

The time is kept in the session (``portal.sessions.REAUTH_AT``), set by every sign-in,
``Client.force_login`` included: a test that signs in and acts at once is recently
authenticated, as a person who just signed in is; one that waits (``time_machine``) is not.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial, wraps
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from portal.audit import record
from portal.auth_forms import ConfirmForm, checked
from portal.http import form_status, staff_user
from portal.models import SecurityEvent
from portal.second_factor import code_check, has_second_factor
from portal.sessions import REAUTH_AT, now_seconds

CONFIRM_FIRST = gettext_lazy("Confirm your identity, then press the button again.")


def recently_authenticated(request: HttpRequest) -> bool:
    """The person gave their password (and code) within ``REAUTH_MINUTES``."""
    given_at = request.session.get(REAUTH_AT)
    return isinstance(given_at, int) and now_seconds() - given_at <= settings.REAUTH_MINUTES * 60


def _same_site(request: HttpRequest, url: str) -> bool:
    return bool(url) and url_has_allowed_host_and_scheme(url, {request.get_host()}, request.is_secure())


def page_they_were_on(request: HttpRequest) -> str:
    """Where the button was pressed: the form's ``next``, else the (same-site) referrer, else the dashboard."""
    posted = request.POST.get("next", "")
    if _same_site(request, posted):
        return posted
    referrer = request.headers.get("Referer", "")
    if _same_site(request, referrer):
        parts = urlsplit(referrer)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return str(resolve_url(settings.LOGIN_REDIRECT_URL))


def confirm_first(request: HttpRequest, next_url: str | None = None) -> HttpResponse:
    """The action is refused: to the confirm page, then back to ``next_url`` (the page they were on)."""
    messages.warning(request, CONFIRM_FIRST)
    query = urlencode({"next": next_url or page_they_were_on(request)})
    return redirect(f"{reverse('confirm')}?{query}")


def reauth_required[**P](view: Callable[P, HttpResponseBase]) -> Callable[P, HttpResponseBase]:
    """A POST is carried out only after a recent authentication; otherwise nothing happens and
    the person is asked to confirm who they are."""

    @wraps(view)
    def wrapped(*args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
        request = args[0]
        assert isinstance(request, HttpRequest)
        if request.method == "POST" and not recently_authenticated(request):
            return confirm_first(request)
        return view(*args, **kwargs)

    return wrapped


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    return target if _same_site(request, target) else str(resolve_url(settings.LOGIN_REDIRECT_URL))


@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest) -> HttpResponse:
    """Give the password (and a code) again; then back to the page, to press the button again."""
    user = staff_user(request)
    with_code = has_second_factor(user)
    next_url = _next_url(request)
    form = ConfirmForm(request.POST if request.method == "POST" else None, with_code=with_code)
    status = 200
    if form.is_bound and form.is_valid():
        # authenticate(): django-axes counts a wrong password here as at sign-in, and locks alike.
        if authenticate(request, username=user.get_username(), password=form.cleaned_data["password"]) != user:
            record(SecurityEvent.Kind.SIGN_IN_FAILED, request=request, target_user=user, reason="confirm identity")
            form.add_error("password", _("That is not your password."))
        elif with_code:
            _device, status = checked(form, partial(code_check, user=user, request=request))
        if not form.errors:
            request.session[REAUTH_AT] = now_seconds()
            record(SecurityEvent.Kind.REAUTH, request=request, target_user=user, details={"next": next_url})
            messages.success(request, _("Identity confirmed. Press the button again to finish what you started."))
            return redirect(next_url)
    context = {"form": form, "next": next_url, "minutes": settings.REAUTH_MINUTES}
    return render(request, "registration/confirm.html", context, status=max(status, form_status(form)))
