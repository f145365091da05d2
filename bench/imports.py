"""The CSV import at a bank's size: a file of new customers and accounts, checked, then imported.

Run by ``make bench`` (``measure_import``), or alone against ``DATABASE_URL``:
``python bench/imports.py [ROWS]`` (default 50,000). The imported rows are removed afterwards.
"""

from __future__ import annotations

import csv
import io
import os
import random
import sys
import time
from pathlib import Path
from typing import Any


def measure_import(rows: int) -> dict[str, Any]:
    """A CSV of ``rows`` new customers and accounts: checked (dry run), then imported; then removed."""
    from accounts.demo import synthetic_customers, synthetic_line
    from accounts.ingest import COLUMNS, accounts_import
    from accounts.models import Customer, LoanAccount
    from bench.corebanking import purge_accounts

    rng = random.Random(7)  # noqa: S311 - synthetic data
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for index, customer in enumerate(synthetic_customers(rows, seed=7)):
        product, limit, channel = synthetic_line(rng)
        writer.writerow([
            f"LB{index + 1:010d}", customer.credit_code, customer.name, customer.contact_name,
            customer.contact_mobile, customer.email, customer.risk_tier, customer.credit_score,
            product, channel, f"{limit:.2f}",
        ])  # fmt: skip
    content = out.getvalue().encode()
    last_customer = Customer.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    started = time.perf_counter()
    checked = accounts_import(io.BytesIO(content), dry_run=True)
    check_seconds = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    imported = accounts_import(io.BytesIO(content))
    import_seconds = round(time.perf_counter() - started, 1)
    if not (checked.ok and imported.ok):
        raise SystemExit(f"The import bench's file was refused: {(checked.errors or imported.errors)[:3]}")
    purge_accounts(list(LoanAccount.objects.filter(customer__pk__gt=last_customer).values_list("pk", flat=True)))
    return {
        "rows": rows,
        "megabytes": round(len(content) / 1_000_000, 1),
        "check_seconds": check_seconds,
        "import_seconds": import_seconds,
        "accounts_created": imported.accounts_created,
    }


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    import django

    django.setup()
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    result = measure_import(rows)
    print(
        f"CSV import of {result['rows']:,} rows ({result['megabytes']} MB): checked in {result['check_seconds']} s "
        f"(dry run), imported in {result['import_seconds']} s ({result['accounts_created']:,} accounts created)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
