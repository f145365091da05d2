"""Reads of cases for the board, the lists and the case page, with their joins."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import connections
from django.db.models import BooleanField, Count, ExpressionWrapper, F, OuterRef, Q, QuerySet, Subquery, Window
from django.db.models.functions import Coalesce, RowNumber
from django.http import Http404, HttpRequest
from django.utils import timezone

from accounts.selectors import with_core_waiting
from casework.models import (
    BOARD_STATUSES,
    OPEN_STATUSES,
    Case,
    CaseEvent,
    CaseQuerySet,
    CaseStudy,
    CustomerFeedback,
    Incident,
    Playbook,
    ReactivationBatch,
    ReactivationItem,
    Status,
    WipLimit,
)
from casework.policy import may_assign, may_work
from portal.actors import person_name
from portal.models import Department
from portal.selectors import department_codes

CARDS_PER_COLUMN = 8
RESOLVED_SHOWN_FOR = timedelta(days=7)


def board_cases() -> CaseQuerySet:
    """The board's cases before its lanes: each lane is a department the user sees (see
    ``board_departments``), so every case in a lane is visible to them; filtering by department
    alone lets the database count from the board's index."""
    return Case.objects.all()


def visible_cases(user: Any) -> CaseQuerySet:
    return Case.objects.visible_to(user)


def overdue_q(now: Any = None) -> Q:
    """Open cases past their resolution time (a paused clock is compared at its pause)."""
    now = now or timezone.now()
    return Q(status__in=OPEN_STATUSES) & (
        Q(sla_paused_at__isnull=True, resolve_due_at__lt=now)
        | Q(sla_paused_at__isnull=False, resolve_due_at__lt=F("sla_paused_at"))
    )


def board_scope(cases: QuerySet[Case]) -> QuerySet[Case]:
    """What the board shows: open cases and those resolved in the last week."""
    return cases.filter(
        Q(status__in=OPEN_STATUSES) | Q(status=Status.RESOLVED, resolved_at__gte=timezone.now() - RESOLVED_SHOWN_FOR)
    )


@dataclass
class BoardCell:
    department: Department
    status: str
    count: int = 0
    limit: int | None = None
    cards: list[Case] = field(default_factory=list)

    @property
    def label(self) -> str:
        return str(Status(self.status).label)

    @property
    def over_limit(self) -> bool:
        return self.limit is not None and self.count > self.limit

    @property
    def more(self) -> int:
        return max(self.count - len(self.cards), 0)


@dataclass
class BoardPerson:
    """A member of a lane's department, a place a lead drops a card on to assign it."""

    pk: int
    name: str
    username: str
    open_count: int = 0


@dataclass
class BoardLane:
    department: Department
    cells: list[BoardCell]
    may_assign: bool
    may_work: bool = False
    people: list[BoardPerson] = field(default_factory=list)

    def cell(self, status: str) -> BoardCell:
        return next(cell for cell in self.cells if cell.status == status)

    @property
    def open_count(self) -> int:
        return sum(cell.count for cell in self.cells if cell.status != Status.RESOLVED)


def _cell_counts(scoped: QuerySet[Case], departments: list[Department]) -> dict[tuple[str, str], int]:
    """How many cases each cell holds, in one query.

    Where the database allows it (PostgreSQL), one count per cell joined by UNION ALL, each
    read from the ``case_board_cards`` index alone; elsewhere one grouped count.
    """
    grouped = scoped.values("department_id", "status").annotate(n=Count("*")).order_by()
    if connections[scoped.db].features.supports_slicing_ordering_in_compound and departments:
        per_cell = [
            grouped.filter(department_id=department.code, status=status)
            for department in departments
            for status in BOARD_STATUSES
        ]
        grouped = per_cell[0].union(*per_cell[1:], all=True).order_by()
    return {(row["department_id"], row["status"]): row["n"] for row in grouped}


def _first_card_ids(scoped: QuerySet[Case], departments: list[Department]) -> list[int]:
    """The ids of the first cards of every cell, in one query.

    Where the database allows it (PostgreSQL), one small ordered query per cell joined by UNION
    ALL: it reads a few index entries per cell instead of ranking every open case. Elsewhere
    (SQLite) a window function ranks the cases of each cell.
    """
    order = ("priority", "resolve_due_at", "id")
    if connections[scoped.db].features.supports_slicing_ordering_in_compound:
        per_cell = [
            # A compound query orders by selected columns: the sort keys come along.
            scoped.filter(department_id=department.code, status=status)
            .order_by(*order)
            .values_list(*order)[:CARDS_PER_COLUMN]
            for department in departments
            for status in BOARD_STATUSES
        ]
        if not per_cell:
            return []
        return [row[-1] for row in per_cell[0].union(*per_cell[1:], all=True)]
    ranked = scoped.annotate(
        row=Window(
            RowNumber(), partition_by=[F("department_id"), F("status")], order_by=[F(name).asc() for name in order]
        )
    )
    return list(ranked.filter(row__lte=CARDS_PER_COLUMN).values_list("id", flat=True))


def board_people(departments: list[str]) -> dict[str, list[BoardPerson]]:
    """The people of each department who work cases, with their open cases (one query)."""
    if not departments:
        return {}
    open_cases = (
        Case.objects.filter(assignee_id=OuterRef("pk"), status__in=OPEN_STATUSES)
        .order_by()
        .values("assignee_id")
        .annotate(n=Count("*"))
        .values("n")
    )
    rows = (
        case_workers(departments)
        .annotate(open_count=Coalesce(Subquery(open_cases), 0))
        .values_list("pk", "username", "first_name", "last_name", "staff_profile__departments__code", "open_count")
        .distinct()
        .order_by("first_name", "last_name", "username")
    )
    people: dict[str, list[BoardPerson]] = {code: [] for code in departments}
    for pk, username, first, last, code, open_count in rows:
        name = person_name(User(username=username, first_name=first, last_name=last))
        people[code].append(BoardPerson(pk=pk, name=name, username=username, open_count=open_count))
    return people


def board(user: Any, cases: QuerySet[Case], departments: list[Department]) -> list[BoardLane]:
    """Lanes by department, columns by status: counts, WIP limits and the first cards of each.

    A fixed number of queries whatever the number of cases: the count of every cell (one query),
    the ids of the first cards of every cell (one query), those cards, the limits; for a lead,
    the people of the lanes they lead (one query).
    """
    scoped = board_scope(cases).filter(department__in=departments)
    counts = _cell_counts(scoped, departments)
    limits = {
        (limit.department_id, limit.status): limit.limit
        for limit in WipLimit.objects.filter(department__in=departments)
    }
    first_ids = _first_card_ids(scoped, departments)
    firsts = sorted(
        with_core_waiting(Case.objects.filter(pk__in=first_ids), "account_id").select_related(
            "account__customer", "assignee"
        ),
        key=lambda case: (case.priority, case.resolve_due_at, case.pk),
    )
    cells = {
        (department.code, status): BoardCell(
            department=department,
            status=status,
            count=counts.get((department.code, status), 0),
            limit=limits.get((department.code, status)),
        )
        for department in departments
        for status in BOARD_STATUSES
    }
    for case in firsts:
        cells[(case.department_id, case.status)].cards.append(case)
    led = [department.code for department in departments if may_assign(user, department.code)]
    people = board_people(led)
    return [
        BoardLane(
            department=department,
            cells=[cells[(department.code, status)] for status in BOARD_STATUSES],
            may_assign=department.code in led,
            may_work=may_work(user, department.code),
            people=people.get(department.code, []),
        )
        for department in departments
    ]


def board_departments(user: Any, only: str | None = None) -> list[Department]:
    """The lanes this user sees: every department for auditors and admins, else their own."""
    departments = Department.objects.order_by("code")
    if not (user.is_superuser or user.has_perm("casework.view_all_cases")):
        departments = departments.filter(code__in=department_codes(user))
    if only:
        departments = departments.filter(code=only)
    return list(departments)


def assignable_staff(user: Any) -> list[User]:
    """People a lead may assign to: active members of the departments they lead, who work cases."""
    led = [code for code in department_codes(user) if may_assign(user, code)]
    if user.is_superuser:
        led = list(Department.objects.values_list("code", flat=True))
    if not led:
        return []
    return list(case_workers(led).distinct())


def case_workers(departments: Collection[str]) -> QuerySet[User]:
    """Active members of these departments who work cases, by name (a member of two appears twice)."""
    return User.objects.filter(
        is_active=True,
        staff_profile__departments__code__in=departments,
        groups__permissions__codename="work_case",
    ).order_by("first_name", "last_name", "username")


def case_list(user: Any) -> CaseQuerySet:
    return with_core_waiting(visible_cases(user), "account_id").select_related(
        "account__customer", "assignee", "department"
    )


def account_cases(user: Any, account_id: int) -> CaseQuerySet:
    """The cases of one account that ``user`` may see, open ones first, then the newest (one query)."""
    is_open = ExpressionWrapper(Q(status__in=OPEN_STATUSES), output_field=BooleanField())
    return (
        visible_cases(user)
        .filter(account_id=account_id)
        .select_related("department", "assignee")
        .annotate(open_first=is_open)
        .order_by("-open_first", "-opened_at", "-id")
    )


def get_case_for_user(request: HttpRequest, pk: int) -> tuple[Case, bool]:
    """The case and whether this user may work it; 404 for a case they may not see."""
    try:
        case = (
            with_core_waiting(visible_cases(request.user), "account_id")
            .select_related("account__customer", "assignee", "department", "incident")
            # Its playbook's version now, to say when the checklist came from an older one.
            .annotate(playbook_now=Subquery(Playbook.objects.filter(cause=OuterRef("cause")).values("version")[:1]))
            .get(pk=pk)
        )
    except Case.DoesNotExist:
        raise Http404 from None
    return case, may_work(request.user, case.department_id)


def case_timeline(case: Case) -> QuerySet[CaseEvent]:
    return case.events.select_related("actor").order_by("created_at", "id")


def case_checklist(case: Case) -> Any:
    return case.checklist.select_related("done_by").order_by("position")


def open_incidents(limit: int = 50) -> QuerySet[Incident]:
    """The most recent unresolved incidents (for the "link to incident" choice)."""
    return Incident.objects.exclude(status=Incident.IncidentStatus.RESOLVED).order_by("-created_at")[:limit]


def incident_list() -> QuerySet[Incident]:
    return Incident.objects.annotate(
        open_cases=Count("cases", filter=Q(cases__status__in=OPEN_STATUSES)),
        all_cases=Count("cases"),
    ).order_by("-created_at")


def incident_case_counts(incident: Incident) -> dict[str, int]:
    return {row["status"]: row["n"] for row in incident.cases.values("status").annotate(n=Count("id")).order_by()}


@dataclass(frozen=True)
class TeamMember:
    user: User
    open: int
    overdue: int
    resolved_this_week: int
    median_hours_to_resolve: float | None


def team(user: Any, now: Any = None) -> list[TeamMember]:
    """Per person in the departments this lead leads: their load and pace (three queries)."""
    import statistics

    now = now or timezone.now()
    week_start = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    week_start -= timedelta(days=week_start.weekday())
    people = assignable_staff(user)
    ids = [person.pk for person in people]
    rows: dict[int, Any] = {
        row["assignee_id"]: row
        for row in Case.objects.filter(assignee_id__in=ids, is_drill=False)
        .values("assignee_id")
        .annotate(
            open=Count("id", filter=Q(status__in=OPEN_STATUSES)),
            overdue=Count("id", filter=overdue_q(now)),
            resolved_week=Count("id", filter=Q(resolved_at__gte=week_start)),
        )
        .order_by()
    }
    durations: dict[int, list[float]] = {}
    for assignee_id, opened, resolved in Case.objects.filter(
        assignee_id__in=ids, is_drill=False, resolved_at__gte=now - timedelta(days=30)
    ).values_list("assignee_id", "opened_at", "resolved_at"):
        durations.setdefault(assignee_id, []).append((resolved - opened).total_seconds() / 3600)  # type: ignore[operator]
    return [
        TeamMember(
            person,
            rows.get(person.pk, {}).get("open", 0),
            rows.get(person.pk, {}).get("overdue", 0),
            rows.get(person.pk, {}).get("resolved_week", 0),
            round(statistics.median(durations[person.pk]), 1) if person.pk in durations else None,
        )
        for person in people
    ]


def case_studies_for(cause: str, limit: int = 10) -> dict[str, Any]:
    """The latest case studies of one cause, and how many there are (two queries)."""
    studies = CaseStudy.objects.filter(cause=cause).order_by("-created_at", "-id")
    return {"studies": list(studies[:limit]), "study_count": studies.count()}


def recent_batches(limit: int = 10) -> QuerySet[ReactivationBatch]:
    return ReactivationBatch.objects.select_related("created_by").order_by("-created_at")[:limit]


def incident_batches(incident: Incident, limit: int = 10) -> QuerySet[ReactivationBatch]:
    return incident.batches.order_by("-created_at")[:limit]


def batch_detail() -> QuerySet[ReactivationBatch]:
    return ReactivationBatch.objects.select_related("incident", "created_by")


def batch_failures(batch: ReactivationBatch, limit: int = 200) -> QuerySet[ReactivationItem]:
    """The items core banking (or the account's state) refused, with the account, for the batch's page."""
    return batch.items.filter(status=ReactivationItem.Status.FAILED).select_related("account")[:limit]


def feedback_list(
    *, days: int | None = None, week_bounds: tuple[Any, Any] | None = None, awaiting: bool = False
) -> QuerySet[CustomerFeedback]:
    """Real complaints, newest first, with their account, customer and case: the figures' list.

    ``days`` (the last so many days) or ``week_bounds`` (a weekly report's week) narrow it, as the
    figure that links here counted them; ``awaiting`` keeps those without a first response.
    """
    feedback = CustomerFeedback.objects.filter(is_drill=False).select_related("account__customer", "case")
    if days is not None:
        feedback = feedback.filter(recorded_at__gte=timezone.now() - timedelta(days=days))
    if week_bounds is not None:
        feedback = feedback.filter(recorded_at__gte=week_bounds[0], recorded_at__lt=week_bounds[1])
    if awaiting:
        feedback = feedback.filter(first_response_at__isnull=True)
    return feedback.order_by("-recorded_at", "-id")


def case_feedback(case: Case) -> list[CustomerFeedback]:
    """The complaints recorded on a case, newest first."""
    return list(case.feedback.order_by("-recorded_at", "-id"))
