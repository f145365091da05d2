"""Tables over large querysets: a counted estimate instead of ``COUNT(*)``, and deep pages by key.

``LargeQuerysetData`` is given to a django-tables2 table instead of the bare queryset:

* its length is counted exactly up to ``EXACT_BELOW`` rows (a bounded count, one query); past
  that, PostgreSQL's planner estimates it, since an exact ``COUNT(*)`` over a million accounts
  would cost every page view a scan (other databases count exactly, in one query). ``estimated`` says
  which, so the page can write "about";
* a page's rows are fetched primary keys first (``ORDER BY … LIMIT … OFFSET …`` on the keys
  alone, which an index answers without visiting the table), then the full rows of those keys
  only: a deep page no longer reads and throws away every row before it.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connections
from django.db.models import QuerySet
from django_tables2.data import TableQuerysetData

EXACT_BELOW = 10_000


def estimated_count(queryset: QuerySet[Any]) -> tuple[int, bool]:
    """(rows, estimated): exact up to ``EXACT_BELOW`` rows, else the planner's estimate if there is one."""
    # The keys alone: the list's annotations (subqueries per row) do not change how many rows.
    keys = queryset.order_by().values("pk")
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return keys.count(), False
    bounded = keys[:EXACT_BELOW].count()
    if bounded < EXACT_BELOW:
        return bounded, False
    sql, params = keys.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    # The estimate can fall short of what was just counted; never show fewer than that.
    return max(int(plan[0]["Plan"]["Plan Rows"]), bounded), True


class LargeQuerysetData(TableQuerysetData):
    estimated = False

    def __len__(self) -> int:
        if getattr(self, "_length", None) is None:
            self._length, self.estimated = estimated_count(self.data)
        return self._length

    def __getitem__(self, key: Any) -> Any:
        if not isinstance(key, slice):
            return self.data[key]
        keys = list(self.data.values_list("pk", flat=True)[key])
        rows = self.data.order_by().in_bulk(keys)
        return [rows[pk] for pk in keys if pk in rows]
