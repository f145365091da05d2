from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts.selectors import last_reconciliations, outbox_summary, recent_batches
from portal.dashboard import figures_snapshot
from portal.reports import Week, weekly_report
from portal.selectors import database_error, jobs_overview, periodic_status, redis_error


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The picture at a glance; htmx re-fetches the figures every minute (the same partial)."""
    context = {**figures_snapshot(), "periodic": periodic_status()}
    if request.headers.get("HX-Request"):
        return render(request, "portal/dashboard.html#figures", context)
    context.update({"database_error": database_error(), "redis_error": redis_error(), "overview": jobs_overview()})
    return render(request, "portal/dashboard.html", context)


@require_GET
@permission_required("portal.view_jobs", raise_exception=True)
def jobs(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "portal/jobs.html",
        {
            "overview": jobs_overview(),
            "periodic": periodic_status(),
            "batches": recent_batches(),
            "outbox": outbox_summary(),
            "reconciliations": last_reconciliations(),
        },
    )


class LoginView(auth_views.LoginView):
    redirect_authenticated_user = True


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


@require_GET
@permission_required("casework.view_case", raise_exception=True)
def weekly_report_view(request: HttpRequest) -> HttpResponse:
    week = Week.parse(request.GET.get("week"), timezone.localdate())
    context = weekly_report(week)
    context.update({"previous": week.shifted(-1), "next": week.shifted(1)})
    return render(request, "portal/weekly_report.html", context)
