"""Drills: practice on synthetic stuck accounts before the real outage, then read how it went.

A lead starts a drill from a scenario. The drill creates synthetic customers and accounts
(``is_drill``, numbered ``DR<drill><seq>``) and drives each one into the empty-card state
through ``accounts.services.account_transition``, exactly as the monitor or a failed
activation would; the cases open and route themselves as real ones do. The teams work them
on the board (drill filter) like any case. When the lead ends the drill its report is kept
on the drill, so that purging the synthetic data later loses nothing.
"""

from __future__ import annotations

import random
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.demo import synthetic_customers, synthetic_line
from accounts.models import AuditEntry, Channel, Customer, LoanAccount, State
from accounts.policy import TIERS, Step, activation_due
from accounts.services import account_transition
from casework.models import Case, CaseEvent, Drill, Incident, Status
from casework.services import CaseActionError
from portal.actors import Actor, person_name
from portal.models import Department

MAX_SIZE = 200
ERROR_CODE = "CFG-CHANNEL-MISSING"


@dataclass(frozen=True)
class ScenarioPlan:
    transition: str
    department: str
    reason: str
    briefing: str


SCENARIOS: dict[str, ScenarioPlan] = {
    Drill.Scenario.CONFIG_FAULT: ScenarioPlan(
        transition="fail_activation",
        department=Department.TECH,
        reason="Drill: activation refused, channel not configured for the product.",
        briefing=(
            "Core banking refuses every activation from {channel}: the channel is missing from the "
            "product configuration. Tech finds and fixes the fault, then re-drives the accounts from "
            "the drill's incident."
        ),
    ),
    Drill.Scenario.SMS_WAVE: ScenarioPlan(
        transition="mark_stalled",
        department=Department.SERVICE,
        reason="Drill: activation window passed with the SMS code step not done.",
        briefing=(
            "A wave of customers never entered their SMS code and their activation window has passed. "
            "Customer service contacts each one, helps them finish, and records every contact."
        ),
    ),
    Drill.Scenario.RISK_SWEEP: ScenarioPlan(
        transition="hold",
        department=Department.CREDIT,
        reason="Drill: risk-hold sweep after an adverse bureau report.",
        briefing=(
            "A portfolio sweep put these lines on risk hold after adverse bureau reports. Credit reviews "
            "each hold and releases it, or keeps it with a written reason."
        ),
    ),
}


def number_prefix(drill: Drill | int) -> str:
    return f"DR{drill if isinstance(drill, int) else drill.pk:06d}"


def _accounts_create(drill: Drill, now: datetime) -> list[int]:
    """The drill's synthetic customers and accounts, issued and waiting, as the scenario needs."""
    rng = random.Random(drill.pk)  # noqa: S311 - synthetic data, reproducible per drill
    customers = synthetic_customers(drill.size, seed=drill.pk, is_drill=True)
    for customer in customers:
        customer.created_at = now - timedelta(days=rng.randint(20, 60))
    Customer.objects.bulk_create(customers)
    accounts = []
    for sequence, customer in enumerate(customers, start=1):
        product, limit, channel = synthetic_line(rng)
        window = TIERS[customer.risk_tier].activation_window
        fields: dict[str, Any] = {"issued_at": now - timedelta(minutes=rng.randint(20, 180))}
        if drill.scenario == Drill.Scenario.SMS_WAVE:
            fields["issued_at"] = now - window - timedelta(hours=rng.randint(1, 12))
        else:  # the customer did their part: the fault is elsewhere
            done = TIERS[customer.risk_tier].required_steps
            fields["sms_verified_at"] = fields["issued_at"] + timedelta(minutes=5)
            fields["password_set_at"] = fields["issued_at"] + timedelta(minutes=8)
            if Step.CREDIT_REVIEW in done and drill.scenario == Drill.Scenario.CONFIG_FAULT:
                fields["credit_reviewed_at"] = fields["issued_at"] + timedelta(minutes=15)
        fields["activation_due_at"] = activation_due(fields["issued_at"], customer.risk_tier)
        accounts.append(
            LoanAccount(
                number=f"{number_prefix(drill)}{sequence:04d}",
                customer=customer,
                product=product,
                channel=drill.channel if drill.scenario == Drill.Scenario.CONFIG_FAULT else channel,
                approved_limit=limit,
                state=State.ISSUED,
                state_changed_at=fields["issued_at"],
                created_at=fields["issued_at"] - timedelta(days=1),
                is_drill=True,
                **fields,
            )
        )
    LoanAccount.objects.bulk_create(accounts)
    AuditEntry.objects.bulk_create(
        AuditEntry(
            account=account,
            transition="issue",
            from_state=State.APPROVED,
            to_state=State.ISSUED,
            actor_name=_("drill #%(id)d") % {"id": drill.pk},
            channel=Channel.JOB,
            reason=_("Drill: synthetic account issued."),
            created_at=account.issued_at or now,
        )
        for account in accounts
    )
    return [account.pk for account in accounts]


def _incident_create(drill: Drill, user: User, case_ids: list[int]) -> Incident:
    """What anomaly detection would raise for a channel fault, linked to the drill's cases."""
    incident = Incident.objects.create(
        title=_("Drill: activation fails on %(channel)s") % {"channel": drill.channel},
        department_id=Department.TECH,
        description=drill.briefing,
        created_by=user,
        created_by_name=person_name(user),
        is_drill=True,
        drill=drill,
    )
    Case.objects.filter(pk__in=case_ids).update(incident=incident, priority=1)
    CaseEvent.objects.bulk_create(
        CaseEvent(
            case_id=pk,
            kind=CaseEvent.Kind.INCIDENT,
            actor_name=incident.created_by_name,
            text=_("Linked to incident “%(title)s”.") % {"title": incident.title},
        )
        for pk in case_ids
    )
    return incident


def drill_start(*, scenario: str, size: int, user: User, channel: str = "") -> Drill:
    """Create the drill's accounts and drive them empty; their cases open as real ones would."""
    if not user.has_perm("casework.run_drill"):
        raise PermissionDenied(_("Only team leads start drills."))
    plan = SCENARIOS.get(scenario)
    if plan is None:
        raise CaseActionError(_("Choose one of the drill scenarios."))
    if not 1 <= size <= MAX_SIZE:
        raise CaseActionError(_("A drill has between 1 and %(max)d accounts.") % {"max": MAX_SIZE})
    channel = channel.strip()
    if scenario == Drill.Scenario.CONFIG_FAULT and not channel:
        raise CaseActionError(_("Name the channel whose configuration is broken in this drill."))
    now = timezone.now()
    with transaction.atomic():
        drill = Drill.objects.create(
            scenario=scenario,
            size=size,
            channel=channel if scenario == Drill.Scenario.CONFIG_FAULT else "",
            briefing=plan.briefing.format(channel=channel),
            started_by=user,
            started_at=now,
        )
        actor = Actor.system(_("drill #%(id)d") % {"id": drill.pk}, Channel.JOB)
        extra: dict[str, Any] = {"error_code": ERROR_CODE} if plan.transition == "fail_activation" else {}
        for account_id in _accounts_create(drill, now):
            account_transition(
                account_id=account_id, transition_name=plan.transition, actor=actor, reason=plan.reason, **extra
            )
        case_ids = list(
            Case.objects.filter(account__number__startswith=number_prefix(drill), is_drill=True).values_list(
                "pk", flat=True
            )
        )
        Case.objects.filter(pk__in=case_ids).update(drill=drill)
        if scenario == Drill.Scenario.CONFIG_FAULT:
            _incident_create(drill, user, case_ids)
    return drill


def _lock(drill_id: int, user: User) -> Drill:
    if not user.has_perm("casework.run_drill"):
        raise PermissionDenied(_("Only team leads end and purge drills."))
    return Drill.objects.select_for_update().get(pk=drill_id)


@transaction.atomic
def drill_end(*, drill_id: int, user: User) -> Drill:
    """Stop the clock: the report is computed now and kept on the drill."""
    drill = _lock(drill_id, user)
    if not drill.is_running:
        raise CaseActionError(_("This drill has already ended."))
    now = timezone.now()
    drill.end(user, now, drill_report(drill, now))
    drill.save(update_fields=["status", "ended_at", "ended_by", "report"])
    return drill


@transaction.atomic
def drill_purge(*, drill_id: int, user: User) -> dict[str, int]:
    """Delete the drill's synthetic accounts, customers, cases and incident; keep its report."""
    drill = _lock(drill_id, user)
    if drill.is_running:
        raise CaseActionError(_("End the drill first: its report is taken from the data a purge deletes."))
    if drill.purged_at:
        raise CaseActionError(_("This drill's data has already been purged."))
    accounts = LoanAccount.objects.filter(number__startswith=number_prefix(drill), is_drill=True)
    customer_ids = set(accounts.values_list("customer_id", flat=True))
    # delete() counts the cascaded rows too; the report names what people know: these four.
    _total, cases = Case.objects.filter(account__in=accounts).delete()
    _total, incidents = Incident.objects.filter(drill=drill, is_drill=True).delete()
    _total, deleted = accounts.delete()
    _total, customers = Customer.objects.filter(pk__in=customer_ids, is_drill=True, accounts__isnull=True).delete()
    purged = {
        "accounts": deleted.get("accounts.LoanAccount", 0),
        "customers": customers.get("accounts.Customer", 0),
        "cases": cases.get("casework.Case", 0),
        "incidents": incidents.get("casework.Incident", 0),
    }
    drill.purge(purged)
    drill.save(update_fields=["status", "purged_at", "report"])
    return purged


# --- the report ------------------------------------------------------------------------------


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


@dataclass
class _Tally:
    cases: int = 0
    assigned: int = 0
    resolved: int = 0
    assign_hits: int = 0
    assign_misses: int = 0
    resolve_hits: int = 0
    resolve_misses: int = 0

    def __post_init__(self) -> None:
        self.to_assign: list[float] = []
        self.to_resolve: list[float] = []

    def add(self, case: Any, at: datetime) -> None:
        self.cases += 1
        if case.first_assigned_at:
            self.assigned += 1
            self.to_assign.append((case.first_assigned_at - case.opened_at).total_seconds())
        assigned_by = case.first_assigned_at or at
        if assigned_by > case.assign_due_at:
            self.assign_misses += 1
        elif case.first_assigned_at:
            self.assign_hits += 1
        if case.resolved_at:
            self.resolved += 1
            self.to_resolve.append((case.resolved_at - case.opened_at).total_seconds())
            if case.resolved_at <= case.resolve_due_at:
                self.resolve_hits += 1
            else:
                self.resolve_misses += 1
        elif (case.sla_paused_at or at) > case.resolve_due_at:
            self.resolve_misses += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "assigned": self.assigned,
            "resolved": self.resolved,
            "median_to_assign_s": _median(self.to_assign),
            "max_to_assign_s": round(max(self.to_assign), 1) if self.to_assign else None,
            "median_to_resolve_s": _median(self.to_resolve),
            "max_to_resolve_s": round(max(self.to_resolve), 1) if self.to_resolve else None,
            "assign_hits": self.assign_hits,
            "assign_misses": self.assign_misses,
            "resolve_hits": self.resolve_hits,
            "resolve_misses": self.resolve_misses,
        }


def drill_report(drill: Drill, at: datetime | None = None) -> dict[str, Any]:
    """How fast each team and person responded, as of ``at`` (the end of the drill). One query.

    Times are seconds from the case's opening. An SLA counts as a hit when met, as a miss when
    broken or still open past its due time at ``at``; a case still within its time counts as
    neither yet.
    """
    at = at or drill.ended_at or timezone.now()
    cases = list(
        Case.objects.filter(drill=drill)
        .select_related("assignee")
        .only(
            "status", "department_id", "opened_at", "first_assigned_at", "resolved_at", "assign_due_at",
            "resolve_due_at", "sla_paused_at", "assignee__username", "assignee__first_name", "assignee__last_name",
        )
        .order_by("opened_at", "pk")
    )  # fmt: skip
    overall = _Tally()
    teams: dict[str, _Tally] = {}
    people: dict[str, _Tally] = {}
    for case in cases:
        overall.add(case, at)
        teams.setdefault(case.department_id, _Tally()).add(case, at)
        person = (person_name(case.assignee)) if case.assignee else ""
        people.setdefault(person, _Tally()).add(case, at)
    first_assigned = min((case.first_assigned_at for case in cases if case.first_assigned_at), default=None)
    last_resolved = max((case.resolved_at for case in cases if case.resolved_at), default=None)
    open_count = sum(1 for case in cases if case.status not in (Status.RESOLVED, Status.CLOSED))
    return {
        "as_of": at.isoformat(),
        "duration_s": round((at - drill.started_at).total_seconds(), 1),
        "first_assignment_s": round((first_assigned - drill.started_at).total_seconds(), 1) if first_assigned else None,
        "all_resolved_s": round((last_resolved - drill.started_at).total_seconds(), 1)
        if last_resolved and not open_count
        else None,
        "open": open_count,
        "overall": overall.as_dict(),
        "teams": {code: tally.as_dict() for code, tally in sorted(teams.items())},
        "people": {name: tally.as_dict() for name, tally in sorted(people.items(), key=lambda item: item[0] or "~")},
    }
