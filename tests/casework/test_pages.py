"""The board, the lists and the case page: who sees and does what, and in how many queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format

from accounts.models import CoreCommand, EmptyCause, State
from accounts.services import Actor
from casework.demo import cases_open_for_empty_accounts
from casework.models import Case, CaseEvent, Status
from casework.services import case_open_for_account, cases_assign
from portal import roles
from tests.factories import bulk_empty_accounts, make_account, make_staff

pytestmark = pytest.mark.django_db
JOB = Actor.system("test", "job")


def open_case(cause: str = EmptyCause.CUSTOMER_INCOMPLETE, **fields: object) -> Case:
    account = make_account(State.EMPTY, cause, **fields)  # type: ignore[arg-type]
    return case_open_for_account(account=account, cause=cause, actor=JOB)


def open_cases(count: int, cause: str = EmptyCause.CUSTOMER_INCOMPLETE) -> None:
    bulk_empty_accounts(count, cause)
    cases_open_for_empty_accounts(actor=JOB)


def test_the_board_pins_its_query_count_for_30_and_3000_cases(client: Client, lead, django_assert_num_queries) -> None:
    for cause in EmptyCause.values:
        open_cases(10, cause)
    client.force_login(lead)
    client.get(reverse("casework:board"))
    # session, user, menu permissions (2), roles and departments (header), the lead's departments,
    # board departments, counts, WIP limits, the first cards' ids and the cards, assignable staff,
    # and the filter's department and assignee choices
    with django_assert_num_queries(15) as few:
        response = client.get(reverse("casework:board"))
    assert sum(cell.count for lane in response.context["lanes"] for cell in lane.cells) == 30
    for cause in EmptyCause.values:
        open_cases(990, cause)
    with django_assert_num_queries(len(few.captured_queries)):
        response = client.get(reverse("casework:board"))
    lanes = {lane.department.code: lane for lane in response.context["lanes"]}
    new_column = lanes["service"].cells[0]
    assert (new_column.count, len(new_column.cards), new_column.more) == (1000, 8, 992)
    assert 'data-testid="count-service-new">1000' in response.content.decode()
    with django_assert_num_queries(15):  # one department: its lane only, the same queries
        response = client.get(reverse("casework:board"), {"department": "service"})
    assert [lane.department.code for lane in response.context["lanes"]] == ["service"]


def test_a_board_card_shows_what_the_team_works_from(client: Client, lead, service) -> None:
    late = open_case()
    Case.objects.filter(pk=late.pk).update(resolve_due_at=timezone.now() - timedelta(hours=3))
    cases_assign(case_ids=[late.pk], assignee=service, by=lead)
    waiting = open_case(EmptyCause.SYSTEM_CONFIG)
    CoreCommand.objects.create(account=waiting.account, kind="activate", method="POST", path="/v1/cardtransitions",
                               actor_name="x", actor_channel="web")  # fmt: skip
    client.force_login(lead)
    html = client.get(reverse("casework:board")).content.decode()

    def card(case: Case) -> str:
        start = html.index(f'data-case="{case.pk}"')
        return html[html.rindex("<article", 0, start) : html.index("</article>", start)]

    late_card = card(late)
    assert 'class="case-card priority-' in late_card and " overdue" in late_card
    assert f'<a class="case-link" href="{late.get_absolute_url()}">{late.account.number}</a>' in late_card
    assert f"P{late.priority}" in late_card and late.account.customer.name in late_card
    assert late.get_cause_display() in late_card and "overdue 3" in late_card
    assert (service.get_full_name() or service.username) in late_card
    assert f'name="cases" value="{late.pk}" form="bulk-assign"' in late_card  # the lead may assign it
    waiting_card = card(waiting)
    assert "<em>unassigned</em>" in waiting_card and " overdue" not in waiting_card
    assert 'data-testid="core-waiting-badge"' in waiting_card and "core banking: activate" in waiting_card
    client.force_login(service)
    agents_board = client.get(reverse("casework:board")).content.decode()
    assert f'data-case="{late.pk}"' in agents_board and 'name="cases"' not in agents_board  # agents cannot assign


def test_the_board_flags_a_column_over_its_wip_limit(client: Client, lead, service) -> None:
    from casework.models import WipLimit

    WipLimit.objects.filter(department_id="service", status="assigned").update(limit=1)
    cases = [open_case() for _ in range(2)]
    cases_assign(
        case_ids=[case.pk for case in cases], assignee=service, by=lead, wip_override="Both customers asked for her."
    )
    client.force_login(lead)
    lanes = {lane.department.code: lane for lane in client.get(reverse("casework:board")).context["lanes"]}
    assigned = lanes["service"].cells[1]
    assert (assigned.status, assigned.count, assigned.limit, assigned.over_limit) == ("assigned", 2, 1, True)


def test_the_board_filters(client: Client, lead) -> None:
    open_case(EmptyCause.CUSTOMER_INCOMPLETE)
    open_case(EmptyCause.SYSTEM_CONFIG)
    drill = open_case(EmptyCause.SYSTEM_CONFIG, is_drill=True)
    client.force_login(lead)

    def counts(query: str) -> dict[str, int]:
        response = client.get(reverse("casework:board") + query)
        return {lane.department.code: lane.open_count for lane in response.context["lanes"]}

    assert counts("") == {"credit": 0, "service": 1, "tech": 1}
    assert counts("?department=service") == {"service": 1}
    assert counts("?drill=only") == {"credit": 0, "service": 0, "tech": 1}
    assert counts("?cause=system_config&drill=all") == {"credit": 0, "service": 0, "tech": 2}
    assert counts("?overdue=on") == {"credit": 0, "service": 0, "tech": 0}
    late = open_case(EmptyCause.RISK_HOLD)
    Case.objects.filter(pk=late.pk).update(resolve_due_at=late.opened_at - timedelta(minutes=1))
    assert counts("?overdue=on") == {"credit": 1, "service": 0, "tech": 0}
    assert drill.is_drill


def test_a_service_agent_cannot_see_or_work_a_credit_case(client: Client, service) -> None:
    credit_case = open_case(EmptyCause.RISK_HOLD)
    client.force_login(service)
    assert client.get(credit_case.get_absolute_url()).status_code == 404
    response = client.post(reverse("casework:comment", args=[credit_case.pk]), {"text": "hello"})
    assert response.status_code == 404
    lanes = client.get(reverse("casework:board")).context["lanes"]
    assert [lane.department.code for lane in lanes] == ["service"]


def test_a_lead_cannot_assign_outside_the_cases_department(client: Client, lead, tech) -> None:
    case = open_case(EmptyCause.CUSTOMER_INCOMPLETE)
    client.force_login(lead)
    response = client.post(reverse("casework:assign"), {"cases": [case.pk], "assignee": tech.pk}, follow=True)
    assert "is not in Customer service, so case" in response.content.decode()
    case.refresh_from_db()
    assert case.assignee is None and case.status == Status.NEW


def test_an_agent_cannot_assign_others(client: Client, service) -> None:
    case = open_case()
    client.force_login(service)
    assert client.post(reverse("casework:assign"), {"cases": [case.pk], "assignee": service.pk}).status_code == 403


def test_an_agent_takes_an_unassigned_case_of_their_department(client: Client, service) -> None:
    case = open_case()
    client.force_login(service)
    client.post(reverse("casework:take", args=[case.pk]))
    case.refresh_from_db()
    assert (case.assignee, case.status) == (service, Status.ASSIGNED)
    assert case.events.filter(kind=CaseEvent.Kind.ASSIGNMENT, text="Service Tester took the case.").exists()


def test_the_same_assignment_twenty_times_is_applied_once(client: Client, lead, service) -> None:
    case = open_case()
    client.force_login(lead)
    post = {"cases": [case.pk], "assignee": service.pk, f"version_{case.pk}": case.version}
    first = client.post(reverse("casework:assign"), post, follow=True)
    assert "1 case assigned to Service Tester." in first.content.decode()
    for _repeat in range(19):
        again = client.post(reverse("casework:assign"), post, follow=True)
    assert "1 was already with Service Tester: nothing to do." in again.content.decode()
    case.refresh_from_db()
    assert case.version == 2  # one change, whoever else has the case open is not made stale
    assert case.events.filter(kind=CaseEvent.Kind.ASSIGNMENT).count() == 1


def test_an_assignment_from_a_stale_board_is_refused_naming_who_changed_the_case(client: Client, lead, service) -> None:
    case, other = open_case(), open_case(EmptyCause.SYSTEM_CONFIG)
    seen = {f"version_{case.pk}": case.version, f"version_{other.pk}": other.version}
    client.force_login(service)
    client.post(reverse("casework:take", args=[case.pk]), {"version": case.version})  # the agent takes it meanwhile
    client.force_login(lead)
    response = client.post(reverse("casework:assign"), {"cases": [case.pk], "assignee": lead.pk, **seen}, follow=True)
    assert "Service Tester changed this case at" in response.content.decode()
    case.refresh_from_db()
    assert case.assignee == service


def test_losing_a_take_race_says_who_took_the_case_and_when(client: Client, service) -> None:
    case = open_case()
    colleague = make_staff("service2", roles.SERVICE_AGENT, ["service"])
    client.force_login(colleague)  # type: ignore[arg-type]
    client.post(reverse("casework:take", args=[case.pk]), {"version": case.version})
    client.force_login(service)
    response = client.post(reverse("casework:take", args=[case.pk]), {"version": case.version}, follow=True)
    assert response.status_code == 200  # a message on the page, not "your role does not allow this"
    taken_at = timezone.localtime(case.events.get(kind=CaseEvent.Kind.ASSIGNMENT).created_at)
    expected = f"Case #{case.pk} was already taken by {colleague.get_full_name() or colleague.username} at "
    assert expected + date_format(taken_at, "TIME_FORMAT") in response.content.decode()
    case.refresh_from_db()
    assert case.assignee == colleague and case.events.filter(kind=CaseEvent.Kind.ASSIGNMENT).count() == 1
    again = client.post(reverse("casework:take", args=[case.pk]), {"version": case.version}, follow=True)
    assert "was already taken by" in again.content.decode()
    client.force_login(colleague)
    mine = client.post(reverse("casework:take", args=[case.pk]), {"version": case.version}, follow=True)
    assert "The case was already yours." in mine.content.decode()


def test_the_auditor_opens_everything_and_changes_nothing(client: Client, auditor, service) -> None:
    cases = [open_case(cause) for cause in EmptyCause.values]
    client.force_login(auditor)
    board = client.get(reverse("casework:board"))
    assert [lane.department.code for lane in board.context["lanes"]] == ["credit", "service", "tech"]
    assert 'id="bulk-assign"' not in board.content.decode()
    for case in cases:
        page = client.get(case.get_absolute_url())
        assert page.status_code == 200
        assert page.context["can_work"] is False and page.context["moves"] == []
        assert 'action="/cases/' not in page.content.decode()
        for url, data in [
            (reverse("casework:comment", args=[case.pk]), {"text": "x"}),
            (reverse("casework:take", args=[case.pk]), {}),
            (reverse("casework:move", args=[case.pk, "resolve"]), {"version": case.version}),
            (reverse("casework:handoff", args=[case.pk]), {"version": case.version, "department": "tech", "note": "x"}),
            (reverse("casework:assign"), {"cases": [case.pk], "assignee": service.pk}),
        ]:
            assert client.post(url, data).status_code == 403, url
    assert not CaseEvent.objects.exclude(kind="opened").exists()


def test_a_stale_move_from_the_page_shows_a_message(client: Client, service) -> None:
    case = open_case()
    cases_assign(case_ids=[case.pk], assignee=service, by=service)
    client.force_login(service)
    response = client.post(
        reverse("casework:move", args=[case.pk, "start"]), {"version": case.version}, follow=True
    )  # the page was opened before the assignment
    assert response.status_code == 200
    assert "changed this case at" in response.content.decode()
    case.refresh_from_db()
    assert case.status == Status.ASSIGNED


def test_a_move_already_made_is_a_clear_no_op_even_from_a_stale_page(client: Client, service) -> None:
    case = open_case()
    cases_assign(case_ids=[case.pk], assignee=service, by=service)
    case.refresh_from_db()
    client.force_login(service)
    seen = case.version
    client.post(reverse("casework:move", args=[case.pk, "start"]), {"version": seen})
    response = client.post(reverse("casework:move", args=[case.pk, "start"]), {"version": seen}, follow=True)
    assert f"Case #{case.pk} is already in progress; nothing changed." in response.content.decode()
    case.refresh_from_db()
    assert case.version == seen + 1 and case.events.filter(kind=CaseEvent.Kind.STATUS).count() == 1


def test_a_disallowed_move_from_the_page_shows_a_message(client: Client, service) -> None:
    case = open_case()
    client.force_login(service)
    response = client.post(reverse("casework:move", args=[case.pk, "close"]), {"version": case.version}, follow=True)
    assert "“Close” is not possible while the case is new." in response.content.decode()
    response = client.post(reverse("casework:move", args=[case.pk, "explode"]), {"version": case.version}, follow=True)
    assert "There is no status move called “explode”." in response.content.decode()


def test_a_handoff_moves_the_case_with_a_note(client: Client, service, lead) -> None:
    case = open_case()
    client.force_login(service)
    response = client.post(
        reverse("casework:handoff", args=[case.pk]),
        {"version": case.version, "department": "tech", "note": "customer says the app crashes"},
        follow=True,
    )
    assert "Case handed off to Tech." in response.content.decode()
    case.refresh_from_db()
    assert (case.department_id, case.status, case.assignee) == ("tech", Status.NEW, None)
    event = case.events.get(kind=CaseEvent.Kind.HANDOFF)
    assert event.text == "Handed off from Customer service to Tech: customer says the app crashes"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x" * 200_000, "Comment is 200,000 characters long; at most 5,000 are accepted: shorten it."),
        ("call back\x00 tomorrow", "Comment contains a control character (U+0000 NUL) at position 10: remove it"),
        ("   ", "Write something before sending the comment."),
    ],
)
def test_a_refused_comment_says_what_is_wrong_and_writes_nothing(
    client: Client, service, text: str, message: str
) -> None:
    case = open_case()
    client.force_login(service)
    response = client.post(reverse("casework:comment", args=[case.pk]), {"text": text}, follow=True)
    assert message in response.content.decode()
    assert not CaseEvent.objects.filter(case=case, kind=CaseEvent.Kind.COMMENT).exists()


def test_the_write_views_refuse_get(client: Client, service) -> None:
    case = open_case()
    client.force_login(service)
    for url in (
        reverse("casework:comment", args=[case.pk]),
        reverse("casework:take", args=[case.pk]),
        reverse("casework:move", args=[case.pk, "start"]),
        reverse("casework:assign"),
    ):
        assert client.get(url).status_code == 405, url


def test_the_case_page_and_lists_pin_their_query_counts(client: Client, service, django_assert_num_queries) -> None:
    case = open_case()
    cases_assign(case_ids=[case.pk], assignee=service, by=service)
    client.force_login(service)
    for url, queries in [
        (case.get_absolute_url(), 13),  # with the case's customer feedback
        (reverse("casework:mine"), 9),
        (reverse("casework:list"), 12),  # the filter's department and assignee choices; keys, then rows
    ]:
        client.get(url)
        with django_assert_num_queries(queries):
            assert client.get(url).status_code == 200
    more = []
    for _ in range(15):
        other = open_case()
        cases_assign(case_ids=[other.pk], assignee=service, by=service)
        more.append(other)
    with django_assert_num_queries(9):
        assert len(client.get(reverse("casework:mine")).context["table"].page.object_list) == 16
    for number in range(10):
        client.post(reverse("casework:comment", args=[case.pk]), {"text": f"call {number}"})
    client.get(case.get_absolute_url())  # shows (and clears) the "Comment added" messages
    with django_assert_num_queries(13):
        assert len(client.get(case.get_absolute_url()).context["timeline"]) == 12


def test_assigning_from_a_stale_board_explains_what_changed(client: Client, lead, service) -> None:
    case = open_case()
    from casework.services import case_transition

    # Between the lead loading the board and pressing Assign, the agent took and resolved it (the account is
    # still empty: the customer declined the line).
    cases_assign(case_ids=[case.pk], assignee=service, by=lead)
    case_transition(
        case_id=case.pk,
        name="resolve",
        user=service,
        expected_version=None,
        resolution="wont_fix",
        reason="customer_declined",
        note="Does not want the line any more.",
    )
    client.force_login(lead)
    response = client.post(reverse("casework:assign"), {"cases": [case.pk], "assignee": service.pk}, follow=True)
    assert f"Case #{case.pk} is already resolved." in response.content.decode()
    response = client.post(reverse("casework:assign"), {"cases": [case.pk + 999], "assignee": service.pk}, follow=True)
    assert "Some of the selected cases do not exist any more; reload the board." in response.content.decode()


def test_the_team_view_shows_each_persons_load_and_pace(
    client: Client, lead, service, django_assert_num_queries
) -> None:
    from django.utils import timezone

    busy = [open_case() for _ in range(3)]
    cases_assign(case_ids=[case.pk for case in busy], assignee=service, by=lead)
    Case.objects.filter(pk=busy[0].pk).update(resolve_due_at=timezone.now() - timedelta(hours=1))
    Case.objects.filter(pk=busy[1].pk).update(
        status="resolved", resolved_at=timezone.now(), opened_at=timezone.now() - timedelta(hours=6)
    )
    drill = open_case(is_drill=True)
    cases_assign(case_ids=[drill.pk], assignee=service, by=lead)
    client.force_login(lead)
    client.get(reverse("casework:team"))
    with django_assert_num_queries(10):
        response = client.get(reverse("casework:team"))
    more = [open_case() for _ in range(10)]
    cases_assign(case_ids=[case.pk for case in more], assignee=lead, by=lead)
    with django_assert_num_queries(10):
        client.get(reverse("casework:team"))
    members = {member.user.username: member for member in response.context["members"]}
    agent = members["service"]
    assert (agent.open, agent.overdue, agent.resolved_this_week, agent.median_hours_to_resolve) == (2, 1, 1, 6.0)
    after = {m.user.username: m for m in client.get(reverse("casework:team")).context["members"]}
    assert after["lead"].open == 10
    client.force_login(service)
    assert client.get(reverse("casework:team")).status_code == 403


def test_the_case_list_exports_its_filter(client: Client, lead) -> None:
    import csv as csv_module
    import io as io_module

    import openpyxl

    service_case = open_case(EmptyCause.CUSTOMER_INCOMPLETE)
    open_case(EmptyCause.SYSTEM_CONFIG)
    client.force_login(lead)
    response = client.get(reverse("casework:list") + "?department=service&export=csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]
    rows = list(csv_module.DictReader(io_module.StringIO(body)))
    assert [(int(r["Case"]), r["Department"], r["Status"]) for r in rows] == [
        (service_case.pk, "Customer service", "New")
    ]
    xlsx = client.get(reverse("casework:list") + "?department=service&export=xlsx")
    sheet = openpyxl.load_workbook(io_module.BytesIO(xlsx.content)).active
    assert [row[0] for row in sheet.iter_rows(values_only=True)] == ["Case", service_case.pk]


def test_the_case_page_shows_a_step_ticked_by_nobody_in_particular(client: Client, lead) -> None:
    case = open_case()
    item = case.checklist.first()
    assert item is not None
    # Loaded history (e.g. the bulk demo data) may record when a step was done, not by whom.
    type(item).objects.filter(pk=item.pk).update(done_at=timezone.now(), done_by=None)
    client.force_login(lead)
    response = client.get(case.get_absolute_url())
    assert response.status_code == 200 and "✓" in response.content.decode()


def test_a_move_posted_without_its_version_asks_for_a_reload(client: Client, service) -> None:
    case = open_case()
    cases_assign(case_ids=[case.pk], assignee=service, by=service)
    client.force_login(service)
    response = client.post(reverse("casework:move", args=[case.pk, "start"]), {}, follow=True)
    assert "The form was incomplete; reload the page and try again." in response.content.decode()
    case.refresh_from_db()
    assert case.status == Status.ASSIGNED
