"""RQ entry points for casework. Each re-reads the database and is safe to run twice."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from casework.anomaly import detect_anomalies as detect
from casework.models import Case, CaseEvent
from casework.selectors import overdue_q
from portal.heartbeat import heartbeat

ESCALATE_AT_MOST = 2000


def escalate_overdue_cases() -> dict[str, int]:
    """Flag newly overdue cases and tell their department's lead on the timeline."""
    with heartbeat("escalate_overdue_cases") as counts, transaction.atomic():
        now = timezone.now()
        overdue = list(
            Case.objects.filter(overdue_q(now), escalated_at__isnull=True)
            .select_related("department")
            .order_by("resolve_due_at")[:ESCALATE_AT_MOST]
        )
        Case.objects.filter(pk__in=[case.pk for case in overdue]).update(escalated_at=now)
        CaseEvent.objects.bulk_create(
            CaseEvent(
                case=case,
                kind=CaseEvent.Kind.SYSTEM,
                actor_name="sla-escalation",
                text=f"Overdue: resolution was due {timezone.localtime(case.resolve_due_at):%Y-%m-%d %H:%M}. "
                f"Escalated to the {case.department} lead.",
            )
            for case in overdue
        )
        counts["escalated"] = len(overdue)
    return counts


def detect_anomalies() -> dict[str, int]:
    """Every 15 minutes: spikes of empty accounts per product and channel."""
    with heartbeat("detect_anomalies") as counts:
        counts.update(detect())
    return counts
