"""Moving cards on the board: each move is the case's own status move or an assignment, checked
like any other (version, role, WIP limit), with its timeline line and the two cells redrawn."""

from __future__ import annotations

import re
from typing import cast

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts.models import EmptyCause, State
from accounts.services import Actor
from casework.board import BOARD_MOVES, board_targets
from casework.models import Case, CaseEvent, Status, WipLimit
from casework.services import CaseActionError, WipLimitReached, case_open_for_account, case_transition, cases_assign
from portal import roles
from portal.models import Notice
from tests.casework.test_cases import ON_POSTGRESQL, run_together
from tests.factories import make_account, make_staff

pytestmark = pytest.mark.django_db
JOB = Actor.system("test", "job")
HTMX = {"HX-Request": "true"}


def open_case(cause: str = EmptyCause.CUSTOMER_INCOMPLETE) -> Case:
    return case_open_for_account(account=make_account(State.EMPTY, cause), cause=cause, actor=JOB)


def assigned_case(to: User, by: User) -> Case:
    case = open_case()
    cases_assign(case_ids=[case.pk], assignee=to, by=by)
    case.refresh_from_db()
    return case


def move(client: Client, case: Case, *, htmx: bool = False, query: str = "", **data: object):
    url = reverse("casework:board_move", args=[case.pk]) + (f"?{query}" if query else "")
    return client.post(url, {"version": case.version, "from": case.status, **data}, headers=HTMX if htmx else None)


def cell_html(html: str, department: str, status: str) -> str:
    """The markup of one redrawn cell of an htmx answer (it carries hx-swap-oob)."""
    match = re.search(rf'<div class="column[^"]*" id="cell-{department}-{status}"[^>]*>', html)
    assert match, f"cell {department}/{status} is not in the answer"
    end = html.find('<div class="column', match.end())
    return html[match.start() : end if end != -1 else len(html)]


def test_the_board_knows_which_column_each_move_reaches() -> None:
    assert BOARD_MOVES[(Status.ASSIGNED, Status.IN_PROGRESS)] == "start"
    assert BOARD_MOVES[(Status.IN_PROGRESS, Status.WAITING_CUSTOMER)] == "wait_for_customer"
    assert BOARD_MOVES[(Status.RESOLVED, Status.IN_PROGRESS)] == "reopen"
    assert BOARD_MOVES[(Status.NEW, Status.ASSIGNED)] == "take"
    assert board_targets(Status.ASSIGNED) == [Status.IN_PROGRESS, Status.RESOLVED]
    assert board_targets(Status.WAITING_CUSTOMER) == [Status.IN_PROGRESS, Status.RESOLVED]
    assert (Status.ASSIGNED, Status.WAITING_CUSTOMER) not in BOARD_MOVES


def test_an_agent_moves_a_card_without_javascript(client: Client, service, lead) -> None:
    case = assigned_case(service, lead)
    client.force_login(service)
    response = move(client, case, to=Status.IN_PROGRESS, query="department=service")
    assert response.status_code == 302 and response["Location"] == reverse("casework:board") + "?department=service"
    case.refresh_from_db()
    assert case.status == Status.IN_PROGRESS
    last = case.events.latest("id")
    assert (last.kind, last.from_status, last.to_status, last.actor_name) == (
        "status",
        "assigned",
        "in_progress",
        "Service Tester",
    )
    page = client.get(response["Location"]).content.decode()
    assert f"Case #{case.pk} is now in progress." in page


def test_a_card_moved_with_htmx_redraws_the_two_cells(client: Client, service, lead) -> None:
    case = assigned_case(service, lead)
    client.force_login(service)
    html = move(client, case, htmx=True, to=Status.IN_PROGRESS).content.decode()
    assert f'data-case="{case.pk}"' in cell_html(html, "service", "in_progress")
    assert f'data-case="{case.pk}"' not in cell_html(html, "service", "assigned")
    assert 'id="cell-service-new"' not in html  # only the cells the card left and reached
    assert 'data-testid="count-service-in_progress">1' in html
    assert f"Case #{case.pk} is now in progress." in html and 'id="messages" hx-swap-oob="true"' in html


def test_the_menu_offers_only_the_moves_the_case_can_make(client: Client, service, lead, auditor) -> None:
    case = assigned_case(service, lead)
    client.force_login(service)
    html = client.get(reverse("casework:board")).content.decode()
    card = html[html.index(f'data-case="{case.pk}"') : html.index("</article>", html.index(f'data-case="{case.pk}"'))]
    assert re.findall(r'name="to" value="(\w+)"', card) == ["in_progress", "resolved"]
    assert f'value="{case.version}"' in card and "movable" in html
    client.force_login(auditor)  # reads every lane, moves nothing
    html = client.get(reverse("casework:board")).content.decode()
    assert 'class="card-menu"' not in html and "movable" not in html


def test_a_move_the_case_cannot_make_is_refused_with_what_to_do(client: Client, service, lead) -> None:
    case = assigned_case(service, lead)
    client.force_login(service)
    html = move(client, case, htmx=True, to=Status.WAITING_CUSTOMER).content.decode()
    assert "cannot go from “Assigned” to “Waiting for customer” on the board" in html
    assert f'data-case="{case.pk}"' in cell_html(html, "service", "assigned")  # back where it was
    case.refresh_from_db()
    assert case.status == Status.ASSIGNED


def test_a_stale_card_snaps_back_naming_who_moved_it(client: Client, service, lead) -> None:
    case = assigned_case(service, lead)  # the agent's board shows it in "assigned"
    case_transition(case_id=case.pk, name="start", user=lead, expected_version=case.version)
    client.force_login(service)
    html = move(client, case, htmx=True, to=Status.RESOLVED).content.decode()
    assert "Lead Tester changed this case at" in html and "Nothing was saved" in html
    assert f'data-case="{case.pk}"' in cell_html(html, "service", "in_progress")  # where it really is
    assert f'data-case="{case.pk}"' not in cell_html(html, "service", "resolved")
    assert f'data-case="{case.pk}"' not in cell_html(html, "service", "assigned")
    assert Case.objects.get(pk=case.pk).status == Status.IN_PROGRESS


def test_an_agent_cannot_move_past_the_wip_limit(client: Client, service, lead) -> None:
    WipLimit.objects.update_or_create(department_id="service", status="in_progress", defaults={"limit": 1})
    busy = assigned_case(service, lead)
    case_transition(case_id=busy.pk, name="start", user=service, expected_version=busy.version)
    case = assigned_case(service, lead)
    client.force_login(service)
    html = move(client, case, htmx=True, to=Status.IN_PROGRESS).content.decode()
    assert (
        "“In progress” of Customer service would hold 2 cases, past its WIP limit of 1: "
        "finish a case there first, or ask your team lead."
    ) in html
    assert 'name="wip_reason"' not in html  # an agent is not offered the override
    assert Case.objects.get(pk=case.pk).status == Status.ASSIGNED
    # The case page's move is the same service: refused there too.
    with pytest.raises(CaseActionError, match="past its WIP limit"):
        case_transition(case_id=case.pk, name="start", user=service, expected_version=case.version, wip_override="x")


def test_a_lead_goes_over_the_wip_limit_only_with_a_reason(client: Client, service, lead) -> None:
    WipLimit.objects.update_or_create(department_id="service", status="in_progress", defaults={"limit": 1})
    busy = assigned_case(service, lead)
    case_transition(case_id=busy.pk, name="start", user=service, expected_version=busy.version)
    case = assigned_case(service, lead)
    client.force_login(lead)
    html = move(client, case, htmx=True, to=Status.IN_PROGRESS).content.decode()
    assert "Say why it should go over, or leave the case where it is." in html
    assert 'name="wip_reason"' in html and 'role="alertdialog"' in html
    assert Case.objects.get(pk=case.pk).status == Status.ASSIGNED
    # Without JavaScript: a page asks the same question, with everything that was posted.
    response = move(client, case, to=Status.IN_PROGRESS)
    assert response.status_code == 409
    page = response.content.decode()
    assert 'name="to" value="in_progress"' in page and f'name="version" value="{case.version}"' in page
    html = move(client, case, htmx=True, to=Status.IN_PROGRESS, wip_reason="VIP customer, the branch asked").content
    assert Case.objects.get(pk=case.pk).status == Status.IN_PROGRESS
    last = CaseEvent.objects.filter(case=case).latest("id")
    assert "Over the WIP limit of “In progress” (2, limit 1): VIP customer, the branch asked" in last.text
    assert 'id="board-dialog" hx-swap-oob="true"></div>' in html.decode()  # the question is gone


def test_a_lead_drops_a_card_on_a_person_to_assign_it(client: Client, service, lead) -> None:
    case = open_case()
    client.force_login(lead)
    board = client.get(reverse("casework:board")).content.decode()
    assert f'data-assignee="{service.pk}"' in board and 'data-testid="person-service"' in board
    html = move(client, case, htmx=True, assignee=service.pk).content.decode()
    case.refresh_from_db()
    assert (case.status, case.assignee_id) == (Status.ASSIGNED, service.pk)
    assert f'data-case="{case.pk}"' in cell_html(html, "service", "assigned")
    assert re.search(r'data-testid="person-service">.*?<span class="count"[^>]*>1</span>', html, re.S)
    assert Notice.objects.filter(recipient=service).count() == 1


def test_only_a_lead_assigns_by_dropping_on_a_person(client: Client, service, lead) -> None:
    other = make_staff("service2", roles.SERVICE_AGENT, ["service"])
    case = assigned_case(service, lead)
    client.force_login(service)
    assert move(client, case, htmx=True, assignee=other.pk).status_code == 403
    assert Case.objects.get(pk=case.pk).assignee_id == service.pk


def test_an_agent_of_another_department_cannot_move_the_card(client: Client, tech, service, lead) -> None:
    case = assigned_case(service, lead)
    client.force_login(tech)
    assert move(client, case, to=Status.IN_PROGRESS).status_code in (403, 404)
    assert Case.objects.get(pk=case.pk).status == Status.ASSIGNED


def test_a_move_without_a_place_is_refused_clearly(client: Client, service, lead) -> None:
    case = assigned_case(service, lead)
    client.force_login(service)
    html = move(client, case, htmx=True).content.decode()
    assert "Choose where the case goes: a column, or a person." in html


def test_the_move_answer_pins_its_queries_whatever_the_cards(
    client: Client, service, lead, django_assert_num_queries
) -> None:
    cases = [assigned_case(service, lead) for _ in range(3)]
    client.force_login(service)
    move(client, cases[0], htmx=True, to=Status.IN_PROGRESS)
    # session, user, permissions (2), departments, the case; the move (savepoint, lock, WIP limit
    # and count, update, timeline line, release); the filter's departments, the lane's counts,
    # limits, first cards' ids and cards, and where the case is now
    with django_assert_num_queries(19):
        move(client, cases[1], htmx=True, to=Status.IN_PROGRESS)
    for _ in range(20):
        assigned_case(service, lead)
    with django_assert_num_queries(19):
        move(client, cases[2], htmx=True, to=Status.IN_PROGRESS)


@ON_POSTGRESQL
@pytest.mark.django_db(transaction=True)
def test_two_agents_racing_for_the_last_place_in_a_column_one_wins() -> None:
    roles.sync_roles()
    lead = cast(User, make_staff("lead", roles.TEAM_LEAD, ["service"]))
    agents = [cast(User, make_staff(f"agent{i}", roles.SERVICE_AGENT, ["service"])) for i in range(2)]
    WipLimit.objects.update_or_create(department_id="service", status="in_progress", defaults={"limit": 1})
    cases = [assigned_case(agent, lead) for agent in agents]
    results = run_together(
        *(
            lambda case=case, agent=agent: case_transition(
                case_id=case.pk, name="start", user=agent, expected_version=case.version
            )
            for case, agent in zip(cases, agents, strict=True)
        )
    )
    refused = [result for result in results if isinstance(result, Exception)]
    assert len(refused) == 1 and "past its WIP limit of 1" in str(refused[0])
    assert Case.objects.filter(status=Status.IN_PROGRESS).count() == 1


def test_a_lead_assigning_in_bulk_past_the_limit_is_asked_why(client: Client, service, lead) -> None:
    WipLimit.objects.update_or_create(department_id="service", status="assigned", defaults={"limit": 1})
    cases = [open_case() for _ in range(2)]
    with pytest.raises(WipLimitReached):
        cases_assign(case_ids=[case.pk for case in cases], assignee=service, by=lead)
    client.force_login(lead)
    data = {"cases": [case.pk for case in cases], "assignee": service.pk}
    response = client.post(reverse("casework:assign"), data)
    assert response.status_code == 409 and "would hold 2 cases, past its WIP limit of 1" in response.content.decode()
    assert not Case.objects.filter(assignee=service).exists()
    response = client.post(reverse("casework:assign"), {**data, "wip_reason": "Campaign week"})
    assert response.status_code == 302 and Case.objects.filter(assignee=service).count() == 2


def test_a_reason_that_is_not_text_is_refused_and_nothing_moves(client: Client, service, lead) -> None:
    WipLimit.objects.update_or_create(department_id="service", status="assigned", defaults={"limit": 0})
    case = open_case()
    client.force_login(lead)
    response = move(client, case, assignee=service.pk, wip_reason="x" * 600)
    assert response.status_code == 400
    assert "500" in response.content.decode()  # the page says how long it may be
    response = move(client, case, assignee=service.pk, wip_reason="call back\x00 tomorrow")
    assert response.status_code == 400 and "control character (U+0000 NUL)" in response.content.decode()
    assert Case.objects.get(pk=case.pk).status == Status.NEW


def test_an_agents_board_with_its_move_menus_pins_its_queries(
    client: Client, service, lead, django_assert_num_queries
) -> None:
    for _ in range(3):
        assigned_case(service, lead)
    client.force_login(service)
    client.get(reverse("casework:board"))
    # session, user, permissions (2), roles and departments (header), the agent's departments,
    # board departments, counts, WIP limits, the first cards' ids and the cards, the filter's
    # department and assignee choices: no people (not a lead), nothing per card or menu
    with django_assert_num_queries(14):
        html = client.get(reverse("casework:board")).content.decode()
    assert html.count('class="card-menu"') == 3
    for _ in range(30):
        assigned_case(service, lead)
    with django_assert_num_queries(14):
        html = client.get(reverse("casework:board")).content.decode()
    assert html.count('class="card-menu"') == 8  # the first cards of the column


def test_wip_limits_count_real_cases_only_as_the_board_does(service, lead) -> None:
    WipLimit.objects.update_or_create(department_id="service", status="in_progress", defaults={"limit": 1})
    drill = case_open_for_account(
        account=make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE, is_drill=True),
        cause=EmptyCause.CUSTOMER_INCOMPLETE,
        actor=JOB,
    )
    cases_assign(case_ids=[drill.pk], assignee=service, by=lead)
    drill.refresh_from_db()
    case_transition(case_id=drill.pk, name="start", user=service, expected_version=drill.version)
    real = assigned_case(service, lead)  # the drill's case does not fill the real column
    moved = case_transition(case_id=real.pk, name="start", user=service, expected_version=real.version)
    assert moved.status == Status.IN_PROGRESS and "WIP" not in real.events.latest("id").text
