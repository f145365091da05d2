"""Small request helpers shared by every app's views."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import redirect, resolve_url
from django.urls import Resolver404, resolve
from django.utils.http import url_has_allowed_host_and_scheme

# A form posted with something wrong in it: answered with the page again, and this status.
INVALID = 400


def staff_user(request: HttpRequest) -> User:
    """The signed-in user: every view sits behind the login-required middleware."""
    assert isinstance(request.user, User)
    return request.user


def back_url(request: HttpRequest, fallback: Any) -> str:
    """The page the form was posted from (``next``, same host only), else ``fallback``'s address."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return str(resolve_url(fallback))


def redirect_back(request: HttpRequest, fallback: Any) -> HttpResponse:
    """To the page the form was posted from (``next``, same host only), else ``fallback``."""
    return redirect(back_url(request, fallback))


def form_errors_to_messages(request: HttpRequest, form: forms.BaseForm) -> None:
    """Each of a posted form's errors as a message on the page the user goes back to."""
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, str(error))


def form_status(form: forms.BaseForm) -> int:
    """The status of a page that shows ``form``: 400 once it was posted with errors, else 200."""
    return INVALID if form.is_bound and form.errors else 200


def refuse(request: HttpRequest, form: forms.BaseForm, fallback: Any) -> HttpResponse:
    """A form posted from another page, not valid: that page again, with what was wrong, answered 400.

    The page the form came from (``next``, else ``fallback``) is drawn by its own view as for a
    GET of its address, with each of the form's errors as a message at the top: the user stays
    where they were, reads why nothing was saved, and a client or a probe sees a 4xx rather
    than a redirect that looks like success.
    """
    form_errors_to_messages(request, form)
    target = urlsplit(back_url(request, fallback))
    try:
        match = resolve(target.path)
    except Resolver404:
        return redirect(target.geturl())
    request.method = "GET"
    request.path = request.path_info = target.path
    request.META["QUERY_STRING"] = target.query
    request.GET = QueryDict(target.query)
    request.resolver_match = match
    response: HttpResponseBase = match.func(request, *match.args, **match.kwargs)
    if not isinstance(response, HttpResponse):  # not a page (a file, a stream): the plain way back
        return redirect(target.geturl())
    if response.status_code == 200:
        response.status_code = INVALID
    return response
