"""Two credit officers release a high-risk hold: one asks, the other approves."""

from __future__ import annotations

from decimal import Decimal

from playwright.sync_api import Page, expect

from accounts.delivery import commands_deliver
from accounts.models import EmptyCause, LoanAccount, State
from portal import roles
from tests.browser.conftest import sign_in
from tests.factories import make_account


def test_credit_requests_a_release_and_credit2_approves_it(page: Page, live_server, staff_member) -> None:
    staff_member("credit", roles.CREDIT_OFFICER, ("credit",))
    staff_member("credit2", roles.CREDIT_OFFICER, ("credit",))
    account = make_account(
        State.EMPTY,
        EmptyCause.RISK_HOLD,
        tier="high",
        steps=["sms_code", "password", "credit_review"],
        approved_limit=Decimal("2000000.00"),
        released_limit=Decimal("0"),
    )
    assert account.activated_at is None and not account.tranches.exists()

    sign_in(page, live_server.url, "credit")
    page.goto(live_server.url + account.get_absolute_url())
    expect(page.get_by_text("Empty card: Risk hold").first).to_be_visible()
    release = page.locator("form[data-action='request_release']")
    release.get_by_role("textbox").fill("Compliance cleared the customer")
    release.get_by_role("button").click()
    expect(page.get_by_role("status")).to_contain_text("Another credit officer must approve it")
    expect(page.get_by_text("Another credit officer has to approve your request.")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    sign_in(page, live_server.url, "credit2")
    page.goto(live_server.url + "/accounts/approvals/")
    row = page.locator("tr", has_text=account.number)
    expect(row).to_contain_text("Compliance cleared the customer")
    row.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("recorded with both names")

    # The line stays held until core banking reinstates the card; the page says it is waiting.
    page.goto(live_server.url + account.get_absolute_url())
    expect(page.get_by_test_id("core-waiting")).to_contain_text("Reinstate the card")
    expect(page.get_by_text("Empty card: Risk hold").first).to_be_visible()
    commands_deliver()  # core banking reinstates the card, then activates it (every step is done)

    page.reload()
    expect(page.get_by_text("Active", exact=True)).to_be_visible()
    expect(page.get_by_test_id("core-waiting")).to_have_count(0)
    expect(page.get_by_test_id("released-limit")).to_have_text("¥600,000.00")
    expect(page.get_by_test_id("tranche-1")).to_contain_text("released")
    expect(page.get_by_test_id("tranche-2")).to_contain_text("planned")
    expect(page.locator(".timeline li", has_text="Risk hold released")).to_contain_text("requested by Credit2 Tester")
    assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE
