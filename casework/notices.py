"""Who on the team hears of what happens to cases, incidents, batches and playbooks (``portal.notices`` sends).

Each function is called inside the transaction of the change it tells of. Drill data (``is_drill``)
notifies no one: a drill is watched on its own page, and its made-up cases must never call a
real person to work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Max
from django.utils import timezone

from casework.models import (
    OPEN_STATUSES,
    Case,
    CaseEvent,
    Incident,
    PlaybookRevision,
    ReactivationBatch,
    SlaPolicy,
)
from portal.models import SLA_NAMES, Notice
from portal.notices import notices_send, notices_send_many


def department_people(department_code: str, *, leads_only: bool = False) -> set[int]:
    """Active staff of a department who work its cases (``leads_only``: who assign them)."""
    codename = "assign_case" if leads_only else "work_case"
    return set(
        User.objects.filter(
            is_active=True,
            staff_profile__departments__code=department_code,
            groups__permissions__codename=codename,
            groups__permissions__content_type__app_label="casework",
        ).values_list("pk", flat=True)
    )


def _local(moment: datetime) -> str:
    return f"{timezone.localtime(moment):%Y-%m-%d %H:%M}"


def notify_cases_assigned(cases: Sequence[Case], *, by: User) -> None:
    """Each case's new assignee, unless they took it themselves (a bulk assignment: three queries)."""
    notices_send_many(
        kind=Notice.Kind.CASE_ASSIGNED,
        events=[
            ({case.assignee_id}, f"case_assigned:{case.pk}:{case.version}", {"case": case.pk}, case.get_absolute_url())
            for case in cases
            if not case.is_drill and case.assignee_id is not None and case.assignee_id != by.pk
        ],
    )


def notify_case_handed(case: Case, *, by: User) -> None:
    """A case handed to a department arrives unassigned: its leads and members, not the sender."""
    if case.is_drill:
        return
    notices_send(
        kind=Notice.Kind.CASE_HANDED,
        recipient_ids=department_people(case.department_id) - {by.pk},
        dedupe_key=f"case_handed:{case.pk}:{case.version}",
        params={"case": case.pk, "department": case.department.name},
        url=case.get_absolute_url(),
    )


def notify_incident_opened(incident: Incident, *, by: User) -> None:
    """Everyone of the incident's department but the one who opened it."""
    if incident.is_drill:
        return
    notices_send(
        kind=Notice.Kind.INCIDENT_OPENED,
        recipient_ids=department_people(incident.department.code) - {by.pk},
        dedupe_key=f"incident_opened:{incident.pk}",
        params={"incident": incident.pk, "department": incident.department.name, "title": incident.title},
        url=incident.get_absolute_url(),
    )


def notify_batch_finished(batch_id: int) -> None:
    """The person who started the batch (a drill incident's batch: no one)."""
    batch = ReactivationBatch.objects.select_related("incident").get(pk=batch_id)
    if batch.incident is not None and batch.incident.is_drill:
        return
    notices_send(
        kind=Notice.Kind.BATCH_FINISHED,
        recipient_ids=[batch.created_by_id],
        dedupe_key=f"batch_finished:{batch.pk}",
        params={"title": batch.title, "succeeded": batch.succeeded, "total": batch.total},
        url=batch.get_absolute_url(),
    )


def notify_playbook_proposed(revision: PlaybookRevision, deciders: set[int]) -> None:
    """The leads who may decide a proposed playbook change (``deciders``), but not the one who proposed it."""
    notices_send(
        kind=Notice.Kind.PLAYBOOK_PROPOSED,
        recipient_ids=deciders - {revision.proposed_by_id},
        dedupe_key=f"playbook_proposed:{revision.pk}",
        params={"who": revision.proposed_by_name, "playbook": revision.playbook.title},
        url=revision.get_absolute_url(),
    )


def notify_playbook_decided(revision: PlaybookRevision) -> None:
    """The lead who proposed the change: accepted or rejected, and by whom."""
    notices_send(
        kind=Notice.Kind.PLAYBOOK_DECIDED,
        recipient_ids=[revision.proposed_by_id],
        dedupe_key=f"playbook_decided:{revision.pk}",
        params={"who": revision.decided_by_name, "decision": revision.status, "playbook": revision.playbook.title},
        url=revision.get_absolute_url(),
    )


# --- SLAs: warnings and breaches, from the escalation job ------------------------------------


def _warning_window() -> tuple[timedelta, timedelta]:
    """How long before its due time any case can be in its warning zone, per SLA (a cheap filter)."""
    longest = SlaPolicy.objects.aggregate(assign=Max("time_to_assign"), resolve=Max("time_to_resolve"))
    rest = 1 - settings.SLA_WARNING_PERCENT / 100
    assign = max(longest["assign"] or timedelta(0), timedelta(hours=8))
    resolve = max(longest["resolve"] or timedelta(0), timedelta(days=3))
    # Paused clocks push resolve_due_at later than opened + SLA: allow for it generously.
    return assign * rest, resolve * rest * 2


def _in_warning(opened: datetime, due: datetime, now: datetime) -> bool:
    share = settings.SLA_WARNING_PERCENT / 100
    return now < due and now >= opened + (due - opened) * share


def _sla_event(case: Case, sla: str, due: datetime) -> tuple[str, dict[str, object], str]:
    params: dict[str, object] = {"case": case.pk, "sla": SLA_NAMES[sla], "due": _local(due)}
    return f"{sla}:{case.pk}:{due.isoformat()}", params, case.get_absolute_url()


def _audience(case: Case, leads: dict[str, set[int]]) -> set[int]:
    if case.department_id not in leads:
        leads[case.department_id] = department_people(case.department_id, leads_only=True)
    return leads[case.department_id] | ({case.assignee_id} if case.assignee_id else set())


def sla_notices(now: datetime, newly_overdue: Iterable[Case]) -> dict[str, int]:
    """Warn and tell of breaches of both SLAs, to the assignee and the department's leads, once each.

    Assignment SLA: a case never assigned, at ``SLA_WARNING_PERCENT`` of its assignment time, and
    past it (with a timeline line, once). Resolution SLA: an open case whose clock runs, at the
    same share, and ``newly_overdue`` (the cases the escalation job just flagged).
    """
    leads: dict[str, set[int]] = {}
    assign_window, resolve_window = _warning_window()
    real_open = Case.objects.filter(status__in=OPEN_STATUSES, is_drill=False)
    unassigned = list(
        real_open.filter(first_assigned_at__isnull=True, assignee__isnull=True, assign_due_at__lte=now + assign_window)
    )
    warnings, breaches = [], []
    for case in unassigned:
        if _in_warning(case.opened_at, case.assign_due_at, now):
            warnings.append((_audience(case, leads), *_sla_event(case, "assign", case.assign_due_at)))
        elif case.assign_due_at <= now:
            breaches.append((_audience(case, leads), *_sla_event(case, "assign", case.assign_due_at)))
    for case in real_open.filter(sla_paused_at__isnull=True, resolve_due_at__lte=now + resolve_window):
        if _in_warning(case.opened_at, case.resolve_due_at, now):
            warnings.append((_audience(case, leads), *_sla_event(case, "resolve", case.resolve_due_at)))
    for case in newly_overdue:
        if not case.is_drill:
            breaches.append((_audience(case, leads), *_sla_event(case, "resolve", case.resolve_due_at)))
    _assignment_escalated([case for case in unassigned if case.assign_due_at <= now])
    return {
        "warned": notices_send_many(
            kind=Notice.Kind.SLA_WARNING, events=[(who, f"sla_warning:{key}", p, url) for who, key, p, url in warnings]
        ),
        "breach_notices": notices_send_many(
            kind=Notice.Kind.SLA_BREACH, events=[(who, f"sla_breach:{key}", p, url) for who, key, p, url in breaches]
        ),
    }


ASSIGNMENT_ESCALATION = "sla-assignment-escalation"


def _assignment_escalated(cases: list[Case]) -> None:
    """A timeline line, once per case, when nobody took it in time."""
    done = set(
        CaseEvent.objects.filter(case__in=cases, actor_name=ASSIGNMENT_ESCALATION).values_list("case_id", flat=True)
    )
    CaseEvent.objects.bulk_create(
        CaseEvent(
            case=case,
            kind=CaseEvent.Kind.SYSTEM,
            actor_name=ASSIGNMENT_ESCALATION,
            text=f"Not assigned in time: assignment was due {_local(case.assign_due_at)}. "
            f"Escalated to the {case.department_id} lead.",
        )
        for case in cases
        if case.pk not in done
    )
