"""Print the PostgreSQL plan of each hot query, as Markdown, for docs/performance.md.

Run against the bench data set (``make bench`` creates it)::

    DATABASE_URL=postgres://… .venv/bin/python bench/explain.py > /tmp/plans.md

Each query is built by the same code the page or job uses where that code exposes it, and
run once before ``EXPLAIN (ANALYZE, BUFFERS)`` so that the plan shows a warm cache.
"""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def explain(title: str, query: Any, params: list[Any] | None = None) -> str:
    from django.db import connection

    sql, params = (query, params or []) if isinstance(query, str) else query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.fetchall()
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        shown = cursor.mogrify(sql, params) if hasattr(cursor, "mogrify") else sql
    return f"### {title}\n\n```sql\n{shown}\n```\n\n```\n{plan}\n```\n"


def main() -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone

    from accounts.models import AuditEntry, LoanAccount, State
    from casework.models import Case
    from casework.selectors import board_scope
    from portal.models import Department
    from portal.tables import EXACT_BELOW

    if connection.vendor != "postgresql":
        sys.exit("The plans are PostgreSQL's: point DATABASE_URL at the bench database.")
    now = timezone.now()
    accounts = LoanAccount.objects.filter(is_drill=False)
    recent = accounts.order_by("-state_changed_at", "-id").values_list("pk")
    deep = accounts.count() // 25 // 2
    middle = accounts.order_by("pk").values_list("number", flat=True)[accounts.count() // 2]
    scoped = board_scope(Case.objects.filter(is_drill=False)).filter(
        department__in=list(Department.objects.order_by("code"))
    )
    sections = [
        explain("Account list, first page: its keys", recent[:25]),
        explain(f"Account list, a deep page (page {deep}): its keys", recent[(deep - 1) * 25 : deep * 25]),
        explain(
            "Account list filtered by state and cause: its keys",
            accounts.filter(state=State.EMPTY, empty_cause="customer_incomplete")
            .order_by("-state_changed_at", "-id")
            .values_list("pk")[:25],
        ),
        explain(
            f"Account list: the bounded count (exact up to {EXACT_BELOW:,}; past it the planner's estimate)",
            accounts.order_by().values("pk")[:EXACT_BELOW],
        ),
        explain(
            "Account page: one account by number", LoanAccount.objects.select_related("customer").filter(number=middle)
        ),
        explain(
            "Case board: the count of one cell (one part of the UNION ALL of every cell's count)",
            scoped.filter(department_id="service", status="new")
            .values("department_id", "status")
            .annotate(n=Count("*"))
            .order_by(),
        ),
        explain(
            "Case board: the first cards of one cell (one part of the UNION ALL)",
            scoped.filter(department_id="service", status="new")
            .order_by("priority", "resolve_due_at", "id")
            .values_list("priority", "resolve_due_at", "id")[:8],
        ),
        explain(
            "Monitor: overdue accounts, by the end of their window",
            LoanAccount.objects.filter(state__in=(State.ISSUED, State.VERIFYING), activation_due_at__lt=now)
            .order_by("activation_due_at", "pk")
            .values_list("pk", "activation_due_at")[:500],
        ),
        explain(
            "Dashboard: empty accounts by cause",
            accounts.filter(state=State.EMPTY).values_list("empty_cause").annotate(n=Count("id")).order_by(),
        ),
        explain(
            "Anomaly detection: accounts gone empty in the last hour, per product and channel",
            AuditEntry.objects.filter(
                to_state=State.EMPTY, created_at__gte=now - timedelta(hours=1), account__is_drill=False
            )
            .values("account__product", "account__channel")
            .annotate(n=Count("id"))
            .order_by(),
        ),
    ]
    print("\n".join(sections))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
