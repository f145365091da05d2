"""The customer's activation page: the one page of the portal without a staff login.

Its address carries the link's token, so the request logs that name a path (Django's for a 404 or
a 405, the development server's, the portal's own) show ``/activate/[link]`` instead, and the
password and the code are hidden from error reports.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_POST

from accounts.models import ActivationLink
from accounts.notify import code_send
from accounts.policy import Step
from accounts.services import AccountActionError
from accounts.verification import (
    LINK_MARK,
    LinkInvalid,
    activation_progress,
    code_verify,
    link_from_token,
    password_set,
)
from portal.masking import mask_mobile
from portal.text import TextField

TOKEN_IN_PATH = re.compile(r"/activate/[^/\s?#\"']+")
# The loggers that write a request's path: Django's, the development server's, the portal's.
PATH_LOGGERS = ("django.request", "django.server", "portal.middleware")


class HideLinkTokens(logging.Filter):
    """A log record naming an activation page's path names ``/activate/[link]`` instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/activate/" in message:
            record.msg, record.args = TOKEN_IN_PATH.sub(f"/activate/{LINK_MARK}", message), ()
        return True


HIDE_LINK_TOKENS = HideLinkTokens()
# Here rather than in LOGGING: the paths exist once the URLconf has imported this module, and no
# request for them can be logged before that.
for _name in PATH_LOGGERS:
    logging.getLogger(_name).addFilter(HIDE_LINK_TOKENS)


class CodeForm(forms.Form):
    code = forms.RegexField(
        label=_("6-digit code from the SMS"),
        regex=r"^\s*\d{6}\s*$",
        error_messages={
            "invalid": _("Enter the 6 digits from the SMS."),
            "required": _("Enter the 6 digits from the SMS."),
        },
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "one-time-code", "maxlength": 6}),
    )


class PasswordForm(forms.Form):
    password = TextField(
        label=_("New password"), max_length=128, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )
    password2 = TextField(
        label=_("The same password again"),
        max_length=128,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


LinkView = Callable[[HttpRequest, ActivationLink], HttpResponse]


def _token(request: HttpRequest) -> str:
    assert request.resolver_match is not None
    return str(request.resolver_match.kwargs["token"])


def with_link(view: LinkView) -> Callable[[HttpRequest, str], HttpResponse]:
    """The customer's pages: no staff login, never cached, and a link that is not (or no longer) valid gets 404."""

    @wraps(view)
    def wrapper(request: HttpRequest, token: str) -> HttpResponse:
        try:
            link = link_from_token(token)
        except LinkInvalid:
            return render(request, "activation/invalid.html", status=404)
        language = link.account.customer.language  # as in the customer's SMS and email
        with translation.override(language):
            request.LANGUAGE_CODE = language
            return view(request, link)

    return login_not_required(never_cache(wrapper))


def _page(
    request: HttpRequest,
    link: ActivationLink,
    *,
    code_form: CodeForm | None = None,
    password_form: PasswordForm | None = None,
    error: str = "",
    notice: str = "",
) -> HttpResponse:
    """The activation page as the account is now: the next step's form, or the progress of the activation."""
    account = link.account
    account.refresh_from_db()
    context = {
        "token": _token(request),
        "account": account,
        "mobile": mask_mobile(account.customer.contact_mobile),
        "progress": activation_progress(account),
        "remaining": [Step(step).label for step in account.steps_missing()],
        "code_form": code_form or CodeForm(),
        "password_form": password_form or PasswordForm(),
        "error": error,
        "notice": notice,
    }
    template = "activation/page.html#progress" if request.headers.get("HX-Request") else "activation/page.html"
    return render(request, template, context)


@require_GET
@with_link
def activate(request: HttpRequest, link: ActivationLink) -> HttpResponse:
    return _page(request, link)


@require_POST
@with_link
def activate_send_code(request: HttpRequest, link: ActivationLink) -> HttpResponse:
    try:
        mobile = code_send(link_id=link.pk)
    except AccountActionError as exc:
        return _page(request, link, error=exc.message)
    notice = _("We sent a code to %(mobile)s. It is valid for 10 minutes.") % {"mobile": mask_mobile(mobile)}
    return _page(request, link, notice=str(notice))


@require_POST
@sensitive_post_parameters("code")
@with_link
def activate_verify_code(request: HttpRequest, link: ActivationLink) -> HttpResponse:
    code_form = CodeForm(request.POST)
    if not code_form.is_valid():
        return _page(request, link, code_form=code_form)
    try:
        code_verify(link_id=link.pk, code=code_form.cleaned_data["code"])
    except AccountActionError as exc:
        return _page(request, link, code_form=code_form, error=exc.message)
    return redirect("activate", token=_token(request))


@require_POST
@sensitive_post_parameters("password", "password2")
@with_link
def activate_set_password(request: HttpRequest, link: ActivationLink) -> HttpResponse:
    password_form = PasswordForm(request.POST)
    if not password_form.is_valid():
        return _page(request, link, password_form=password_form)
    password, password2 = password_form.cleaned_data["password"], password_form.cleaned_data["password2"]
    try:
        password_set(link_id=link.pk, password=password, password2=password2)
    except (AccountActionError, ValidationError) as exc:
        error = exc.message if isinstance(exc, AccountActionError) else " ".join(exc.messages)
        return _page(request, link, password_form=password_form, error=error)
    return redirect("activate", token=_token(request))
