"""``make bench`` itself works: a tiny data set, every measurement, the JSON it promises."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = {
    "dashboard", "account_list", "account_list_filtered", "account_list_deep", "account_detail", "case_board",
    "case_board_department", "case_detail", "jobs",
}  # fmt: skip


def test_the_bench_runs_to_the_end_on_a_tiny_data_set(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"REDIS_URL", "DJANGO_SETTINGS_MODULE"} and not key.startswith(("PYTEST", "BENCH_"))
    }
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'bench.sqlite3'}",
        DJANGO_DEBUG="1",
        BENCH_ACCOUNTS="400",
        BENCH_CASES="60",
        BENCH_REQUESTS="3",
        BENCH_BATCH="20",
        BENCH_COMMANDS="20",
        BENCH_IMPORT_ROWS="30",
    )
    finished = subprocess.run(
        [sys.executable, "bench/run.py", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["database"] == "sqlite"
    assert results["accounts"] == 400 and 0 < results["cases"] <= 60
    assert set(results["pages"]) == PAGES
    for name, row in results["pages"].items():
        assert row["p50_ms"] > 0 and row["p95_ms"] >= row["p50_ms"] and row["queries"] > 0, name
        assert (row["admin_p50_ms"] is None) == (name in {"dashboard", "jobs"}), name
    assert set(results["monitor_scan"]) >= {"seconds", "examined", "changed"}
    batch = results["reactivation"]
    assert batch["accounts"] == 20 and batch["per_second_1_worker"] > 0 and batch["per_second_2_workers"] > 0
    assert results["anomaly_seconds"] >= 0
    imported = results["import"]
    assert imported["rows"] == imported["accounts_created"] == 30 and imported["import_seconds"] >= 0
    assert results["rss_mb"]["web"] > 0 and results["rss_mb"]["worker"] > 0
    delivery = results["delivery"]
    for name in ("activations_1_worker", "activations_2_workers", "holds_1_worker", "holds_2_workers"):
        row = delivery[name]
        assert row["commands"] == 20 and row["per_second"] > 0 and row["service_cpu_ms_per_command"] >= 0, name
    assert delivery["core_cards"]["SUSPENDED"] == 40  # every card activated, then suspended, once
    reconciliation = results["reconciliation"]
    assert reconciliation["cards_read"] == reconciliation["cards"] > 0
    assert reconciliation["mismatches"] == reconciliation["unknown"] == 0  # the generator writes matching cards
    assert "ours/admin" in finished.stdout and "reconciliation" in finished.stdout and "CSV import" in finished.stdout
