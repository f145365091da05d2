"""The weekly report: what happened in one ISO week, in real (non-drill) data."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, F, Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, EmptyCause, LoanAccount, State
from casework.models import Case, Incident
from portal.models import Department
from portal.pages.dashboard import CAUSE_OF_TRANSITION, feedback_figures, freed_in_week


@dataclass(frozen=True)
class Week:
    year: int
    number: int

    @classmethod
    def parse(cls, value: str | None, today: dt.date) -> Week:
        """``2026-W47``; anything else means the current week."""
        try:
            year, number = (value or "").upper().split("-W")
            return cls(*dt.date.fromisocalendar(int(year), int(number), 1).isocalendar()[:2])
        except ValueError:
            return cls(*today.isocalendar()[:2])

    @property
    def monday(self) -> dt.date:
        return dt.date.fromisocalendar(self.year, self.number, 1)

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    def shifted(self, weeks: int) -> Week:
        return Week(*(self.monday + dt.timedelta(weeks=weeks)).isocalendar()[:2])

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        start = timezone.make_aware(dt.datetime.combine(self.monday, dt.time.min))
        return start, start + dt.timedelta(days=7)


def empty_at(moment: dt.datetime) -> int:
    """Real accounts in the empty-card state at ``moment``: those empty now, walked back over the audit since."""
    entering = Q(to_state=State.EMPTY) & ~Q(from_state=State.EMPTY)
    leaving = Q(from_state=State.EMPTY) & ~Q(to_state=State.EMPTY)
    now = LoanAccount.objects.filter(state=State.EMPTY, is_drill=False).count()
    since = AuditEntry.objects.filter(entering | leaving, created_at__gte=moment, account__is_drill=False).aggregate(
        entered=Count("id", filter=entering), left=Count("id", filter=leaving)
    )
    return max(now - since["entered"] + since["left"], 0)


def weekly_report(week: Week) -> dict[str, Any]:
    start, end = week.bounds()
    went_empty = dict(
        AuditEntry.objects.filter(
            to_state=State.EMPTY, created_at__gte=start, created_at__lt=end, account__is_drill=False,
            transition__in=CAUSE_OF_TRANSITION,
        )
        .exclude(from_state=State.EMPTY)
        .values_list("transition")
        .annotate(n=Count("account", distinct=True))
        .order_by()
    )  # fmt: skip
    by_cause = [(str(cause.label), went_empty.get(t, 0)) for t, cause in CAUSE_OF_TRANSITION.items()]
    activated = LoanAccount.objects.filter(is_drill=False, activated_at__gte=start, activated_at__lt=end).count()
    rows: dict[str, Any] = {
        row["department_id"]: row
        for row in Case.objects.filter(is_drill=False)
        .values("department_id")
        .annotate(
            opened=Count("id", filter=Q(opened_at__gte=start, opened_at__lt=end)),
            resolved=Count("id", filter=Q(resolved_at__gte=start, resolved_at__lt=end)),
            in_sla=Count(
                "id", filter=Q(resolved_at__gte=start, resolved_at__lt=end, resolved_at__lte=F("resolve_due_at"))
            ),
        )
        .order_by()
    }
    departments = []
    for department in Department.objects.order_by("code"):
        row: dict[str, Any] = rows.get(department.code, {})
        resolved = row.get("resolved", 0)
        departments.append(
            {
                "department": department,
                "opened": row.get("opened", 0),
                "resolved": resolved,
                "sla_percent": round(100 * row.get("in_sla", 0) / resolved, 1) if resolved else None,
            }
        )
    channels = list(
        AuditEntry.objects.filter(
            to_state=State.EMPTY, created_at__gte=start, created_at__lt=end, account__is_drill=False
        )
        .exclude(from_state=State.EMPTY)
        .values("account__channel")
        .annotate(n=Count("account", distinct=True))
        .order_by("-n", "account__channel")[:5]
    )
    incidents = Incident.objects.filter(is_drill=False, created_at__gte=start, created_at__lt=end).count()
    feedback = feedback_figures(
        start, end, empty_accounts=empty_at(end), url=reverse("casework:feedback") + f"?week={week.label}"
    )
    return {
        "week": week,
        "start": start,
        "end": end - dt.timedelta(seconds=1),
        "went_empty": by_cause,
        "went_empty_total": sum(count for _label, count in by_cause),
        "activated": activated,
        "freed": freed_in_week(start, end, week.label),
        "departments": departments,
        "channels": channels,
        "incidents": incidents,
        "feedback": feedback,
        "causes": EmptyCause,
    }
