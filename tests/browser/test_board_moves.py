"""Cards moved on the board: dragged by a lead onto a person, moved from the keyboard by an agent,
snapped back when someone else moved them first, refused past a WIP limit."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect

from accounts.models import EmptyCause, State
from accounts.services import Actor
from casework.models import Case, Status, WipLimit
from casework.services import case_open_for_account, case_transition, cases_assign
from portal import roles
from tests.browser.conftest import sign_in
from tests.factories import make_account

JOB = Actor.system("activation-monitor", "job")


def open_case() -> Case:
    return case_open_for_account(
        account=make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE),
        cause=EmptyCause.CUSTOMER_INCOMPLETE,
        actor=JOB,
    )


def drag(page: Page, card: Locator, target: Locator) -> None:
    """Press on the card (not on its link), move in small steps onto the target, let go."""
    grip = card.locator(".card-customer").bounding_box()
    place = target.bounding_box()
    assert grip and place
    x, y = grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 8, y + 8, steps=4)
    page.mouse.move(place["x"] + place["width"] / 2, place["y"] + place["height"] / 2, steps=25)
    page.mouse.up()


def card(page: Page, case: Case) -> Locator:
    return page.locator(f"article[data-case='{case.pk}']")


def test_a_lead_drags_a_new_card_onto_a_person_and_their_bell_counts_one(page: Page, live_server, staff_member) -> None:
    staff_member("lead", roles.TEAM_LEAD, ("credit", "service", "tech"))
    agent = staff_member("service", roles.SERVICE_AGENT, ("service",))
    case = open_case()

    sign_in(page, live_server.url, "lead")
    page.goto(live_server.url + "/cases/board/?department=service")
    expect(page.get_by_test_id("count-service-new")).to_have_text("1")
    person = page.get_by_test_id("person-service")
    expect(person).to_contain_text("Service Tester")
    expect(person.locator(".count")).to_have_text("0")
    drag(page, card(page, case), person)

    expect(page.get_by_role("status")).to_contain_text(f"Case #{case.pk} is now assigned, with Service Tester.")
    expect(page.locator("#cell-service-assigned").locator(f"article[data-case='{case.pk}']")).to_be_visible()
    expect(page.get_by_test_id("count-service-new")).to_have_text("0")
    expect(person.locator(".count")).to_have_text("1")
    assert Case.objects.get(pk=case.pk).assignee_id == agent.pk
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_server.url, "service")
    expect(page.get_by_test_id("bell-count")).to_have_text("1 unread")


def test_an_agent_moves_a_card_with_the_keyboard(page: Page, live_server, staff_member) -> None:
    lead = staff_member("lead", roles.TEAM_LEAD, ("service",))
    agent = staff_member("service", roles.SERVICE_AGENT, ("service",))
    case = open_case()
    cases_assign(case_ids=[case.pk], assignee=agent, by=lead)

    sign_in(page, live_server.url, "service")
    page.goto(live_server.url + "/cases/board/")
    menu = card(page, case).locator("summary")
    menu.focus()
    expect(menu).to_be_focused()
    page.keyboard.press("Enter")
    start = card(page, case).get_by_role("button", name="In progress")
    start.focus()
    expect(start).to_be_focused()
    page.keyboard.press("Enter")

    expect(page.get_by_role("status")).to_contain_text(f"Case #{case.pk} is now in progress.")
    expect(page.locator("#cell-service-in_progress").locator(f"article[data-case='{case.pk}']")).to_be_visible()
    expect(page.get_by_test_id("count-service-assigned")).to_contain_text("0")
    assert Case.objects.get(pk=case.pk).status == Status.IN_PROGRESS
    # The redrawn card keeps the focus on its menu, and moves again from its new column.
    expect(card(page, case).locator("summary")).to_be_focused()
    page.keyboard.press("Enter")
    card(page, case).get_by_role("button", name="Waiting for customer").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#cell-service-waiting_customer").locator(f"article[data-case='{case.pk}']")).to_be_visible()


def test_a_card_someone_else_moved_snaps_back_with_who(page: Page, live_server, staff_member) -> None:
    lead = staff_member("lead", roles.TEAM_LEAD, ("service",))
    agent = staff_member("service", roles.SERVICE_AGENT, ("service",))
    case = open_case()
    cases_assign(case_ids=[case.pk], assignee=agent, by=lead)

    sign_in(page, live_server.url, "service")
    page.goto(live_server.url + "/cases/board/")
    expect(page.locator("#cell-service-assigned").locator(f"article[data-case='{case.pk}']")).to_be_visible()
    # Meanwhile the lead starts it.
    case.refresh_from_db()
    case_transition(case_id=case.pk, name="start", user=lead, expected_version=case.version)

    drag(page, card(page, case), page.locator("#cell-service-resolved .cards"))
    expect(page.get_by_role("status")).to_contain_text("Lead Tester changed this case at")
    expect(page.get_by_role("status")).to_contain_text("Nothing was saved")
    # Back on the board where it really is: in progress, not where it was dropped.
    expect(page.locator("#cell-service-in_progress").locator(f"article[data-case='{case.pk}']")).to_be_visible()
    expect(page.locator("#cell-service-resolved").locator(f"article[data-case='{case.pk}']")).to_have_count(0)
    assert Case.objects.get(pk=case.pk).status == Status.IN_PROGRESS


def test_a_move_past_the_wip_limit_is_refused_for_the_agent(page: Page, live_server, staff_member) -> None:
    lead = staff_member("lead", roles.TEAM_LEAD, ("service",))
    agent = staff_member("service", roles.SERVICE_AGENT, ("service",))
    WipLimit.objects.update_or_create(department_id="service", status="in_progress", defaults={"limit": 1})
    busy, case = open_case(), open_case()
    cases_assign(case_ids=[busy.pk, case.pk], assignee=agent, by=lead)
    busy.refresh_from_db()
    case_transition(case_id=busy.pk, name="start", user=agent, expected_version=busy.version)

    sign_in(page, live_server.url, "service")
    page.goto(live_server.url + "/cases/board/")
    expect(page.get_by_test_id("count-service-in_progress")).to_have_text("1 / 1")
    drag(page, card(page, case), page.locator("#cell-service-in_progress .cards"))
    expect(page.get_by_role("status")).to_contain_text(
        "“In progress” of Customer service would hold 2 cases, past its WIP limit of 1"
    )
    expect(page.locator("#cell-service-assigned").locator(f"article[data-case='{case.pk}']")).to_be_visible()
    expect(page.get_by_test_id("count-service-in_progress")).to_have_text("1 / 1")
    expect(page.locator("#wip-reason")).to_have_count(0)  # no override for an agent
    assert Case.objects.get(pk=case.pk).status == Status.ASSIGNED
    page.get_by_role("button", name="Sign out").click()

    # The lead may go over, saying why; the reason is on the timeline.
    sign_in(page, live_server.url, "lead")
    page.goto(live_server.url + "/cases/board/")
    drag(page, card(page, case), page.locator("#cell-service-in_progress .cards"))
    expect(page.get_by_role("alertdialog")).to_contain_text("Say why it should go over")
    page.get_by_label("Why it should go over the WIP limit").fill("The branch manager is waiting with her")
    page.get_by_role("button", name="Move anyway").click()
    expect(page.get_by_role("status")).to_contain_text(f"Case #{case.pk} is now in progress.")
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    expect(page.get_by_test_id("count-service-in_progress")).to_contain_text("2 / 1")
    assert "The branch manager is waiting with her" in case.events.latest("id").text
