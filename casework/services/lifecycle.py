"""Cases opening and resolving with their account, one at a time or in bulk; incidents settling."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import LoanAccount
from casework.models import OPEN_STATUSES, Case, CaseCause, CaseEvent, ChecklistItem, Incident, Playbook, Status
from casework.policy import DEPARTMENT_FOR_CAUSE, priority_for
from casework.services.common import FALLBACK_SLA, _event, sla_for
from portal.actors import Actor
from portal.bulk import bulk_insert, bulk_save_fields

# --- with the account ------------------------------------------------------------------------


def _drill_of(account: LoanAccount) -> int | None:
    """A drill account's later cases belong to the same drill (one query, drill accounts only)."""
    if not account.is_drill:
        return None
    return Case.objects.filter(account=account, drill__isnull=False).values_list("drill_id", flat=True).first()


def _new_case(
    account: LoanAccount, cause: str, opened: datetime, sla: Callable[[int], tuple[timedelta, timedelta] | None]
) -> Case:
    """The unsaved case of ``account`` for ``cause``: its department, priority and SLA clock from ``opened``."""
    priority = priority_for(account)
    to_assign, to_resolve = sla(priority) or FALLBACK_SLA
    return Case(
        account=account,
        cause=cause,
        department_id=DEPARTMENT_FOR_CAUSE[cause],
        priority=priority,
        opened_at=opened,
        assign_due_at=opened + to_assign,
        resolve_due_at=opened + to_resolve,
        is_drill=account.is_drill,
    )


def case_open_for_account(*, account: LoanAccount, cause: str, actor: Actor, note: str = "") -> Case:
    """Open the case for an account that just became empty (or has another problem), or note it on the open one.

    ``note`` says what happened, for causes other than the account going empty (e.g. core
    banking refused a command). Safe against a concurrent opening for the same account and
    cause: the database allows one open case per pair, and the loser of that race adds to
    the winner's timeline.
    """
    cause_label = CaseCause(cause).label
    existing = Case.objects.open().filter(account=account, cause=cause).first()
    if existing is None:
        case = _new_case(account, cause, timezone.now(), sla_for)
        case.drill_id = _drill_of(account)
        playbook = Playbook.objects.filter(cause=cause).first()
        case.playbook_version = playbook.version if playbook else None
        try:
            with transaction.atomic():
                case.save(force_insert=True)
        except IntegrityError:
            # Another transaction opened it first; anything else is a real error.
            existing = Case.objects.open().filter(account=account, cause=cause).first()
            if existing is None:
                raise
        else:
            if playbook:
                ChecklistItem.objects.bulk_create(
                    ChecklistItem(case=case, position=step.position, text=step.text) for step in playbook.steps.all()
                )
            _event(
                case,
                CaseEvent.Kind.OPENED,
                actor,
                note or _("Opened: the account went to the empty-card state (%(cause)s).") % {"cause": cause_label},
                to_status=Status.NEW,
            )
            return case
    _event(
        existing,
        CaseEvent.Kind.SYSTEM,
        actor,
        note or _("The account went to the empty-card state (%(cause)s) again.") % {"cause": cause_label},
    )
    return existing


def cases_open_bulk(
    *, accounts: Sequence[LoanAccount], actor: Actor, cause: str = "", note: str = "", backdate: bool = False
) -> list[Case]:
    """Open a new case for each of these accounts in a constant number of queries.

    ``cause`` is the same for all, or each account's empty cause when blank; ``backdate`` opens
    each case when its account went empty (data loaded without the services). The caller
    knows none of them has an open case for that cause: if another transaction opened one
    meanwhile, the database refuses the insert (one open case per account and cause) and
    the caller's transaction is rolled back with it.
    """
    books = list(Playbook.objects.prefetch_related("steps"))
    playbooks = {playbook.cause: list(playbook.steps.all()) for playbook in books}
    versions = {playbook.cause: playbook.version for playbook in books}
    slas = {priority: sla_for(priority) for priority in (1, 2, 3, 4)}
    now = timezone.now()
    cases = [
        _new_case(account, cause or account.empty_cause, (account.empty_since or now) if backdate else now, slas.get)
        for account in accounts
    ]
    for case in cases:
        case.playbook_version = versions.get(case.cause)
    bulk_insert(Case, cases, with_ids=True)
    bulk_insert(
        ChecklistItem,
        [
            ChecklistItem(case=case, position=step.position, text=step.text)
            for case in cases
            for step in playbooks.get(case.cause, [])
        ],
    )
    bulk_insert(
        CaseEvent,
        [
            CaseEvent(
                case=case,
                kind=CaseEvent.Kind.OPENED,
                actor=actor.user,
                actor_name=actor.name,
                text=note
                or _("Opened: the account went to the empty-card state (%(cause)s).")
                % {"cause": CaseCause(case.cause).label},
                to_status=Status.NEW,
                created_at=case.opened_at,
            )
            for case in cases
        ],
    )
    return cases


def _case_values(case: Case) -> dict[str, Any]:
    return {field.attname: getattr(case, field.attname) for field in Case._meta.concrete_fields}


def cases_resolve_for_accounts(*, account_ids: Collection[int], actor: Actor, text: str) -> int:
    """Resolve every open case of these accounts, each with its timeline entry; settle their incidents.

    A constant number of queries however many accounts (a reactivation batch resolves its
    micro-batch's cases at once): the open cases are locked in one query, ``Case.resolve``
    runs on each (the SLA clock stays in the model), then one update, one insert of the
    timeline entries and one update of the incidents. Called inside the accounts' transaction.
    """
    cases = list(Case.objects.open().filter(account_id__in=account_ids).select_for_update(of=("self",)).order_by("pk"))
    if not cases:
        return 0
    cases_move_bulk(cases, Case.resolve, actor=actor, text=lambda case: text)
    incidents_settle({case.incident_id for case in cases if case.incident_id})
    return len(cases)


def cases_move_bulk(
    cases: Sequence[Case], move: Callable[[Case], None], *, actor: Actor, text: Callable[[Case], str]
) -> None:
    """Make one status move on each of these locked cases, each with its timeline entry.

    ``move`` runs on each (the SLA clock stays in the model); then one update of the fields it
    changed (and the versions) and one insert of the timeline entries, however many cases.
    """
    if not cases:
        return
    changed: set[str] = set()
    events = []
    for case in cases:
        before, from_status = _case_values(case), case.status
        move(case)
        case.version += 1
        changed.update(name for name, value in _case_values(case).items() if before[name] != value)
        events.append(
            CaseEvent(
                case=case,
                kind=CaseEvent.Kind.STATUS,
                actor=actor.user,
                actor_name=actor.name,
                text=text(case),
                from_status=from_status,
                to_status=case.status,
            )
        )
    bulk_save_fields(cases, sorted(changed))
    for case in cases:  # saved: a later save() of these instances is not a concurrent change
        case._update_initial_state()
    CaseEvent.objects.bulk_create(events)


def incidents_settle(incident_ids: Collection[int] | QuerySet[Any, Any]) -> int:
    """Resolve those fixed incidents whose re-drive has left no open case (one update).

    Also run when a reactivation batch finishes: two workers resolving an incident's last
    cases at the same time each still see the other's cases open until it commits.
    """
    return (
        Incident.objects.filter(pk__in=incident_ids, status=Incident.IncidentStatus.FIXED)
        .exclude(cases__status__in=OPEN_STATUSES)
        .update(status=Incident.IncidentStatus.RESOLVED, resolved_at=timezone.now())
    )
