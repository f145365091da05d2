"""A service agent reveals a customer's mobile with a reason; the auditor finds the access in the trail."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from accounts.models import EmptyCause, State
from accounts.services import Actor
from casework.services import case_open_for_account
from portal import roles
from tests.browser.conftest import sign_in
from tests.factories import CustomerFactory, make_account


def test_an_agent_reveals_a_mobile_and_the_auditor_sees_the_record(page: Page, live_server, staff_member) -> None:
    staff_member("service", roles.SERVICE_AGENT, ("service",))
    staff_member("auditor", roles.AUDITOR)
    customer = CustomerFactory(contact_mobile="13912345678")
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE, customer=customer)
    case = case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=Actor.system("t", "job"))

    sign_in(page, live_server.url, "service")
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    mobile = page.get_by_test_id("personal-mobile")
    expect(mobile).to_have_text("139****5678")
    page.get_by_text("Reveal", exact=True).first.click()
    page.get_by_label("Why do you need it? It is recorded.").fill("Calling back about the SMS code")
    page.get_by_role("button", name="Reveal").click()
    expect(page.get_by_test_id("personal-mobile")).to_have_text("13912345678")
    expect(page).to_have_url(f"{live_server.url}/cases/{case.pk}/")  # in place, by htmx

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server.url, "auditor")
    page.get_by_role("link", name="Audit").click()
    trail = page.get_by_test_id("trail")
    row = trail.locator("tbody tr").filter(has_text="Personal data revealed").first
    expect(row).to_contain_text("Calling back about the SMS code")
    expect(row).to_contain_text(account.number)
    expect(row).to_contain_text("contact mobile")
    expect(trail).not_to_contain_text("13912345678")
