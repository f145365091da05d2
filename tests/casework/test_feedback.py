"""Customers' complaints and feedback: each on the account's case, answered, and counted."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Channel, EmptyCause, State
from accounts.services import Actor
from casework.feedback import feedback_record
from casework.models import Case, CaseCause, CaseEvent, CustomerFeedback, Priority
from casework.services import case_contact_record, case_open_for_account
from portal.pages.dashboard import dashboard_figures
from portal.pages.reports import Week, weekly_report
from tests.factories import bulk_empty_accounts, make_account

pytestmark = pytest.mark.django_db
JOB = Actor.system("activation-monitor", Channel.JOB)
VALUES = {"channel": "phone", "category": "cannot_set_password", "severity": "medium", "text": "客户无法设置密码"}


def record(user, account, **changes):
    return feedback_record(user=user, account_id=account.pk, **{**VALUES, **changes})


def test_it_opens_the_case_of_the_accounts_empty_cause_with_a_timeline_line(service) -> None:
    account = make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    feedback = record(service, account, category="other")
    case = feedback.case
    assert (case.cause, case.department_id, case.is_open) == (EmptyCause.RISK_HOLD, "credit", True)
    opened = case.events.get()
    assert opened.kind == CaseEvent.Kind.OPENED and "客户无法设置密码" in opened.text
    assert (feedback.recorded_by, feedback.first_response_at, feedback.is_drill) == (service, None, False)


def test_on_an_account_without_a_problem_the_category_chooses_the_department(service) -> None:
    account = make_account(State.ACTIVE)
    assert record(service, account, category="card_not_usable").case.department_id == "tech"
    complaint = record(service, make_account(State.ACTIVE), category="cannot_set_password").case
    assert (complaint.cause, complaint.department_id) == (CaseCause.COMPLAINT, "service")


def test_it_joins_the_open_case_without_opening_another(service) -> None:
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    case = case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=JOB)
    version = case.version
    assert record(service, account).case == case
    assert record(service, account, category="credit_frozen").case == case
    assert Case.objects.filter(account=account).count() == 1
    assert [event.kind for event in case.events.order_by("id")] == ["opened", "feedback", "feedback"]
    case.refresh_from_db()
    assert case.version == version  # a medium complaint changes nothing the case page shows as stale


def test_high_severity_raises_the_priority_with_a_timeline_line(service) -> None:
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    case = case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=JOB)
    assert case.priority == Priority.P3
    record(service, account, severity="high")
    case.refresh_from_db()
    assert (case.priority, case.version) == (Priority.P2, 2)
    assert "P2" in case.events.latest("id").text
    record(service, account, severity="high")  # already P2: unchanged
    case.refresh_from_db()
    assert (case.priority, case.version) == (Priority.P2, 2)


def test_the_first_contact_after_it_is_its_first_response(service) -> None:
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    with time_machine.travel("2026-12-07 09:00 +08:00", tick=False):
        feedback = record(service, account)
    with time_machine.travel("2026-12-07 11:30 +08:00", tick=False):
        case_contact_record(case_id=feedback.case_id, user=service, channel="phone", outcome="回电,已指导设置密码")
    with time_machine.travel("2026-12-07 15:00 +08:00", tick=False):
        case_contact_record(case_id=feedback.case_id, user=service, channel="sms", outcome="again")
    feedback.refresh_from_db()
    assert feedback.response_time == timedelta(hours=2, minutes=30)


def test_tech_engineers_credit_officers_and_auditors_cannot_record_it(tech, credit, auditor, lead) -> None:
    account = make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG)
    for user in (tech, credit, auditor):
        with pytest.raises(PermissionDenied):
            record(user, account)
    assert record(lead, account).case.department_id == "tech"


def test_the_pages_refuse_tech_and_auditors(client: Client, tech, auditor) -> None:
    account = make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG)
    case = case_open_for_account(account=account, cause=EmptyCause.SYSTEM_CONFIG, actor=JOB)
    for user in (tech, auditor):
        client.force_login(user)
        assert client.post(reverse("casework:feedback_case", args=[case.pk]), VALUES).status_code == 403
        assert client.post(reverse("casework:feedback_account", args=[account.number]), VALUES).status_code == 403
    assert not CustomerFeedback.objects.exists()


def test_it_records_from_the_account_page_and_lists_on_the_case_page(client: Client, service) -> None:
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    client.force_login(service)
    page = client.get(account.get_absolute_url())
    assert 'data-testid="feedback-form"' in page.content.decode()
    response = client.post(
        reverse("casework:feedback_account", args=[account.number]), {**VALUES, "next": account.get_absolute_url()}
    )
    assert response.status_code == 302 and response["Location"] == account.get_absolute_url()
    feedback = CustomerFeedback.objects.get()
    body = client.get(feedback.case.get_absolute_url()).content.decode()
    assert 'data-testid="case-feedback"' in body and "客户无法设置密码" in body


def test_it_records_from_the_case_page(client: Client, service) -> None:
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    case = case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=JOB)
    client.force_login(service)
    assert 'data-testid="feedback-form"' in client.get(case.get_absolute_url()).content.decode()
    response = client.post(reverse("casework:feedback_case", args=[case.pk]), VALUES)
    assert response.status_code == 302
    assert CustomerFeedback.objects.get().case == case


@pytest.mark.parametrize(
    "changes", [{"text": "  "}, {"channel": "pigeon"}, {"category": ""}, {"severity": "urgent"}, {"text": "x" * 2001}]
)
def test_bad_input_is_answered_400_with_the_page_and_nothing_written(client: Client, service, changes) -> None:
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    case = case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=JOB)
    client.force_login(service)
    events = case.events.count()
    response = client.post(reverse("casework:feedback_case", args=[case.pk]), {**VALUES, **changes})
    assert response.status_code == 400
    assert 'data-testid="timeline"' in response.content.decode()  # the case page again, with the error
    assert not CustomerFeedback.objects.exists() and case.events.count() == events


def test_the_write_views_answer_get_with_405_and_anonymous_with_the_login(client: Client, service) -> None:
    account = make_account(State.ACTIVE)
    url = reverse("casework:feedback_account", args=[account.number])
    assert client.post(url, VALUES).status_code == 302 and "login" in client.post(url, VALUES)["Location"]
    client.force_login(service)
    assert client.get(url).status_code == 405
    assert not CustomerFeedback.objects.exists()


def _real_and_drill_feedback(service) -> None:
    real = bulk_empty_accounts(4, EmptyCause.CUSTOMER_INCOMPLETE)
    drill = bulk_empty_accounts(6, EmptyCause.CUSTOMER_INCOMPLETE, is_drill=True)
    now = timezone.now()
    for index, account in enumerate(real[:2]):
        feedback = record(service, account)
        CustomerFeedback.objects.filter(pk=feedback.pk).update(
            recorded_at=now - timedelta(hours=5), first_response_at=now - timedelta(hours=5 - 2 * (index + 1))
        )
    record(service, real[2])  # not answered yet
    for account in drill:
        feedback = record(service, account)
        CustomerFeedback.objects.filter(pk=feedback.pk).update(first_response_at=now + timedelta(hours=50))


def test_the_dashboard_counts_per_1000_empty_accounts_without_drill_data(service) -> None:
    _real_and_drill_feedback(service)
    figures = dashboard_figures()["feedback"]
    assert (figures.count, figures.empty_accounts, figures.per_thousand) == (3, 4, 750.0)
    assert (figures.responded, figures.awaiting, figures.median_response_hours) == (2, 1, 3.0)
    assert figures.url == reverse("casework:feedback") + "?days=30"


def test_the_weekly_report_counts_its_week_without_drill_data(service) -> None:
    _real_and_drill_feedback(service)
    week = Week.parse(None, timezone.localdate())
    figures = weekly_report(week)["feedback"]
    assert (figures.count, figures.empty_accounts, figures.median_response_hours) == (3, 4, 3.0)
    assert weekly_report(week.shifted(-1))["feedback"].count == 0


def test_the_list_shows_what_the_figure_counted(client: Client, lead, service) -> None:
    _real_and_drill_feedback(service)
    client.force_login(lead)
    response = client.get(reverse("casework:feedback"), {"days": "30"})
    assert response.context["page"].paginator.count == 3
    assert (
        client.get(reverse("casework:feedback"), {"days": "30", "awaiting": "on"}).context["page"].paginator.count == 1
    )
    week = Week.parse(None, timezone.localdate()).label
    assert client.get(reverse("casework:feedback"), {"week": week}).context["page"].paginator.count == 3


def test_the_list_pins_its_query_count(client: Client, lead, service, django_assert_num_queries) -> None:
    for account in bulk_empty_accounts(3, EmptyCause.CUSTOMER_INCOMPLETE):
        record(service, account)
    client.force_login(lead)
    url = reverse("casework:feedback")
    client.get(url)
    with django_assert_num_queries(8) as few:
        assert len(client.get(url).context["page"].object_list) == 3
    for account in bulk_empty_accounts(60, EmptyCause.CUSTOMER_INCOMPLETE):
        record(service, account)
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(client.get(url).context["page"].object_list) == 50
