"""A lead clicks a dashboard figure and lands on the list behind it, with the same count."""

from __future__ import annotations

from decimal import Decimal

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


def test_the_cost_of_empty_cards_leads_to_the_accounts_behind_it(page: Page, live_server, staff_member) -> None:
    staff_member("lead", roles.TEAM_LEAD, ("credit", "service", "tech"))
    make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG, approved_limit=Decimal("400000.00"))
    make_account(State.EMPTY, EmptyCause.RISK_HOLD, tier="high", approved_limit=Decimal("1250000.00"))
    make_account(State.EMPTY, EmptyCause.RISK_HOLD, is_drill=True, approved_limit=Decimal("7000000.00"))

    sign_in(page, live_server.url, "lead")
    expect(page.locator('[data-figure="unusable-total"] .figure')).to_have_text("¥1,650,000.00")
    hold = page.locator('[data-unusable-cause="3"]')
    expect(hold).to_contain_text("¥1,250,000.00")
    hold.get_by_role("link", name="Risk hold").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/?state=empty&empty_cause=risk_hold")
    expect(page.get_by_text("1 account matches.")).to_be_visible()


def test_a_lead_starts_a_drill_and_sees_its_cases_on_the_board(page: Page, live_server, staff_member) -> None:
    staff_member("lead", roles.TEAM_LEAD, ("credit", "service", "tech"))
    sign_in(page, live_server.url, "lead")
    page.get_by_role("link", name="Drills").click()
    page.get_by_role("link", name="Start a drill").click()
    page.get_by_label("Configuration fault on a channel").check()
    page.get_by_label("Accounts").fill("4")
    page.get_by_label("Channel / branch").fill("Mobile app")
    page.get_by_role("button", name="Start the drill").click()
    expect(page.get_by_text("Drill started: 4 synthetic accounts are stuck")).to_be_visible()
    expect(page.get_by_role("heading", name="Live report")).to_be_visible()

    page.get_by_role("link", name="Drill cases on the board").click()
    expect(page.get_by_test_id("count-tech-new")).to_have_text("4")
    expect(page.locator(".case-card .badge-drill")).to_have_count(4)
    # The board's default shows real cases only: the drill stays out of the real work.
    page.goto(f"{live_server.url}/cases/board/")
    expect(page.get_by_test_id("count-tech-new")).to_have_text("0")
