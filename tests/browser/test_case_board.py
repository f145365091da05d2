"""A lead hands out cases on the board; a service agent works one of them."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from accounts.models import EmptyCause, State
from accounts.services import Actor
from casework.models import Case
from casework.services import case_open_for_account
from portal import roles
from tests.browser.conftest import sign_in
from tests.factories import make_account


def test_a_lead_bulk_assigns_and_an_agent_works_a_case(page: Page, live_server, staff_member) -> None:
    staff_member("lead", roles.TEAM_LEAD, ("credit", "service", "tech"))
    staff_member("service", roles.SERVICE_AGENT, ("service",))
    job = Actor.system("activation-monitor", "job")
    cases = [
        case_open_for_account(
            account=make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE),
            cause=EmptyCause.CUSTOMER_INCOMPLETE,
            actor=job,
        )
        for _ in range(3)
    ]
    case_open_for_account(
        account=make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG), cause=EmptyCause.SYSTEM_CONFIG, actor=job
    )

    sign_in(page, live_server.url, "lead")
    page.get_by_role("link", name="Case board").click()
    page.get_by_label("Department").select_option(label="Customer service")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("section.lane")).to_have_count(1)
    expect(page.get_by_test_id("count-service-new")).to_have_text("3")
    for case in cases:
        page.locator(f"article[data-case='{case.pk}'] input[type=checkbox]").check()
    page.get_by_label("Assign the ticked cases to").select_option(label="Service Tester")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("3 cases assigned to Service Tester.")
    expect(page.get_by_test_id("count-service-assigned")).to_contain_text("3")
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_server.url, "service")
    page.goto(live_server.url + "/cases/mine/")
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(3)
    first = cases[0]
    page.get_by_role("link", name=f"#{first.pk}", exact=True).click()
    page.get_by_role("button", name="Start work").click()
    expect(page.get_by_test_id("case-status")).to_have_text("In progress")
    page.get_by_role("button", name="Tick").first.click()
    expect(page.locator(".checklist .tick.done")).to_have_count(1)
    page.get_by_label("Add a comment").fill("Called Wang Fang; she will set the password tonight.")
    page.get_by_role("button", name="Comment", exact=True).click()
    page.get_by_role("button", name="Wait for customer").click()
    expect(page.get_by_test_id("case-status")).to_have_text("Waiting for customer")

    timeline = page.get_by_test_id("timeline").locator("li")
    expect(timeline).to_have_count(6)
    texts = [timeline.nth(i).inner_text() for i in range(6)]
    assert texts[0].startswith("Opened") and "activation-monitor" in texts[0]
    assert texts[1].startswith("Assignment") and "Lead Tester" in texts[1] and "Assigned to Service Tester." in texts[1]
    assert (
        texts[2].startswith("Status change") and "Assigned → In progress" in texts[2] and "Service Tester" in texts[2]
    )
    assert texts[3].startswith("Checklist") and "Ticked: Call the contact person" in texts[3]
    assert texts[4].startswith("Comment") and "set the password tonight" in texts[4]
    assert texts[5].startswith("Status change") and "In progress → Waiting for customer" in texts[5]
    assert all("2026" in text or "202" in text for text in texts)  # each line carries its time
    first.refresh_from_db()
    assert first.sla_paused_at is not None
    assert Case.objects.filter(assignee__username="service").count() == 3

    # The account is still empty: "fixed" is refused with what to do; "won't fix" with a reason resolves it.
    page.get_by_label("Fixed", exact=True).check()
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_role("status")).to_contain_text("The account is still in the empty-card state")
    expect(page.get_by_test_id("case-status")).to_have_text("Waiting for customer")
    page.get_by_label("Won't fix", exact=True).check()
    page.get_by_label("Why it won't be fixed").select_option(label="The customer declined the line")
    page.get_by_label("Note (required for “won't fix”)").fill("She no longer wants the line.")
    page.get_by_role("button", name="Resolve").click()
    expect(page.get_by_test_id("case-status")).to_have_text("Resolved")
    expect(page.get_by_test_id("case-outcome")).to_have_text("Won't fix")
    expect(timeline.last).to_contain_text("Resolved as won't fix (The customer declined the line): She no longer wants")
