"""Signing in and out, the password, and the page for an expired form: for every page of the portal."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy
from django.utils import translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from portal.http import redirect_back, staff_user
from portal.middleware import SESSION_LANGUAGE
from portal.models import StaffProfile
from portal.services import staff_language_save


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        chosen = StaffProfile.objects.filter(user_id=form.get_user().pk).values_list("language", flat=True).first()
        if chosen:  # the language saved on the profile, on whichever browser they sign in from
            self.request.session[SESSION_LANGUAGE] = chosen
        return response


class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        messages.info(request, _("You have signed out."))
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    success_url = reverse_lazy("dashboard")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("Your password has been changed."))
        return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A plain-language page for an expired form instead of Django's technical one."""
    return render(request, "403_csrf.html", status=403)


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=settings.LANGUAGES)


@login_not_required
@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """The language switcher: saved on the profile (signed in) and in a cookie, then back to the page.

    Before sign-in (the login page) only the cookie keeps it.
    """
    form = LanguageForm(request.POST)
    response = redirect_back(request, "dashboard")
    if not form.is_valid():
        return response
    language = form.cleaned_data["language"]
    if request.user.is_authenticated:
        staff_language_save(user=staff_user(request), language=language)
        request.session[SESSION_LANGUAGE] = language
    translation.activate(language)
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite="Lax",
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=True,
    )
    return response
