"""The board's moves: a card dragged (or moved from its menu) to another column or to a person.

With htmx the answer redraws the cells the card left and reached (a refused move puts it back
where the server holds it), the people it may go to and the messages; without JavaScript the
card's menu is a plain form and the answer is the board again.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from casework import selectors
from casework.board import case_board_move
from casework.filters import CaseFilter
from casework.forms import BoardMoveForm
from casework.models import Case, Status
from casework.services import (
    CaseActionError,
    CaseUnchanged,
    WipLimitReached,
)
from portal.actors import person_name
from portal.http import form_errors_to_messages, refuse, staff_user


def _board_url(request: HttpRequest) -> str:
    query = request.GET.urlencode()
    return reverse("casework:board") + (f"?{query}" if query else "")


def wip_override_page(request: HttpRequest, exc: WipLimitReached, action: str, back: str) -> HttpResponse:
    """Ask a lead why a move should go past the WIP limit: the same form again, with a reason.

    Everything the user posted comes back as hidden fields; nothing was saved yet.
    """
    posted = [
        (name, value)
        for name, values in request.POST.lists()
        if name not in ("csrfmiddlewaretoken", "wip_reason")
        for value in values
    ]
    return render(
        request,
        "casework/wip_override.html",
        {"message": exc.message, "action": action, "posted": posted, "back": back},
        status=409,
    )


def _move(request: HttpRequest, case: Case, data: dict[str, Any]) -> None:
    """Make the move; a message says what happened. A WIP limit a lead may pass is the caller's to ask."""
    try:
        moved = case_board_move(
            case=case,
            user=staff_user(request),
            to=data["to"],
            assignee_id=data["assignee"],
            expected_version=data["version"],
            wip_override=data["wip_reason"],
        )
    except WipLimitReached:
        raise
    except CaseUnchanged as exc:
        messages.info(request, exc.message)
        return
    except CaseActionError as exc:
        messages.error(request, exc.message)
        return
    values = {"id": moved.pk, "status": moved.get_status_display().lower()}
    if data["assignee"] and moved.assignee:
        text = _("Case #%(id)s is now %(status)s, with %(who)s.") % {**values, "who": person_name(moved.assignee)}
    else:
        text = _("Case #%(id)s is now %(status)s.") % values
    messages.success(request, text)


@require_POST
def board_move(request: HttpRequest, pk: int) -> HttpResponse:
    case, can_work = selectors.get_case_for_user(request, pk)
    if not can_work:
        raise PermissionDenied
    form = BoardMoveForm(request.POST)
    htmx = request.headers.get("HX-Request") == "true"
    if not form.is_valid():
        if not htmx:
            return refuse(request, form, _board_url(request))
        form_errors_to_messages(request, form)
        return _redraw(request, case, form)
    try:
        _move(request, case, form.cleaned_data)
    except WipLimitReached as exc:
        if not htmx:
            return wip_override_page(request, exc, request.get_full_path(), _board_url(request))
        return _redraw(request, case, form, {"message": exc.message, "case": case, "data": form.cleaned_data})
    return _redraw(request, case, form) if htmx else redirect(_board_url(request))


def _redraw(
    request: HttpRequest, case: Case, form: BoardMoveForm, dialog: dict[str, Any] | None = None
) -> HttpResponse:
    """The cells the card left, reached and now sits in, the lane's people and the messages (htmx)."""
    case_filter = CaseFilter(request.GET, queryset=selectors.board_cases(), request=request)
    cases = case_filter.qs if case_filter.is_valid() else selectors.board_cases().none()
    lane = selectors.board(staff_user(request), cases, [case.department])[0]
    current = Case.objects.filter(pk=case.pk).values_list("status", flat=True).first()
    wanted = {case.status, current, form.data.get("from", ""), form.data.get("to", "")}
    if form.data.get("assignee"):
        wanted.add(Status.ASSIGNED)
    cells = [cell for cell in lane.cells if cell.status in wanted]
    query = request.GET.copy()
    query.pop("department", None)
    context = {
        "lane": lane,
        "cells": cells,
        "dialog": dialog,
        "move_query": request.GET.urlencode(),
        "list_query": query.urlencode(),
    }
    return render(request, "casework/partials/board_answer.html", context)
