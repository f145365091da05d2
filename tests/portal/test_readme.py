"""The README's configuration table cannot drift from what the code reads."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def configuration_table() -> set[str]:
    """The variable names in the first column of the README's configuration table."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            first_cell = line.split("|")[1]
            names.update(re.findall(r"`([A-Z][A-Z0-9_]+)`", first_cell))
    return names


def read_by_settings() -> set[str]:
    """Every variable ``portal/settings.py`` reads through the ``env_*`` helpers."""
    tree = ast.parse((ROOT / "portal" / "settings.py").read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id.startswith("env_")
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


def read_by_make_run() -> set[str]:
    """Variables ``make run`` itself takes (the Makefile and the Procfile)."""
    text = (ROOT / "Makefile").read_text() + (ROOT / "Procfile").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]+) \?=", text, re.M)) | set(re.findall(r"\$([A-Z][A-Z0-9_]+)", text))


def test_every_variable_the_settings_read_is_in_the_readme() -> None:
    missing = read_by_settings() - configuration_table()
    assert not missing, f"add these to the README's configuration table: {sorted(missing)}"


def test_every_variable_in_the_readme_is_read_by_the_code() -> None:
    unread = configuration_table() - read_by_settings() - read_by_make_run()
    assert not unread, f"the README lists variables nothing reads: {sorted(unread)}"
    assert {"DJANGO_DEBUG", "TIME_ZONE", "CORE_GATEWAY_URL", "WEB_BIND", "CORE_PORT"} <= configuration_table()
