"""Reactivation batches: start one (for an incident, or for the account list's filter), follow it, stop it."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts.filters import AccountFilter
from accounts.models import EmptyCause, State
from accounts.policy import may_trigger
from accounts.selectors import account_list
from accounts.services import AccountActionError
from casework import selectors
from casework.batches import batch_cancel, batch_start, incident_redrive
from casework.models import Incident
from portal.http import staff_user
from portal.reauth import reauth_required


@require_http_methods(["GET"])
@permission_required("casework.view_reactivationbatch", raise_exception=True)
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = get_object_or_404(selectors.batch_detail(), pk=pk)
    if request.headers.get("HX-Request"):
        return render(request, "casework/batch_detail.html#progress", {"batch": batch})
    failures = selectors.batch_failures(batch)
    return render(
        request,
        "casework/batch_detail.html",
        {"batch": batch, "failures": failures, "may_cancel": may_trigger(request.user, "activate")},
    )


@require_POST
@reauth_required
def batch_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        batch_cancel(batch_id=pk, user=staff_user(request))
        messages.success(request, _("The batch is stopped; accounts not yet attempted stay as they are."))
    except AccountActionError as exc:
        messages.error(request, exc.message)
    return redirect("batch", pk=pk)


@require_POST
@reauth_required
def redrive_filtered(request: HttpRequest) -> HttpResponse:
    """Start a reactivation batch for the accounts of the list's current filter."""
    user = staff_user(request)
    if not may_trigger(user, "activate"):
        raise PermissionDenied
    query = QueryDict(request.POST.get("query", ""))
    account_filter = AccountFilter(query, queryset=account_list())
    if not account_filter.is_valid():
        messages.error(request, _("Fix the filters before starting a re-drive."))
        return redirect("accounts:list")
    ids = account_filter.qs.filter(state=State.EMPTY, empty_cause=EmptyCause.SYSTEM_CONFIG).values_list("pk", flat=True)
    try:
        batch = batch_start(
            title=_("Re-drive of %(query)s") % {"query": query.urlencode() or _("all system-fault accounts")},
            account_ids=ids[:100_000],
            user=user,
            criteria={"filter": query.urlencode()},
        )
    except AccountActionError as exc:
        messages.error(request, exc.message)
        return redirect(f"{reverse('accounts:list')}?{query.urlencode()}")
    messages.success(request, _("Re-drive started for %(count)d accounts.") % {"count": batch.total})
    return redirect(batch)


@require_POST
@reauth_required
def incident_redrive_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Once tech has fixed the fault: one reactivation batch for every account of the incident."""
    incident = get_object_or_404(Incident, pk=pk)
    try:
        batch = incident_redrive(incident_id=incident.pk, user=staff_user(request))
    except AccountActionError as exc:
        messages.error(request, exc.message)
        return redirect(incident)
    messages.success(request, _("Re-drive started for %(count)d accounts.") % {"count": batch.total})
    return redirect(batch)
