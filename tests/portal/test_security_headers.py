"""The headers a bank's scanner checks, on every page (the sign-in page included), and the dependency audit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("signed_in", [False, True])
def test_every_page_sends_the_security_headers(client: Client, lead, signed_in: bool) -> None:
    if signed_in:
        client.force_login(lead)
    response = client.get(reverse("dashboard" if signed_in else "login"))
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "camera=()" in response["Permissions-Policy"] and "geolocation=()" in response["Permissions-Policy"]
    assert "script-src 'self'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"


ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))


def _audit(monkeypatch: pytest.MonkeyPatch, dependencies: list[dict[str, Any]], capsys) -> tuple[int, str]:
    import audit_dependencies

    def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        output = "" if "export" in command else json.dumps({"dependencies": dependencies, "fixes": []})
        return subprocess.CompletedProcess(command, 0, stdout=output, stderr="")

    monkeypatch.setattr(audit_dependencies.subprocess, "run", run)
    code = audit_dependencies.main()
    return code, capsys.readouterr().out


def test_the_audit_fails_on_a_known_vulnerability(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    vulnerable = {"name": "django", "version": "6.1.0", "vulns": [{"id": "PYSEC-2026-1", "fix_versions": ["6.1.1"]}]}
    code, out = _audit(monkeypatch, [vulnerable, {"name": "rq", "version": "3.0.0", "vulns": []}], capsys)
    assert code == 1
    assert "django 6.1.0: PYSEC-2026-1 (fixed in 6.1.1)" in out and "1 of 2 locked packages" in out


def test_the_audit_says_so_when_nothing_could_be_looked_up(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    skipped = [{"name": name, "skip_reason": "Dependency not found on PyPI"} for name in ("django", "rq")]
    code, out = _audit(monkeypatch, skipped, capsys)
    assert code == 0
    assert "did not answer for any of the 2 locked packages" in out and "nothing was audited" in out
