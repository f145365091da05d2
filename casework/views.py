from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_fsm import can_proceed
from django_tables2 import RequestConfig

from accounts.forms import AccountActionForm
from accounts.policy import may_trigger
from accounts.reveal import REVEAL_ANY, REVEAL_OWN_CASES
from accounts.selectors import account_actions
from casework import selectors
from casework.board_views import wip_override_page
from casework.filters import CaseFilter, CaseListFilter, hide_searched_mobile
from casework.forms import (
    BulkAssignForm,
    CommentForm,
    HandOffForm,
    IncidentForm,
    LinkIncidentForm,
    MoveForm,
    ResolveForm,
)
from casework.incidents import incident_create, incident_resolve
from casework.models import Case, Incident
from casework.policy import may_assign
from casework.services import (
    CONTACT_CHANNELS,
    STATUS_MOVES,
    CaseActionError,
    CaseUnchanged,
    WipLimitReached,
    case_checklist_tick,
    case_comment,
    case_contact_record,
    case_hand_off,
    case_link_incident,
    case_transition,
    cases_assign,
)
from casework.tables import CaseTable
from portal.actors import person_name
from portal.exports import filtered_export, list_queries
from portal.http import back_url, form_status, redirect_back, refuse, staff_user
from portal.tables import LargeQuerysetData

PAGE_SIZE = 25
CASE_COLUMNS = (
    ("id", gettext_lazy("Case")),
    ("account__number", gettext_lazy("Account number")),
    ("account__customer__name", gettext_lazy("Customer")),
    ("cause", gettext_lazy("Cause")),
    ("department__name", gettext_lazy("Department"), gettext),  # the three names are in the catalogue
    ("status", gettext_lazy("Status")),
    ("priority", gettext_lazy("Priority")),
    ("assignee__username", gettext_lazy("Assignee")),
    ("opened_at", gettext_lazy("Opened")),
    ("resolve_due_at", gettext_lazy("Resolution due")),
    ("resolved_at", gettext_lazy("Resolved")),
    ("resolution", gettext_lazy("Outcome")),
    ("resolution_reason", gettext_lazy("Why it won't be fixed")),
    ("is_drill", gettext_lazy("Drill")),
)


def _assignee_choices(user: User) -> list[tuple[int, str]]:
    return [(person.pk, person_name(person)) for person in selectors.assignable_staff(user)]


@require_GET
@permission_required("casework.view_case", raise_exception=True)
def board(request: HttpRequest) -> HttpResponse:
    if (masked := hide_searched_mobile(request)) is not None:
        return masked
    user = staff_user(request)
    case_filter = CaseFilter(request.GET, queryset=selectors.board_cases(), request=request)
    cases = case_filter.qs if case_filter.is_valid() else selectors.board_cases().none()
    chosen = case_filter.form.cleaned_data.get("department") if case_filter.is_valid() else None
    departments = selectors.board_departments(user, only=chosen or None)
    lanes = selectors.board(user, cases, departments)
    # The people a lead drops cards on are the ones the ticked cards can go to.
    people = {person.pk: person.name for lane in lanes for person in lane.people}
    query = request.GET.copy()
    query.pop("department", None)
    return render(
        request,
        "casework/board.html",
        {
            "filter": case_filter,
            "lanes": lanes,
            "may_assign": any(lane.may_assign for lane in lanes),
            "assign_form": BulkAssignForm(assignees=sorted(people.items(), key=lambda item: item[1])),
            "list_query": query.urlencode(),
            "move_query": request.GET.urlencode(),
            "may_move": any(lane.may_work for lane in lanes),
        },
    )


@require_GET
@permission_required("casework.view_case", raise_exception=True)
def case_list(request: HttpRequest) -> HttpResponseBase:
    if (masked := hide_searched_mobile(request)) is not None:
        return masked
    case_filter = CaseListFilter(request.GET, queryset=selectors.case_list(request.user), request=request)
    export = filtered_export(
        request, case_filter, name="cases", columns=CASE_COLUMNS, order_by=("priority", "resolve_due_at", "id")
    )
    if export is not None:
        return export
    table = CaseTable(LargeQuerysetData(case_filter.qs))
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    context = {"filter": case_filter, "table": table, **list_queries(request)}
    return render(request, "casework/case_list.html", context)


@require_GET
@permission_required("casework.view_case", raise_exception=True)
def my_cases(request: HttpRequest) -> HttpResponse:
    user = staff_user(request)
    table = CaseTable(selectors.case_list(user).open().filter(assignee=user))
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    return render(request, "casework/my_cases.html", {"table": table})


@require_GET
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    case, can_work = selectors.get_case_for_user(request, pk)
    user = staff_user(request)
    account = case.account
    moves = [(name, label) for name, label in STATUS_MOVES.items() if can_work and can_proceed(getattr(case, name))]
    context = {
        "case": case,
        "can_work": can_work,
        "moves": moves,
        "timeline": selectors.case_timeline(case),
        "checklist": selectors.case_checklist(case),
        "feedback": selectors.case_feedback(case),
        "account": account,
        "account_actions": account_actions(account, user),
        "incidents": selectors.open_incidents() if can_work else [],
        "may_take": can_work and case.is_open and case.assignee_id is None,
        "contact_channels": CONTACT_CHANNELS.items(),
        # The case is visible to this user, so its customer is one of their cases' customers.
        "may_reveal": user.has_perm(REVEAL_ANY) or user.has_perm(REVEAL_OWN_CASES),
    }
    return render(request, "casework/case_detail.html", {**context, **_case_forms(case, user)})


def _case_forms(case: Case, user: User) -> dict[str, Any]:
    """The case page's forms, each with the version it was drawn at."""
    return {
        "account_form": AccountActionForm(initial={"version": case.account.version}),
        "comment_form": CommentForm(),
        "handoff_form": HandOffForm(initial={"version": case.version}),
        "resolve_form": ResolveForm.for_case(case),
        "assign_form": BulkAssignForm(assignees=_assignee_choices(user), initial={"assignee": case.assignee_id})
        if may_assign(user, case.department_id)
        else None,
    }


def _work(request: HttpRequest, pk: int) -> tuple[int, User]:
    case, can_work = selectors.get_case_for_user(request, pk)
    if not can_work:
        raise PermissionDenied
    return case.pk, staff_user(request)


@require_POST
def case_move(request: HttpRequest, pk: int, move: str) -> HttpResponse:
    case_id, user = _work(request, pk)
    case_url = reverse("casework:detail", args=[case_id])
    form = ResolveForm(request.POST) if move == "resolve" else MoveForm(request.POST)
    if not form.is_valid():
        return refuse(request, form, case_url)
    outcome = {name: form.cleaned_data[name] for name in ("resolution", "reason") if name in form.cleaned_data}
    try:
        case = case_transition(
            case_id=case_id,
            name=move,
            user=user,
            expected_version=form.cleaned_data["version"],
            note=form.cleaned_data["note"],
            wip_override=form.cleaned_data["wip_reason"],
            **outcome,
        )
        messages.success(
            request, _("Case #%(id)s is now %(status)s.") % {"id": case.pk, "status": case.get_status_display().lower()}
        )
    except WipLimitReached as exc:
        return wip_override_page(request, exc, request.get_full_path(), back_url(request, case_url))
    except CaseUnchanged as exc:
        messages.info(request, exc.message)
    except CaseActionError as exc:
        messages.error(request, exc.message)
    return redirect_back(request, reverse("casework:detail", args=[case_id]))


@require_POST
def case_take(request: HttpRequest, pk: int) -> HttpResponse:
    case_id, user = _work(request, pk)
    form = MoveForm(request.POST)
    version = form.cleaned_data["version"] if form.is_valid() else None
    try:
        taken = cases_assign(
            case_ids=[case_id],
            assignee=user,
            by=user,
            expected_versions={case_id: version} if version else None,
            wip_override=form.cleaned_data.get("wip_reason", "") if form.is_valid() else "",
        )
        messages.success(request, _("The case is yours now.") if taken else _("The case was already yours."))
    except WipLimitReached as exc:
        fallback = reverse("casework:detail", args=[case_id])
        return wip_override_page(request, exc, request.get_full_path(), back_url(request, fallback))
    except CaseActionError as exc:
        messages.error(request, exc.message)
    return redirect_back(request, reverse("casework:detail", args=[case_id]))


def assigned_message(done: int, already: int, assignee: User) -> str:
    """“3 cases assigned to Wang Wei. 1 was already with Wang Wei: nothing to do.”"""
    who = person_name(assignee)
    sentences = []
    if done or not already:
        sentences.append(
            ngettext("%(count)d case assigned to %(who)s.", "%(count)d cases assigned to %(who)s.", done)
            % {"count": done, "who": who}
        )
    if already:
        sentences.append(
            ngettext(
                "%(count)d was already with %(who)s: nothing to do.",
                "%(count)d were already with %(who)s: nothing to do.",
                already,
            )
            % {"count": already, "who": who}
        )
    return " ".join(sentences)


@require_POST
def assign(request: HttpRequest) -> HttpResponse:
    """Assign one case or many (from the board or the case page) to one person."""
    user = staff_user(request)
    if not user.has_perm("casework.assign_case") and not user.is_superuser:
        raise PermissionDenied
    form = BulkAssignForm(request.POST, assignees=_assignee_choices(user))
    if not form.is_valid():
        return refuse(request, form, reverse("casework:board"))
    assignee = User.objects.get(pk=form.cleaned_data["assignee"])
    try:
        cases = form.cleaned_data["cases"]
        done = cases_assign(
            case_ids=cases,
            assignee=assignee,
            by=user,
            expected_versions=form.versions(),
            wip_override=form.cleaned_data["wip_reason"],
        )
        messages.success(request, assigned_message(len(done), len(cases) - len(done), assignee))
    except WipLimitReached as exc:
        return wip_override_page(request, exc, request.get_full_path(), back_url(request, reverse("casework:board")))
    except CaseActionError as exc:
        messages.error(request, exc.message)
    return redirect_back(request, reverse("casework:board"))


@require_POST
def comment(request: HttpRequest, pk: int) -> HttpResponse:
    case_id, user = _work(request, pk)
    form = CommentForm(request.POST)
    if not form.is_valid():
        return refuse(request, form, reverse("casework:detail", args=[case_id]))
    case_comment(case_id=case_id, user=user, text=form.cleaned_data["text"])
    messages.success(request, _("Comment added."))
    return redirect("casework:detail", pk=case_id)


@require_POST
def tick(request: HttpRequest, pk: int, item_id: int) -> HttpResponse:
    case_id, user = _work(request, pk)
    try:
        case_checklist_tick(case_id=case_id, item_id=item_id, user=user, done=request.POST.get("done") == "1")
    except CaseActionError as exc:
        messages.error(request, exc.message)
    return redirect("casework:detail", pk=case_id)


@require_POST
def hand_off(request: HttpRequest, pk: int) -> HttpResponse:
    case_id, user = _work(request, pk)
    form = HandOffForm(request.POST)
    if not form.is_valid():
        return refuse(request, form, reverse("casework:detail", args=[case_id]))
    try:
        case = case_hand_off(
            case_id=case_id,
            department=form.cleaned_data["department"].code,
            user=user,
            note=form.cleaned_data["note"],
            expected_version=form.cleaned_data["version"],
        )
        messages.success(request, _("Case handed off to %(department)s.") % {"department": case.department})
    except CaseActionError as exc:
        messages.error(request, exc.message)
    # After a handoff the case may no longer be visible to the sender: the board is the safe place.
    return (
        redirect("casework:board")
        if not selectors.visible_cases(user).filter(pk=case_id).exists()
        else redirect("casework:detail", pk=case_id)
    )


@require_POST
def link_incident(request: HttpRequest, pk: int) -> HttpResponse:
    case_id, user = _work(request, pk)
    form = LinkIncidentForm(request.POST)
    incident_id = form.cleaned_data["incident"] if form.is_valid() else None
    try:
        case_link_incident(case_id=case_id, incident_id=incident_id, user=user)
        messages.success(request, _("Incident link updated."))
    except CaseActionError as exc:
        messages.error(request, exc.message)
    return redirect("casework:detail", pk=case_id)


@require_GET
@permission_required("casework.view_incident", raise_exception=True)
def incident_list(request: HttpRequest) -> HttpResponse:
    return render(request, "casework/incident_list.html", {"incidents": selectors.incident_list()[:200]})


@require_http_methods(["GET", "POST"])
@permission_required("casework.add_incident", raise_exception=True)
def incident_new(request: HttpRequest) -> HttpResponse:
    form = IncidentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            incident = incident_create(
                title=form.cleaned_data["title"],
                description=form.cleaned_data["description"],
                cause=form.cleaned_data["cause"],
                user=staff_user(request),
            )
        except CaseActionError as exc:
            form.add_error("title", exc.message)
        else:
            messages.success(request, _("Incident opened. Link its cases from each case page."))
            return redirect(incident)
    return render(request, "casework/incident_form.html", {"form": form}, status=form_status(form))


@require_GET
@permission_required("casework.view_incident", raise_exception=True)
def incident_detail(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    cases = selectors.case_list(request.user).filter(incident=incident)
    table = CaseTable(cases)
    RequestConfig(request, paginate={"per_page": PAGE_SIZE}).configure(table)
    return render(
        request,
        "casework/incident_detail.html",
        {
            "incident": incident,
            "table": table,
            "counts": selectors.incident_case_counts(incident),
            "may_redrive": may_trigger(request.user, "activate"),
            "batches": selectors.incident_batches(incident),
        },
    )


@require_POST
@permission_required("casework.add_incident", raise_exception=True)
def incident_resolve_view(request: HttpRequest, pk: int) -> HttpResponse:
    incident = get_object_or_404(Incident, pk=pk)
    try:
        incident_resolve(incident_id=incident.pk, user=staff_user(request))
    except CaseActionError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Incident resolved. Write down what the organisation learnt while it is fresh."))
    return redirect(incident)


@require_POST
def contact(request: HttpRequest, pk: int) -> HttpResponse:
    case_id, user = _work(request, pk)
    try:
        case_contact_record(
            case_id=case_id, user=user, channel=request.POST.get("channel", ""), outcome=request.POST.get("outcome", "")
        )
        messages.success(request, _("Contact recorded."))
    except CaseActionError as exc:
        messages.error(request, exc.message)
    return redirect("casework:detail", pk=case_id)


@require_GET
@permission_required("casework.assign_case", raise_exception=True)
def team_view(request: HttpRequest) -> HttpResponse:
    """For leads: each person's open and overdue cases, and their pace."""
    return render(request, "casework/team.html", {"members": selectors.team(staff_user(request))})
