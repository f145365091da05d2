"""The dashboard's figures, each computed by one query over real (non-drill) data.

Every figure knows the filtered list behind it, so the page can link each number there.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast
from urllib.parse import urlencode

from django.core.cache import BaseCache, caches
from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, Q, Sum, TextChoices, Value
from django.db.models.functions import Extract, TruncDate
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from redis.exceptions import RedisError

from accounts.models import AuditEntry, EmptyCause, LoanAccount, Product, State
from accounts.selectors import freed_q
from casework.models import OPEN_STATUSES, Case, CustomerFeedback, Incident
from casework.selectors import overdue_q
from portal.models import Department
from portal.roles import DEPARTMENTS
from portal.templatetags.desk import cny

log = logging.getLogger(__name__)
TREND_DAYS = 30
CAUSE_OF_TRANSITION = {
    "fail_activation": EmptyCause.SYSTEM_CONFIG,
    "mark_stalled": EmptyCause.CUSTOMER_INCOMPLETE,
    "hold": EmptyCause.RISK_HOLD,
}
RESOLUTION_BUCKETS = (
    (_("< 4 h"), timedelta(hours=4)),
    (_("< 1 day"), timedelta(days=1)),
    (_("< 3 days"), timedelta(days=3)),
    (_("< 7 days"), timedelta(days=7)),
    (_("≥ 7 days"), None),
)
# The snapshot is computed once (by a worker, in its language) and shown to everyone: its labels
# stay lazy (gettext_lazy, format_lazy) and are translated when each page is drawn.
DEPARTMENT_LABELS = {code: _(name) for code, name, _description in DEPARTMENTS}


@dataclass(frozen=True)
class Figure:
    label: Promise
    value: int | float | str | Decimal
    url: str


def _accounts_url(**params: str) -> str:
    return reverse("accounts:list") + ("?" + urlencode(params) if params else "")


def _cases_url(**params: str) -> str:
    return reverse("casework:list") + ("?" + urlencode(params) if params else "")


def _empty_now(field_name: str, choices: type[TextChoices]) -> tuple[list[Figure], list[Figure]]:
    """Empty accounts now per value of ``field_name``: how many, and the approved credit they lock.

    An empty account's whole approved line is unusable (even what was released before a hold),
    so what empty cards cost is the sum of their approved limits. One query for both.
    """
    rows = {
        value: (count, amount)
        for value, count, amount in LoanAccount.objects.filter(state=State.EMPTY, is_drill=False)
        .values_list(field_name)
        .annotate(n=Count("id"), amount=Sum("approved_limit"))
        .values_list(field_name, "n", "amount")
        .order_by()
    }
    counts, amounts = [], []
    for choice in choices:
        count, amount = rows.get(choice.value, (0, Decimal(0)))
        url = _accounts_url(state="empty", **{field_name: choice.value})
        label = cast(Promise, choice.label)  # lazy, as every choice label here: translated when drawn
        counts.append(Figure(label, count, url))
        amounts.append(Figure(label, amount, url))
    return counts, amounts


def empty_by_cause() -> list[Figure]:
    return _empty_now("empty_cause", EmptyCause)[0]


def empty_by_product() -> list[Figure]:
    return _empty_now("product", Product)[0]


def _local_midnight(now: datetime) -> datetime:
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def new_empty_today(now: datetime) -> int:
    return (
        AuditEntry.objects.filter(to_state=State.EMPTY, created_at__gte=_local_midnight(now), account__is_drill=False)
        .exclude(from_state=State.EMPTY)
        .values("account_id")
        .distinct()
        .count()
    )


@dataclass(frozen=True)
class Conversion:
    issued: int
    activated_in_window: int

    @property
    def percent(self) -> float | None:
        return round(100 * self.activated_in_window / self.issued, 1) if self.issued else None


def activation_conversion(now: datetime) -> Conversion:
    """Of the cards issued in the last 30 days whose window has passed, the share active within it."""
    row = (
        LoanAccount.objects.filter(is_drill=False, issued_at__gte=now - timedelta(days=TREND_DAYS))
        .filter(activation_due_at__lte=now)
        .aggregate(issued=Count("id"), converted=Count("id", filter=Q(activated_at__lte=F("activation_due_at"))))
    )
    return Conversion(row["issued"], row["converted"])


@dataclass(frozen=True)
class Durations:
    count: int
    median_hours: float | None
    p90_hours: float | None


class _Percentile(Aggregate):
    """PostgreSQL's ``percentile_cont``: the same linear interpolation as ``statistics.quantiles``."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float) -> None:
        super().__init__(expression, fraction=fraction)


def issue_to_activation(now: datetime) -> Durations:
    """Median and 90th percentile from issue to activation, over activations of the last 30 days.

    The page refreshes every minute, so on PostgreSQL the database computes the percentiles
    instead of sending every duration over; elsewhere (SQLite, development) Python does.
    """
    activated = LoanAccount.objects.filter(
        is_drill=False, activated_at__gte=now - timedelta(days=TREND_DAYS), issued_at__isnull=False
    )
    if connection.vendor == "postgresql":
        hours = Extract(F("activated_at") - F("issued_at"), "epoch") / 3600
        row = activated.aggregate(n=Count("id"), median=_Percentile(hours, 0.5), p90=_Percentile(hours, 0.9))
        if not row["n"]:
            return Durations(0, None, None)
        return Durations(row["n"], round(row["median"], 1), round(row["p90"], 1))
    values = [
        (activated_at - issued_at).total_seconds() / 3600  # type: ignore[operator]
        for issued_at, activated_at in activated.values_list("issued_at", "activated_at")
    ]
    if not values:
        return Durations(0, None, None)
    p90 = statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]
    return Durations(len(values), round(statistics.median(values), 1), round(p90, 1))


@dataclass(frozen=True)
class FeedbackFigures:
    """Real complaints recorded in a window: per 1,000 empty accounts, and how fast someone answered."""

    count: int
    empty_accounts: int
    responded: int
    median_response_hours: float | None
    url: str

    @property
    def per_thousand(self) -> float | None:
        return round(1000 * self.count / self.empty_accounts, 1) if self.empty_accounts else None

    @property
    def awaiting(self) -> int:
        return self.count - self.responded

    @property
    def awaiting_url(self) -> str:
        return self.url + "&awaiting=on"


def _feedback_url(**params: str) -> str:
    return reverse("casework:feedback") + "?" + urlencode(params)


def feedback_figures(start: datetime, end: datetime, *, empty_accounts: int, url: str) -> FeedbackFigures:
    """Complaints recorded in ``[start, end)`` (no drill data) and the median time to their first response.

    The median is over those answered so far; the unanswered are counted beside it, not hidden
    in it. One query.
    """
    recorded = CustomerFeedback.objects.filter(is_drill=False, recorded_at__gte=start, recorded_at__lt=end)
    answered = Q(first_response_at__isnull=False)
    if connection.vendor == "postgresql":
        hours = Extract(F("first_response_at") - F("recorded_at"), "epoch") / 3600
        row = recorded.aggregate(n=Count("id"), responded=Count("id", filter=answered), median=_Percentile(hours, 0.5))
        count, responded, median = row["n"], row["responded"], row["median"]
    else:
        rows = list(recorded.values_list("recorded_at", "first_response_at"))
        waits = [(answer - at).total_seconds() / 3600 for at, answer in rows if answer]
        count, responded, median = len(rows), len(waits), statistics.median(waits) if waits else None
    return FeedbackFigures(count, empty_accounts, responded, round(median, 1) if median is not None else None, url)


def feedback_last_30_days(now: datetime, empty_accounts: int) -> FeedbackFigures:
    """The dashboard's: 30 days, as its other rates (a week's complaints are too few to compare)."""
    return feedback_figures(
        now - timedelta(days=TREND_DAYS), now, empty_accounts=empty_accounts, url=_feedback_url(days=str(TREND_DAYS))
    )


@dataclass(frozen=True)
class DepartmentCases:
    department: Department
    open: int
    overdue: int
    resolved_30d: int
    resolved_in_sla_30d: int

    @property
    def sla_percent(self) -> float | None:
        return round(100 * self.resolved_in_sla_30d / self.resolved_30d, 1) if self.resolved_30d else None

    @property
    def open_url(self) -> str:
        return _cases_url(department=self.department.code, status="new,assigned,in_progress,waiting_customer")

    @property
    def overdue_url(self) -> str:
        return _cases_url(department=self.department.code, overdue="on")


def cases_by_department(now: datetime) -> list[DepartmentCases]:
    since = now - timedelta(days=TREND_DAYS)
    rows: dict[str, Any] = {
        row["department_id"]: row
        for row in Case.objects.filter(is_drill=False)
        .values("department_id")
        .annotate(
            open=Count("id", filter=Q(status__in=OPEN_STATUSES)),
            overdue=Count("id", filter=overdue_q(now)),
            resolved=Count("id", filter=Q(resolved_at__gte=since)),
            in_sla=Count("id", filter=Q(resolved_at__gte=since, resolved_at__lte=F("resolve_due_at"))),
        )
        .order_by()
    }
    return [
        DepartmentCases(
            department,
            rows.get(department.code, {}).get("open", 0),
            rows.get(department.code, {}).get("overdue", 0),
            rows.get(department.code, {}).get("resolved", 0),
            rows.get(department.code, {}).get("in_sla", 0),
        )
        for department in Department.objects.order_by("code")
    ]


@dataclass(frozen=True)
class Freed:
    """Lines freed by activations in one week: how many accounts, their approved credit, the list."""

    accounts: int
    amount: Decimal
    url: str


def iso_week_label(day: date) -> str:
    year, number, _weekday = day.isocalendar()
    return f"{year}-W{number:02d}"


def freed_in_week(start: datetime, end: datetime, week_label: str) -> Freed:
    """Accounts activated in ``[start, end)`` after having been empty, with their approved limits."""
    row = LoanAccount.objects.filter(freed_q(start, end), is_drill=False).aggregate(
        n=Count("id"), amount=Sum("approved_limit")
    )
    return Freed(row["n"], row["amount"] or Decimal(0), _accounts_url(freed_in=week_label))


def freed_this_week(now: datetime) -> Freed:
    today = timezone.localdate(now)
    monday = _local_midnight(now) - timedelta(days=today.weekday())
    return freed_in_week(monday, monday + timedelta(days=7), iso_week_label(today))


@dataclass(frozen=True)
class AmountDay:
    day: date
    amount: Decimal


def unusable_trend(now: datetime, unusable_now: Decimal) -> list[AmountDay]:
    """The approved credit locked in empty accounts at the end of each of the last 30 days (today: now).

    Walked back from now over the audit, which records every transition: an account that went
    empty on a day was not empty before it, one that left the empty state was. One query, and
    the trend is there from the first day (a daily snapshot table would start empty). Limits
    are today's: a line changed since counts at its current size on earlier days.
    """
    start = _local_midnight(now) - timedelta(days=TREND_DAYS - 1)
    entering = Q(to_state=State.EMPTY) & ~Q(from_state=State.EMPTY)
    leaving = Q(from_state=State.EMPTY) & ~Q(to_state=State.EMPTY)
    rows = (
        AuditEntry.objects.filter(entering | leaving, created_at__gte=start, account__is_drill=False)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(
            entered=Sum("account__approved_limit", filter=entering), left=Sum("account__approved_limit", filter=leaving)
        )
        .order_by()
    )
    change = {row["day"]: (row["entered"] or 0) - (row["left"] or 0) for row in rows}
    trend = []
    amount = unusable_now
    for index in reversed(range(TREND_DAYS)):
        day = (start + timedelta(days=index)).date()
        trend.append(AmountDay(day, max(amount, Decimal(0))))
        amount -= change.get(day, 0)
    return trend[::-1]


def open_incidents() -> int:
    return Incident.objects.filter(is_drill=False).exclude(status=Incident.IncidentStatus.RESOLVED).count()


@dataclass
class TrendDay:
    day: Any
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def empty_trend(now: datetime) -> list[TrendDay]:
    """Accounts that went empty per day and cause, for the last 30 days."""
    start = _local_midnight(now) - timedelta(days=TREND_DAYS - 1)
    days = {(start + timedelta(days=i)).date(): TrendDay((start + timedelta(days=i)).date()) for i in range(TREND_DAYS)}
    rows = (
        AuditEntry.objects.filter(
            to_state=State.EMPTY, created_at__gte=start, account__is_drill=False, transition__in=CAUSE_OF_TRANSITION
        )
        .exclude(from_state=State.EMPTY)
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "transition")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        if row["day"] in days:
            days[row["day"]].counts[CAUSE_OF_TRANSITION[row["transition"]]] = row["n"]
    return list(days.values())


def resolution_distribution(now: datetime) -> dict[str, list[int]]:
    """Cases resolved in the last 30 days per department, by time to resolution bucket."""
    since = now - timedelta(days=TREND_DAYS)
    annotations = {}
    previous: timedelta | None = None
    for index, (_label, limit) in enumerate(RESOLUTION_BUCKETS):
        condition = Q()
        if previous is not None:
            condition &= Q(resolved_at__gte=F("opened_at") + Value(previous))
        if limit is not None:
            condition &= Q(resolved_at__lt=F("opened_at") + Value(limit))
        annotations[f"b{index}"] = Count("id", filter=condition)
        previous = limit
    rows: dict[str, Any] = {
        row["department_id"]: row
        for row in Case.objects.filter(is_drill=False, resolved_at__gte=since)
        .values("department_id")
        .annotate(**annotations)
        .order_by()
    }
    return {
        code: [rows.get(code, {}).get(f"b{i}", 0) for i in range(len(RESOLUTION_BUCKETS))]
        for code in ("credit", "service", "tech")
    }


# --- charts, drawn on the server as SVG ------------------------------------------------------

CAUSE_COLOURS = {
    EmptyCause.SYSTEM_CONFIG: "#1d4e89",
    EmptyCause.CUSTOMER_INCOMPLETE: "#e07b00",
    EmptyCause.RISK_HOLD: "#b42318",
}
DEPARTMENT_COLOURS = {"credit": "#b42318", "service": "#e07b00", "tech": "#1d4e89"}


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: Promise


def trend_chart(days: list[TrendDay], width: int = 600, height: int = 160) -> dict[str, Any]:
    """Stacked bars: one per day, one colour per cause."""
    peak = max((day.total for day in days), default=0) or 1
    slot = width / max(len(days), 1)
    bars = []
    for index, day in enumerate(days):
        y = float(height)
        for cause in EmptyCause:
            count = day.counts.get(cause.value, 0)
            if not count:
                continue
            bar_height = height * count / peak
            y -= bar_height
            title = format_lazy("{}: {} {}", day.day, count, cause.label)
            bars.append(Bar(index * slot + 1, y, slot - 2, bar_height, CAUSE_COLOURS[cause], title))
    return {"bars": bars, "width": width, "height": height, "peak": peak, "first": days[0].day if days else None,
            "last": days[-1].day if days else None}  # fmt: skip


UNUSABLE_COLOUR = "#b42318"


def unusable_chart(days: list[AmountDay], width: int = 600, height: int = 160) -> dict[str, Any]:
    """One bar per day: the approved credit that was unusable at its end."""
    peak = max((day.amount for day in days), default=Decimal(0)) or Decimal(1)
    slot = width / max(len(days), 1)
    bars = []
    for index, day in enumerate(days):
        if not day.amount:
            continue
        bar_height = float(height * day.amount / peak)
        title = format_lazy("{}: {}", day.day, cny(day.amount))
        bars.append(Bar(index * slot + 1, height - bar_height, slot - 2, bar_height, UNUSABLE_COLOUR, title))
    return {"bars": bars, "width": width, "height": height, "peak": peak,
            "first": days[0] if days else None, "last": days[-1] if days else None}  # fmt: skip


def resolution_chart(distribution: dict[str, list[int]], width: int = 600, height: int = 160) -> dict[str, Any]:
    """Grouped bars: per time bucket, one bar per department."""
    peak = max((max(counts) for counts in distribution.values() if counts), default=0) or 1
    groups = len(RESOLUTION_BUCKETS)
    slot = width / groups
    bar_width = (slot - 12) / max(len(distribution), 1)
    bars = []
    for department_index, (code, counts) in enumerate(sorted(distribution.items())):
        for bucket, count in enumerate(counts):
            bar_height = height * count / peak
            bars.append(
                Bar(
                    bucket * slot + 6 + department_index * bar_width,
                    height - bar_height,
                    bar_width - 1,
                    bar_height,
                    DEPARTMENT_COLOURS[code],
                    format_lazy("{}, {}: {}", DEPARTMENT_LABELS[code], RESOLUTION_BUCKETS[bucket][0], count),
                )
            )
    labels = [(bucket * slot + slot / 2, label) for bucket, (label, _limit) in enumerate(RESOLUTION_BUCKETS)]
    return {"bars": bars, "width": width, "height": height, "labels": labels, "peak": peak}


def dashboard_figures(now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    trend = empty_trend(now)
    distribution = resolution_distribution(now)
    by_cause, unusable_by_cause = _empty_now("empty_cause", EmptyCause)
    by_product, unusable_by_product = _empty_now("product", Product)
    unusable = sum((Decimal(f.value) for f in unusable_by_cause), Decimal(0))
    return {
        "empty_total": Figure(_("Empty now"), sum(int(f.value) for f in by_cause), _accounts_url(state="empty")),
        "empty_by_cause": by_cause,
        "empty_by_product": by_product,
        "unusable_total": Figure(_("Unusable now"), unusable, _accounts_url(state="empty")),
        "unusable_by_cause": unusable_by_cause,
        "unusable_by_product": unusable_by_product,
        "unusable_trend": unusable_chart(unusable_trend(now, unusable)),
        "freed_this_week": freed_this_week(now),
        "feedback": feedback_last_30_days(now, sum(int(f.value) for f in by_cause)),
        "new_empty_today": new_empty_today(now),
        "conversion": activation_conversion(now),
        "durations": issue_to_activation(now),
        "departments": cases_by_department(now),
        "open_incidents": open_incidents(),
        "trend": trend_chart(trend),
        "trend_legend": [(cause.label, CAUSE_COLOURS[cause]) for cause in EmptyCause],
        "resolution": resolution_chart(distribution),
        "resolution_legend": [(DEPARTMENT_LABELS[code], DEPARTMENT_COLOURS[code]) for code in sorted(distribution)],
        "updated_at": now,
    }


# --- the shared snapshot ---------------------------------------------------------------------

SNAPSHOT_KEY = "dashboard:figures"
# The job refreshes every minute; a snapshot outlives a missed run or two, then the page computes.
SNAPSHOT_TTL = 5 * 60
# The last figures computed, kept longer: what the page shows while one process computes new ones.
LAST_KEY = "dashboard:figures:last"
LAST_TTL = 24 * 60 * 60
# Taken by the one process computing the figures for a page (released when done, or expires).
COMPUTING_KEY = "dashboard:figures:computing"
COMPUTING_TTL = 2 * 60


def _store(cache: BaseCache, figures: dict[str, Any]) -> None:
    cache.set(SNAPSHOT_KEY, figures, SNAPSHOT_TTL)
    cache.set(LAST_KEY, figures, LAST_TTL)


def figures_refresh(now: datetime | None = None) -> dict[str, Any]:
    """Compute every figure now and share it with every web process (the periodic job)."""
    figures = dashboard_figures(now)
    try:
        _store(caches["figures"], figures)
    except (RedisError, OSError):
        log.warning("the dashboard snapshot could not be stored: Redis is not answering")
    return figures


def _single_flight(cache: BaseCache) -> dict[str, Any] | None:
    figures = cache.get(SNAPSHOT_KEY)
    if figures is not None:
        return figures
    if not cache.add(COMPUTING_KEY, 1, COMPUTING_TTL):
        return cache.get(LAST_KEY)  # another process is computing: the last figures, or none yet
    try:
        figures = dashboard_figures()
        _store(cache, figures)
        return figures
    finally:
        cache.delete(COMPUTING_KEY)


def figures_snapshot() -> dict[str, Any] | None:
    """The latest figures: the periodic job's snapshot; without one, computed by one process only.

    While one web process computes (a cold start, a Redis flush), the others show the last
    figures computed, or None when there are none yet: the page says the figures are being
    computed, and fetches them again shortly. With Redis down each process keeps its own
    snapshot (the default cache), so it still computes at most once per snapshot's life.
    """
    try:
        return _single_flight(caches["figures"])
    except (RedisError, OSError):
        return _single_flight(caches["default"])
