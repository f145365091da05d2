"""Customer feedback: recorded from the account page or the case page; the list behind the figures."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from accounts.selectors import get_account_for_user
from casework import selectors
from casework.feedback import feedback_record
from casework.forms import FeedbackForm, FeedbackListForm
from casework.services import CaseActionError
from portal.http import redirect_back, refuse, staff_user

PAGE_SIZE = 50
RECORD = "casework.add_customerfeedback"


def _record(request: HttpRequest, *, account_id: int, case_id: int | None, page: str) -> HttpResponse:
    """Record the posted feedback, then back to ``page`` (or where it was posted from); 400 with the page if invalid."""
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        return refuse(request, form, page)
    try:
        feedback = feedback_record(
            user=staff_user(request), account_id=account_id, case_id=case_id, **form.cleaned_data
        )
    except CaseActionError as exc:
        messages.error(request, exc.message)
        return redirect_back(request, page)
    messages.success(
        request,
        _("Feedback recorded on case #%(id)s. Record your contact with the customer there once you have answered.")
        % {"id": feedback.case_id},
    )
    return redirect_back(request, page)


@require_POST
def record_on_account(request: HttpRequest, number: str) -> HttpResponse:
    account, _can_edit = get_account_for_user(request, number)
    if not request.user.has_perm(RECORD):
        raise PermissionDenied
    return _record(request, account_id=account.pk, case_id=None, page=account.get_absolute_url())


@require_POST
def record_on_case(request: HttpRequest, pk: int) -> HttpResponse:
    case, _can_work = selectors.get_case_for_user(request, pk)
    if not request.user.has_perm(RECORD):
        raise PermissionDenied
    return _record(request, account_id=case.account_id, case_id=case.pk, page=case.get_absolute_url())


def _week_bounds(label: str) -> tuple[dt.datetime, dt.datetime] | None:
    """``2026-W49`` as its local Monday midnight and the next one; None if there is no such week."""
    try:
        year, number = label.split("-W")
        monday = dt.date.fromisocalendar(int(year), int(number), 1)
    except ValueError:
        return None
    start = timezone.make_aware(dt.datetime.combine(monday, dt.time.min))
    return start, start + dt.timedelta(days=7)


@require_GET
@permission_required("casework.view_customerfeedback", raise_exception=True)
def feedback_list(request: HttpRequest) -> HttpResponse:
    """Real complaints, filtered as the dashboard's or the weekly report's figure counted them."""
    form = FeedbackListForm(request.GET)
    filters = form.cleaned_data if form.is_valid() else {}
    week = filters.get("week") or ""
    feedback = selectors.feedback_list(
        days=filters.get("days"),
        week_bounds=_week_bounds(week) if week else None,
        awaiting=filters.get("awaiting", False),
    )
    page = Paginator(feedback, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "days": filters.get("days"),
        "week": week,
        "awaiting": filters.get("awaiting"),
        "query": query.urlencode(),
    }
    return render(request, "casework/feedback_list.html", context)
