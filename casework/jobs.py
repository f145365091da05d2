"""RQ entry points for casework. Each re-reads the database and is safe to run twice."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from casework.anomaly import detect_anomalies as detect
from casework.batches import batch_run_chunk, batch_watch, batches_resume
from casework.models import Case, CaseEvent
from casework.notices import sla_notices
from casework.selectors import overdue_q
from portal.heartbeat import heartbeat

ESCALATE_AT_MOST = 2000


def escalate_overdue_cases() -> dict[str, int]:
    """Flag newly overdue cases (a timeline line for the lead), and notify the assignee and the
    department's leads of SLAs about to breach and breached, both assignment and resolution (once each)."""
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
        counts.update(sla_notices(now, overdue))
    return counts


def detect_anomalies() -> dict[str, int]:
    """Every 15 minutes: spikes of empty accounts per product and channel."""
    with heartbeat("detect_anomalies") as counts:
        counts.update(detect())
    return counts


def run_batch_chunk(batch_id: int) -> int:
    """One chunk of a reactivation batch."""
    return batch_run_chunk(batch_id)


def watch_batch(batch_id: int, pending_before: int) -> str:
    """Scheduled while a batch runs: resume it if its chunk job was lost (see ``batch_watch``)."""
    return batch_watch(batch_id, pending_before)


def resume_batches() -> dict[str, int]:
    """Every 2 minutes: keep running batches going, whatever happened to their workers."""
    with heartbeat("resume_batches") as counts:
        counts["running"] = batches_resume()
    return counts
