"""A lead clicks a dashboard figure and lands on the list behind it, with the same count."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from accounts.models import EmptyCause, State
from portal import roles
from tests.browser.conftest import sign_in
from tests.factories import make_account


def test_a_figure_leads_to_its_filtered_list(page: Page, live_server, staff_member) -> None:
    staff_member("lead", roles.TEAM_LEAD, ("credit", "service", "tech"))
    for _ in range(3):
        make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG)
    make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE, is_drill=True)

    sign_in(page, live_server.url, "lead")
    figure = page.get_by_role("link", name="empty: Customer steps incomplete")
    expect(figure.locator(".figure")).to_have_text("3")
    figure.click()
    expect(page).to_have_url(f"{live_server.url}/accounts/?state=empty&empty_cause=customer_incomplete")
    expect(page.get_by_text("3 accounts match.")).to_be_visible()
    expect(page.locator("table tbody tr")).to_have_count(3)
