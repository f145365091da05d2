from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from accounts.selectors import last_reconciliations, outbox_summary
from casework.selectors import recent_batches
from portal.pages.dashboard import figures_snapshot
from portal.pages.reports import Week, weekly_report
from portal.selectors import database_error, jobs_overview, periodic_status, redis_error


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The picture at a glance; htmx re-fetches the figures every minute (the same partial)."""
    figures = figures_snapshot()
    context = {**(figures or {"computing": True}), "periodic": periodic_status()}
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


@require_GET
@permission_required("casework.view_case", raise_exception=True)
def weekly_report_view(request: HttpRequest) -> HttpResponse:
    week = Week.parse(request.GET.get("week"), timezone.localdate())
    context = weekly_report(week)
    context.update({"previous": week.shifted(-1), "next": week.shifted(1)})
    return render(request, "portal/weekly_report.html", context)


@staff_member_required
def rq_scheduler_absent(request: HttpRequest, scheduler_index: int) -> HttpResponse:
    """rq-scheduler's page of the RQ dashboard: not used here, so not found, saying where the schedule is."""
    raise Http404(_("The periodic jobs run on RQ's cron, not on rq-scheduler: see the jobs page."))
