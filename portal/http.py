"""Small request helpers shared by every app's views."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def staff_user(request: HttpRequest) -> User:
    """The signed-in user: every view sits behind the login-required middleware."""
    assert isinstance(request.user, User)
    return request.user


def redirect_back(request: HttpRequest, fallback: Any) -> HttpResponse:
    """To the page the form was posted from (``next``, same host only), else ``fallback``."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return redirect(target)
    return redirect(fallback)


def form_errors_to_messages(request: HttpRequest, form: forms.Form) -> None:
    """Each of a posted form's errors as a message on the page the user goes back to."""
    for errors in form.errors.values():
        for error in errors:
            messages.error(request, str(error))
