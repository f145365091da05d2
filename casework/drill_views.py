"""Drill pages: the list, starting one from a scenario, its live report, ending and purging it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from casework.drills import drill_end, drill_purge, drill_report, drill_start
from casework.forms import DrillStartForm
from casework.models import Drill
from casework.services import CaseActionError
from portal.http import form_status, staff_user


@require_GET
@permission_required("casework.view_drill", raise_exception=True)
def drill_list(request: HttpRequest) -> HttpResponse:
    drills = Drill.objects.select_related("started_by").order_by("-started_at", "-id")
    page = Paginator(drills, 25).get_page(request.GET.get("page"))
    return render(request, "casework/drill_list.html", {"page": page})


@require_http_methods(["GET", "POST"])
@permission_required("casework.run_drill", raise_exception=True)
def drill_new(request: HttpRequest) -> HttpResponse:
    form = DrillStartForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            drill = drill_start(
                scenario=form.cleaned_data["scenario"],
                size=form.cleaned_data["size"],
                channel=form.cleaned_data["channel"],
                user=staff_user(request),
            )
        except CaseActionError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request,
                _("Drill started: %(count)d synthetic accounts are stuck and their cases are on the board.")
                % {"count": drill.size},
            )
            return redirect(drill)
    return render(request, "casework/drill_form.html", {"form": form}, status=form_status(form))


@require_GET
@permission_required("casework.view_drill", raise_exception=True)
def drill_detail(request: HttpRequest, pk: int) -> HttpResponse:
    drill = get_object_or_404(Drill.objects.select_related("started_by", "ended_by"), pk=pk)
    report = drill_report(drill) if drill.is_running else drill.report
    return render(
        request,
        "casework/drill_detail.html",
        {
            "drill": drill,
            "report": report,
            "incident": drill.incidents.first() if drill.scenario == Drill.Scenario.CONFIG_FAULT else None,
            "may_run": request.user.has_perm("casework.run_drill"),
        },
    )


@require_POST
@permission_required("casework.run_drill", raise_exception=True)
def drill_end_view(request: HttpRequest, pk: int) -> HttpResponse:
    drill = get_object_or_404(Drill, pk=pk)
    try:
        drill_end(drill_id=drill.pk, user=staff_user(request))
    except CaseActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Drill ended. Its report below is final and is kept after a purge."))
    return redirect(drill)


@require_POST
@permission_required("casework.run_drill", raise_exception=True)
def drill_purge_view(request: HttpRequest, pk: int) -> HttpResponse:
    drill = get_object_or_404(Drill, pk=pk)
    try:
        purged = drill_purge(drill_id=drill.pk, user=staff_user(request))
    except CaseActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Drill data purged: %(accounts)d accounts, %(cases)d cases and their history. The report stays.")
            % purged,
        )
    return redirect(drill)
