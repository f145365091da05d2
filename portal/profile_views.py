"""The staff member's own page: who they are to the portal, their second factor and their sessions."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from portal.http import staff_user
from portal.models import NoticePreference
from portal.notices import preferences_of
from portal.reauth import reauth_required
from portal.second_factor import CodeRefused, backup_codes_replace, second_factor_status
from portal.sessions import sessions_end_elsewhere, sessions_open


@require_GET
def profile(request: HttpRequest) -> HttpResponse:
    user = staff_user(request)
    context = {
        "second_factor": second_factor_status(user),
        "otp_required": settings.OTP_REQUIRED,
        "other_sessions": max(0, sessions_open(user_id=user.pk) - 1),
        "notice_preferences": preferences_of(user),
        "deliveries": NoticePreference.Delivery.choices,
    }
    return render(request, "portal/profile.html", context)


@require_POST
def sign_out_everywhere(request: HttpRequest) -> HttpResponse:
    """End every other session of this person (another browser, a forgotten computer); this one stays."""
    ended = sessions_end_elsewhere(request=request)
    messages.success(
        request,
        ngettext(
            "Signed out of %(count)d other browser. This one stays signed in.",
            "Signed out of %(count)d other browsers. This one stays signed in.",
            ended,
        )
        % {"count": ended},
    )
    return redirect("profile")


@require_POST
@reauth_required
def backup_codes_new(request: HttpRequest) -> HttpResponse:
    """Ten new backup codes, shown once; the old ones stop working."""
    try:
        codes = backup_codes_replace(user=staff_user(request), request=request)
    except CodeRefused:
        messages.error(request, _("Set up your authenticator app first; the backup codes come with it."))
        return redirect("profile")
    return render(request, "registration/backup_codes.html", {"codes": codes, "next": reverse("profile")})
