"""A credit officer sets up the authenticator at the first sign-in, then signs in with the password and a code."""

from __future__ import annotations

import time

from playwright.sync_api import Page, expect

from portal import roles
from tests.factories import TEST_PASSWORD
from tests.second_factor import code_from_secret


def password_step(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_a_credit_officer_enrols_then_signs_in_with_a_code(page: Page, live_server, staff_member, settings) -> None:
    settings.OTP_REQUIRED = True
    staff_member("credit", roles.CREDIT_OFFICER, ("credit",))
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))

    password_step(page, live_server.url, "credit")
    expect(page).to_have_url(f"{live_server.url}/login/enrol/?next=/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Set up your second factor")
    expect(page.get_by_role("img", name="QR code to scan with your authenticator app")).to_be_visible()
    expect(page.get_by_role("navigation")).to_have_count(0)  # nowhere to go before the second step
    secret = page.get_by_test_id("secret").inner_text()
    assert not [text for text in console if "Content Security Policy" in text], console  # drawn within the CSP

    page.get_by_label("Code", exact=True).fill(code_from_secret(secret))
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your backup codes")
    expect(page.get_by_test_id("backup-codes").locator("li")).to_have_count(10)
    page.get_by_role("link", name="I have kept them: continue").click()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_test_id("role")).to_have_text("Credit officer")

    page.get_by_role("button", name="Sign out").click()
    password_step(page, live_server.url, "credit")
    expect(page).to_have_url(f"{live_server.url}/login/code/?next=/")
    page.get_by_label("Code", exact=True).fill("000000")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").or_(page.locator(".errorlist"))).to_contain_text("That code is not right")
    # The code of the next 30 seconds: the one used at the enrolment cannot be used twice.
    page.get_by_label("Code", exact=True).fill(code_from_secret(secret, at=time.time() + 30))
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{live_server.url}/")
    page.get_by_role("link", name="Profile").click()
    expect(page.get_by_test_id("backup-codes-left")).to_have_text("10 backup codes left.")
