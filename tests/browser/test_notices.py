"""A lead assigns a case on the board; the assignee's bell counts it and the inbox links to it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from accounts.models import EmptyCause, State
from accounts.services import Actor
from casework.services import case_open_for_account
from portal import roles
from tests.browser.conftest import sign_in
from tests.factories import make_account


def test_the_assignee_bell_counts_the_case_a_lead_assigned(page: Page, live_server, staff_member) -> None:
    staff_member("lead", roles.TEAM_LEAD, ("credit", "service", "tech"))
    staff_member("service", roles.SERVICE_AGENT, ("service",))
    case = case_open_for_account(
        account=make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE),
        cause=EmptyCause.CUSTOMER_INCOMPLETE,
        actor=Actor.system("activation-monitor", "job"),
    )

    sign_in(page, live_server.url, "lead")
    page.get_by_role("link", name="Case board").click()
    expect(page.get_by_test_id("bell")).to_be_visible()
    expect(page.get_by_test_id("bell-count")).to_have_count(0)  # nothing for the lead
    page.locator(f"article[data-case='{case.pk}'] input[type=checkbox]").check()
    page.get_by_label("Assign the ticked cases to").select_option(label="Service Tester")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("assigned to Service Tester")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_server.url, "service")
    expect(page.get_by_test_id("bell-count")).to_have_text("1 unread")
    page.get_by_test_id("bell").click()
    notice = page.get_by_test_id("notice")
    expect(notice).to_have_count(1)
    link = notice.get_by_role("link", name=f"Case #{case.pk} is assigned to you.")
    expect(link).to_have_attribute("href", f"/cases/{case.pk}/")
    page.get_by_role("button", name="Mark read").click()
    expect(page.get_by_test_id("bell-count")).to_have_count(0)
    link.click()
    expect(page).to_have_url(f"{live_server.url}/cases/{case.pk}/")
