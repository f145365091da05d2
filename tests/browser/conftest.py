"""Playwright drives Debian's Chromium; it never downloads a browser of its own.

Without /usr/bin/chromium these tests skip, saying why; with REQUIRE_BROWSER=1 (CI) they
fail instead, so a missing browser can never pass silently.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from playwright.sync_api import Page

from portal import roles
from tests.factories import TEST_PASSWORD, make_staff

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.path).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session", autouse=True)
def _chromium_present() -> None:
    if CHROMIUM.exists():
        return
    reason = f"Chromium not found at {CHROMIUM}: install it with 'apt-get install chromium'"
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (REQUIRE_BROWSER=1 forbids skipping browser tests)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS, "headless": True}


@pytest.fixture
def staff_member(transactional_db):
    """Make a named staff login; works after another browser test has flushed the database."""

    def make(username: str, role: roles.Role, departments: tuple[str, ...] = ()) -> AbstractUser:
        roles.sync_roles()
        return make_staff(username, role, departments)

    return make


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/")
