"""Signing in (the password, then the second factor) and out, the password, and the page for an expired form."""

from __future__ import annotations

from functools import partial
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse, reverse_lazy
from django.utils import translation
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST
from django_otp.plugins.otp_static.models import StaticDevice

from portal.audit import record
from portal.auth_forms import WRONG_FIRST_CODE, CodeForm, checked
from portal.http import redirect_back, staff_user
from portal.middleware import SESSION_LANGUAGE
from portal.models import SecurityEvent, StaffProfile
from portal.reauth import confirm_first, recently_authenticated
from portal.second_factor import (
    PENDING_KEY,
    code_check,
    enrolment_confirm,
    enrolment_device,
    has_second_factor,
    qr_svg,
    second_factor_exempt,
    second_step_due,
    second_step_passed,
    secret_text,
)
from portal.services import staff_language_save
from portal.sessions import REAUTH_AT, now_seconds


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        response = super().form_valid(form)
        chosen = StaffProfile.objects.filter(user_id=user.pk).values_list("language", flat=True).first()
        if chosen:  # the language saved on the profile, on whichever browser they sign in from
            self.request.session[SESSION_LANGUAGE] = chosen
        if settings.OTP_REQUIRED or has_second_factor(user):
            # The password was right; the sign-in is complete only with the code (or the enrolment).
            self.request.session[PENDING_KEY] = True
            return redirect_to_login(self.get_success_url(), reverse("second_factor"))
        record(SecurityEvent.Kind.SIGN_IN, actor=user, request=self.request)
        return response

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        username = str(form.data.get("username", ""))[:150]
        record(SecurityEvent.Kind.SIGN_IN_FAILED, request=self.request, details={"username": username})
        return super().form_invalid(form)


@method_decorator(second_factor_exempt, name="dispatch")
class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated:
            record(SecurityEvent.Kind.SIGN_OUT, request=request)
        response = super().post(request, *args, **kwargs)
        messages.info(request, _("You have signed out."))
        return response


class PasswordChangeView(auth_views.PasswordChangeView):
    success_url = reverse_lazy("dashboard")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, _("Your password has been changed."))
        return response


def _next_url(request: HttpRequest) -> str:
    """Where the sign-in goes on to: ``next`` (same site only), else the dashboard."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return str(resolve_url(settings.LOGIN_REDIRECT_URL))


def _signed_in(request: HttpRequest, device: Any, *, how: str, record_it: bool = True) -> None:
    """The second step is passed: a new session key, a fresh authentication, a line in the access log."""
    second_step_passed(request, device)
    request.session[REAUTH_AT] = now_seconds()
    if record_it:
        record(SecurityEvent.Kind.SIGN_IN, request=request, details={"second_factor": how})


def _backup_code_used(request: HttpRequest, device: StaticDevice) -> None:
    left = device.token_set.count()
    messages.warning(
        request,
        ngettext(
            "You signed in with a backup code; %(count)d is left. Make new ones on your profile page.",
            "You signed in with a backup code; %(count)d are left. Make new ones on your profile page.",
            left,
        )
        % {"count": left},
    )


@second_factor_exempt
@require_http_methods(["GET", "POST"])
def second_factor(request: HttpRequest) -> HttpResponseBase:
    """The second step of the sign-in: a code from the authenticator app, or a backup code."""
    user = staff_user(request)
    next_url = _next_url(request)
    if not second_step_due(request.session):
        return redirect(next_url)
    if not has_second_factor(user):
        return redirect_to_login(next_url, reverse("second_factor_enrol"))
    form = CodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if form.is_bound:
        device, status = checked(form, partial(code_check, user=user, request=request))
        if device is not None:
            backup = isinstance(device, StaticDevice)
            _signed_in(request, device, how="backup_code" if backup else "authenticator")
            if backup:
                _backup_code_used(request, device)
            return redirect(next_url)
    context = {"form": form, "next": next_url, "signing_in": True}
    return render(request, "registration/second_factor.html", context, status=status)


@second_factor_exempt
@require_http_methods(["GET", "POST"])
def second_factor_enrol(request: HttpRequest) -> HttpResponseBase:
    """Set up the authenticator app: scan the QR code (or type the secret), confirm with its first code.

    At the first sign-in when the second factor is required, or from the profile page (after
    confirming the password: an open session must not let someone else bind their phone to it).
    The ten backup codes are shown once, on the page that answers the confirmation.
    """
    user = staff_user(request)
    next_url = _next_url(request)
    signing_in = second_step_due(request.session)
    if has_second_factor(user):
        return redirect_to_login(next_url, reverse("second_factor")) if signing_in else redirect("profile")
    if not signing_in and not recently_authenticated(request):
        return confirm_first(request, next_url=request.get_full_path())
    device = enrolment_device(user)
    form = CodeForm(request.POST if request.method == "POST" else None)
    status = 200
    if form.is_bound:
        confirm = partial(enrolment_confirm, user=user, request=request)
        enrolled, status = checked(form, confirm, wrong=WRONG_FIRST_CODE)
        if enrolled is not None:
            _signed_in(request, enrolled[0], how="enrolment", record_it=signing_in)
            messages.success(request, _("Your second factor is set up."))
            return render(request, "registration/backup_codes.html", {"codes": enrolled[1], "next": next_url})
    context = {"form": form, "next": next_url, "signing_in": signing_in}
    context.update(qr=qr_svg(device), secret=secret_text(device))
    return render(request, "registration/second_factor_enrol.html", context, status=status)


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
