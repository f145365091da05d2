"""The round-the-clock monitor: accounts past their tier's activation window go to the empty-card state.

It diagnoses why each one is stuck — a failed last activation attempt is a system fault
(``system_config``), anything else means the customer has not finished their steps
(``customer_incomplete``) — and the account's transition opens the right case. It also
re-queues activations whose job was lost (e.g. Redis was down when the card was issued).

Work is done in bounded batches; each batch claims its rows with ``SKIP LOCKED`` so two scans
running at once share the work instead of doing it twice, and every transition re-checks the
state under the row lock.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import cast

import django_rq
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, Subquery
from django.utils import timezone
from redis.exceptions import RedisError
from rq.job import Job, JobStatus

from accounts.models import ActivationAttempt, Channel, LoanAccount, State
from accounts.policy import TIERS
from accounts.services import AccountActionError, account_transition, activation_job_id, enqueue_activation
from portal.actors import Actor

MONITOR = Actor.system("activation-monitor", Channel.JOB)
REDRIVE_AFTER = timedelta(minutes=10)
REDRIVE_LIMIT = 1000


@dataclass
class ScanSummary:
    examined: int = 0
    stalled: int = 0
    failed: int = 0
    skipped: int = 0
    redriven: int = 0

    @property
    def changed(self) -> int:
        return self.stalled + self.failed

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "changed": self.changed}


def _claim(
    tier: str, cutoff: datetime, after: tuple[datetime, int] | None, batch_size: int
) -> list[tuple[int, datetime, str | None, str]]:
    """Lock the next batch of overdue accounts (skipping rows another scan holds).

    In issue order, from the ``account_waiting`` index: a scan reads only the accounts past
    their window, however many accounts there are.
    """
    last_attempt = ActivationAttempt.objects.filter(account=OuterRef("pk")).order_by("-created_at", "-id")
    rows = LoanAccount.objects.filter(
        state__in=(State.ISSUED, State.VERIFYING), customer__risk_tier=tier, issued_at__lt=cutoff
    )
    if after is not None:
        issued, pk = after
        rows = rows.filter(Q(issued_at__gt=issued) | Q(issued_at=issued, pk__gt=pk))
    rows = rows.annotate(
        last_result=Subquery(last_attempt.values("result")[:1]),
        last_code=Subquery(last_attempt.values("error_code")[:1]),
    ).order_by("issued_at", "pk")
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    return [
        (pk, cast(datetime, issued), result, code or "")  # issued: the filter asks for issued_at
        for pk, issued, result, code in rows.values_list("pk", "issued_at", "last_result", "last_code")[:batch_size]
    ]


def monitor_scan(*, now: datetime | None = None, batch_size: int = 500) -> ScanSummary:
    """One pass over every account that may have outstayed its activation window."""
    now = now or timezone.now()
    summary = ScanSummary()
    for tier, policy in TIERS.items():
        cutoff = now - policy.activation_window
        after: tuple[datetime, int] | None = None
        while True:
            with transaction.atomic():
                batch = _claim(tier, cutoff, after, batch_size)
                if not batch:
                    break
                for pk, _issued, last_result, last_code in batch:
                    summary.examined += 1
                    failed = last_result in (
                        ActivationAttempt.Result.PERMANENT_ERROR,
                        ActivationAttempt.Result.TRANSIENT_ERROR,
                    )
                    try:
                        with transaction.atomic():
                            if failed:
                                account_transition(
                                    account_id=pk,
                                    transition_name="fail_activation",
                                    actor=MONITOR,
                                    reason=f"Activation window passed; the last attempt failed ({last_code}).",
                                    error_code=last_code,
                                )
                                summary.failed += 1
                            else:
                                account_transition(
                                    account_id=pk,
                                    transition_name="mark_stalled",
                                    actor=MONITOR,
                                    reason="Activation window passed with customer steps still missing.",
                                )
                                summary.stalled += 1
                    except AccountActionError:
                        summary.skipped += 1  # changed meanwhile (another scan, a person, a webhook)
                after = (batch[-1][1], batch[-1][0])
    summary.redriven = redrive_lost_activations(now=now)
    return summary


def redrive_lost_activations(*, now: datetime | None = None) -> int:
    """Re-queue the activation of issued cards nobody has tried for a while (a lost job)."""
    now = now or timezone.now()
    recent_attempt = ActivationAttempt.objects.filter(account=OuterRef("pk"), created_at__gte=now - REDRIVE_AFTER)
    ids = list(
        LoanAccount.objects.filter(state=State.ISSUED, issued_at__lt=now - REDRIVE_AFTER)
        .exclude(Exists(recent_attempt))
        .order_by("issued_at")
        .values_list("pk", flat=True)[:REDRIVE_LIMIT]
    )
    waiting = _activation_waiting(ids)
    ids = [pk for pk in ids if pk not in waiting]
    with transaction.atomic():
        for pk in ids:
            enqueue_activation(pk)
    return len(ids)


def _activation_waiting(ids: list[int]) -> set[int]:
    """Accounts whose activation job is still in the queue (so not lost, just behind)."""
    if not ids:
        return set()
    try:
        jobs = Job.fetch_many([activation_job_id(pk) for pk in ids], connection=django_rq.get_connection("default"))
    except (RedisError, OSError):
        return set()  # Redis is down: enqueueing will fail softly and the next scan tries again
    waiting = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.DEFERRED}
    return {pk for pk, job in zip(ids, jobs, strict=True) if job is not None and job.get_status() in waiting}
