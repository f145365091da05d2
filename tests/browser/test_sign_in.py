"""A person signs in and finds their way around; an auditor finds nothing to change."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from accounts.models import EmptyCause, State
from accounts.services import approval_request_create
from portal import roles
from tests.browser.conftest import sign_in
from tests.factories import make_account


def test_a_lead_signs_in_and_sees_the_dashboard(page: Page, live_server, staff_member) -> None:
    staff_member("lead", roles.TEAM_LEAD, ("credit", "service", "tech"))
    page.goto(live_server.url + "/")
    expect(page).to_have_url(f"{live_server.url}/login/?next=/")

    sign_in(page, live_server.url, "lead")

    expect(page.get_by_role("heading", level=1)).to_contain_text("Good to see you, Lead")
    expect(page.get_by_test_id("role")).to_have_text("Team lead")
    expect(page.get_by_test_id("departments")).to_contain_text("Credit, Customer service, Tech")
    expect(page.get_by_role("link", name="Dashboard")).to_have_attribute("aria-current", "page")
    # The stylesheet is served (no CDN) and applied.
    expect(page.locator("header.topbar")).to_have_css("background-color", "rgb(29, 78, 137)")

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{live_server.url}/login/")
    expect(page.get_by_role("status")).to_contain_text("You have signed out.")


def test_a_wrong_password_gets_a_clear_message(page: Page, live_server, staff_member) -> None:
    staff_member("service", roles.SERVICE_AGENT, ("service",))
    page.goto(live_server.url + "/login/")
    page.get_by_label("Username").fill("service")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username and password")


WRITE_CONTROLS = """() => [...document.querySelectorAll(
    'main button, main input[type=submit], main [hx-post], main [hx-put], main [hx-patch], main [hx-delete]'
)].filter(el => { const form = el.closest('form'); return !form || form.method.toLowerCase() !== 'get'; }).length"""


def test_an_auditor_finds_no_write_action_anywhere(page: Page, live_server, staff_member) -> None:
    auditor = staff_member("auditor", roles.AUDITOR)
    credit = staff_member("credit", roles.CREDIT_OFFICER, ("credit",))
    held = make_account(State.EMPTY, EmptyCause.RISK_HOLD, tier="high", activated=True)
    approval_request_create(account_id=held.pk, kind="release_hold", requested_by=credit, reason="cleared")
    assert auditor.username == "auditor"
    sign_in(page, live_server.url, "auditor")
    expect(page.get_by_test_id("role")).to_have_text("Auditor")

    nav_links = page.locator("nav .nav a")
    hrefs = [nav_links.nth(i).get_attribute("href") for i in range(nav_links.count())]
    assert {"/", "/accounts/", "/cases/board/", "/jobs/"} <= set(hrefs)
    assert "/admin/" not in hrefs

    pages = [*hrefs, held.get_absolute_url(), "/accounts/approvals/"]
    for href in pages:
        page.goto(live_server.url + href)
        expect(page.locator("main")).to_be_visible()
        # The only form that posts is the auditor's own sign-out button in the header.
        write_forms = page.locator("form:not([method='get']):not([data-account-action])")
        assert write_forms.count() == 0, f"{href} offers a write action to an auditor"
        assert page.evaluate(WRITE_CONTROLS) == 0, href
    expect(page.get_by_text("cleared")).to_be_visible()  # the auditor does see the pending request
