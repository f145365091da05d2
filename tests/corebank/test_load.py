"""``python -m corebank load`` and ``serve --seed``: bulk cards without events, idempotent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.corebank.conftest import Api, start_core
from tests.coreservice import ROOT

STATES = ("UNACTIVATED", "ACTIVE", "SUSPENDED", "TERMINATED")


def write_cards(path: Path, count: int, start: int = 0) -> Path:
    with path.open("w") as out:
        for n in range(start, start + count):
            state = STATES[n % 4]
            card = {
                "token": f"load_{n:08d}",
                "account_number": f"LB{n:010d}",
                "state": state,
                "product": "equipment_purchase",
                "channel": "Branch 3",
                "credit_limit": "200000.00",
                "usable_limit": "50000.00",
                "ever_activated": state != "UNACTIVATED",
            }
            out.write(json.dumps(card) + "\n")
    return path


def load(file: Path, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "corebank", "load", str(file), "--db", str(db)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_load_command_inserts_cards_once(tmp_path: Path, receiver) -> None:
    file = write_cards(tmp_path / "cards.jsonl", 4000)
    db = tmp_path / "corebank" / "core.sqlite3"

    first = load(file, db)
    second = load(file, db)

    assert first.returncode == 0, first.stderr
    assert "read 4000 line(s), inserted 4000 new card(s)" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "inserted 0 new card(s)" in second.stdout

    core = start_core(tmp_path, receiver.url)
    try:
        assert core.stats()["cards"] == {
            "UNACTIVATED": 1000,
            "ACTIVE": 1000,
            "SUSPENDED": 1000,
            "TERMINATED": 1000,
            "total": 4000,
        }
        assert core.stats()["lines"] == 4000
        assert core.events() == []  # a load emits nothing
        with Api(core) as api:
            page = api.call("GET", "/v1/cards?changed_since=0&count=10000").json()
            assert [c["token"] for c in page["data"]] == [f"load_{n:08d}" for n in range(4000)]
            assert page["data"][1]["activated_time"] is not None
            # A loaded SUSPENDED card that was activated goes back to ACTIVE when reinstated.
            reinstated = api.transition("load_00000002", "ACTIVE", "07")
            assert reinstated.json()["state"] == "ACTIVE"
    finally:
        core.stop()


def test_serve_seeds_once_and_a_restart_changes_nothing(tmp_path: Path, receiver) -> None:
    file = write_cards(tmp_path / "seed.jsonl", 500)
    core = start_core(tmp_path, receiver.url, seed=file)
    try:
        with Api(core) as api:
            api.transition("load_00000000", "ACTIVE", "00")
        before = core.card("load_00000000")
        core.restart()

        assert core.stats()["cards"]["total"] == 500
        assert core.card("load_00000000") == before  # the seed did not overwrite what changed since
        assert "seeded 0 new card(s) of 500" in core.output()
    finally:
        core.stop()


def test_a_bad_line_stops_the_load_and_names_it(tmp_path: Path) -> None:
    file = write_cards(tmp_path / "cards.jsonl", 3)
    with file.open("a") as out:
        out.write('{"token": "bad one"}\n')

    result = load(file, tmp_path / "core.sqlite3")

    assert result.returncode == 2
    assert "line 4" in result.stderr
