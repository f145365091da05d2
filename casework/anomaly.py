"""Anomaly detection: a spike of accounts going empty on one product and channel.

Method. For each (product, channel) pair, count the accounts that went to the empty-card state
in the last hour (``observed``), and the same hour on each of the previous 7 days (the pair's
own baseline). Treating the hourly count as Poisson with rate λ = the baseline mean (at least
0.5, so a quiet pair is not "infinitely" surprised by one account), the spike's p-value is
P(X ≥ observed). A pair is anomalous when ``observed ≥ MIN_COUNT`` and ``p < P_THRESHOLD``;
its score is -log10(p). The thresholds keep false alarms rare: with λ = 2, five empties in an
hour is p ≈ 0.053 (no alarm), ten is p ≈ 4.6e-5 (alarm).

An anomalous pair opens one incident for tech — or updates the one already open for that pair —
showing the numbers, and links the open cases of the accounts that went empty in the window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import AuditEntry, State
from casework.models import Case, CaseEvent, Incident
from portal.models import Department

WINDOW = timedelta(hours=1)
BASELINE_DAYS = 7
MIN_COUNT = 5
P_THRESHOLD = 1e-4
MIN_RATE = 0.5
DETECTOR = "anomaly-detector"


def poisson_tail(observed: int, rate: float) -> float:
    """P(X ≥ observed) for X ~ Poisson(rate), summed upward so that tiny tails stay exact."""
    if observed <= 0:
        return 1.0
    total, k = 0.0, observed
    while True:
        term = math.exp(-rate + k * math.log(rate) - math.lgamma(k + 1))
        total += term
        if term < total * 1e-15 or k > observed + 1000:
            return min(total, 1.0)
        k += 1


@dataclass(frozen=True)
class Finding:
    product: str
    channel: str
    observed: int
    baseline: list[int]
    rate: float
    p_value: float

    @property
    def score(self) -> float:
        return -math.log10(max(self.p_value, 1e-300))

    @property
    def anomalous(self) -> bool:
        return self.observed >= MIN_COUNT and self.p_value < P_THRESHOLD

    @property
    def key(self) -> str:
        return f"empty-spike:{self.product}:{self.channel}"


def _empty_counts(start: datetime, end: datetime) -> dict[tuple[str, str], int]:
    rows = (
        AuditEntry.objects.filter(
            to_state=State.EMPTY, created_at__gte=start, created_at__lt=end, account__is_drill=False
        )
        .exclude(from_state=State.EMPTY)
        .values("account__product", "account__channel")
        .annotate(n=Count("account", distinct=True))
        .order_by()
    )
    return {(row["account__product"], row["account__channel"]): row["n"] for row in rows}


def findings(now: datetime | None = None) -> list[Finding]:
    """Every pair that had empties in the last hour, with its baseline and p-value."""
    now = now or timezone.now()
    observed = _empty_counts(now - WINDOW, now)
    history = [
        _empty_counts(now - timedelta(days=d) - WINDOW, now - timedelta(days=d)) for d in range(1, BASELINE_DAYS + 1)
    ]
    results = []
    for pair, count in observed.items():
        baseline = [day.get(pair, 0) for day in history]
        rate = max(sum(baseline) / len(baseline), MIN_RATE)
        results.append(Finding(pair[0], pair[1], count, baseline, rate, poisson_tail(count, rate)))
    return sorted(results, key=lambda finding: finding.p_value)


@transaction.atomic
def _raise_incident(finding: Finding, now: datetime) -> tuple[Incident, bool]:
    details = {
        "key": finding.key,
        "product": finding.product,
        "channel": finding.channel,
        "observed": finding.observed,
        "baseline": finding.baseline,
        "baseline_mean": round(sum(finding.baseline) / len(finding.baseline), 2),
        "p_value": finding.p_value,
        "score": round(finding.score, 2),
        "window_end": now.isoformat(),
    }
    incident = (
        Incident.objects.select_for_update()
        .exclude(status=Incident.IncidentStatus.RESOLVED)
        .filter(details__key=finding.key)
        .first()
    )
    created = incident is None
    if incident is None:
        incident = Incident.objects.create(
            title=f"Spike of empty cards: {finding.product.replace('_', ' ')} on {finding.channel}",
            department_id=Department.TECH,
            description=(
                f"{finding.observed} accounts went empty in the last hour; the same hour on the previous "
                f"{BASELINE_DAYS} days averaged {details['baseline_mean']} (p = {finding.p_value:.2g})."
            ),
            created_by_name=DETECTOR,
            details=details,
        )
    else:
        incident.details = {**incident.details, **details}
        incident.save(update_fields=["details"])
    affected = AuditEntry.objects.filter(
        to_state=State.EMPTY,
        created_at__gte=now - WINDOW,
        created_at__lt=now,
        account__product=finding.product,
        account__channel=finding.channel,
    ).values("account_id")
    cases = list(
        Case.objects.open().filter(account_id__in=affected, incident__isnull=True).values_list("pk", flat=True)
    )
    Case.objects.filter(pk__in=cases).update(incident=incident, priority=1)
    CaseEvent.objects.bulk_create(
        CaseEvent(
            case_id=pk,
            kind=CaseEvent.Kind.INCIDENT,
            actor_name=DETECTOR,
            text=f"Linked to incident “{incident.title}”.",
        )
        for pk in cases
    )
    return incident, created


def detect_anomalies(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    counts = {"pairs": 0, "anomalies": 0, "incidents_opened": 0}
    for finding in findings(now):
        counts["pairs"] += 1
        if finding.anomalous:
            counts["anomalies"] += 1
            _incident, created = _raise_incident(finding, now)
            counts["incidents_opened"] += int(created)
    return counts
