"""The Django admin's site: the portal's two-step sign-in, and the second factor for every page.

Like django-otp's ``OTPAdminSite``, a session that still owes the second step is not let in
(``has_permission``); and the admin has no password form of its own: its sign-in page sends
people to the portal's, so that every sign-in takes both steps, is throttled by django-axes
and is recorded in the access log.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from portal.second_factor import second_step_due


class DeskAdminSite(admin.AdminSite):
    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and not second_step_due(request.session)

    @login_not_required
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        target = request.GET.get("next", "")
        if not url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
            target = reverse("admin:index", current_app=self.name)
        if not request.user.is_authenticated:
            return redirect_to_login(target, settings.LOGIN_URL)
        if second_step_due(request.session):
            return redirect_to_login(target, reverse("second_factor"))
        if self.has_permission(request):
            return HttpResponseRedirect(target)
        raise PermissionDenied  # signed in, but not an admin
