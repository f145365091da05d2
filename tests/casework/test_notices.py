"""Staff notifications from casework: each event reaches exactly the right people, once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone, translation

from accounts.models import EmptyCause, State
from accounts.services import approval_request_create
from casework.batches import batch_start
from casework.incidents import incident_create
from casework.jobs import escalate_overdue_cases
from casework.models import Case, CaseEvent
from casework.notices import notify_cases_assigned
from casework.services import case_hand_off, case_open_for_account, cases_assign
from portal.actors import Actor
from portal.models import Notice, NoticePreference
from tests.factories import make_account
from tests.jobs import work

pytestmark = pytest.mark.django_db
JOB = Actor.system("test", "job")


def received(kind: str | None = None) -> list[tuple[str, str]]:
    """(recipient, kind) of every notice, sorted."""
    notices = Notice.objects.all() if kind is None else Notice.objects.filter(kind=kind)
    return sorted(notices.values_list("recipient__username", "kind"))


def credit_case(*, is_drill: bool = False) -> Case:
    account = make_account(State.EMPTY, EmptyCause.RISK_HOLD, is_drill=is_drill)
    return case_open_for_account(account=account, cause="risk_hold", actor=JOB)


def test_an_assignment_tells_the_assignee_once(all_staff) -> None:
    case = credit_case()
    cases_assign(case_ids=[case.pk], assignee=all_staff["credit"], by=all_staff["lead"])
    cases_assign(case_ids=[case.pk], assignee=all_staff["credit"], by=all_staff["lead"])  # already so
    assert received() == [("credit", "case_assigned")]
    notice = Notice.objects.get()
    assert notice.url == case.get_absolute_url()
    assert notice.text == f"Case #{case.pk} is assigned to you."


def test_a_bulk_assignment_tells_the_assignee_of_each_case_in_constant_queries(
    all_staff, django_assert_num_queries
) -> None:
    cases = [credit_case() for _ in range(3)]
    for case in cases:
        Case.objects.filter(pk=case.pk).update(assignee=all_staff["credit"])
    assigned = list(Case.objects.filter(pk__in=[case.pk for case in cases]))
    with django_assert_num_queries(2):  # the preferences, the insert (nobody wants email by default)
        notify_cases_assigned(assigned, by=all_staff["lead"])
    assert received() == [("credit", "case_assigned")] * 3


def test_taking_a_case_yourself_tells_no_one(all_staff) -> None:
    case = credit_case()
    cases_assign(case_ids=[case.pk], assignee=all_staff["credit"], by=all_staff["credit"])
    assert received() == []


def test_a_hand_off_tells_the_new_department_but_not_the_sender(all_staff) -> None:
    case = credit_case()
    case_hand_off(
        case_id=case.pk, department="tech", user=all_staff["lead"], note="a core fault", expected_version=None
    )
    assert received() == [("tech", "case_handed")]
    assert Notice.objects.get().text == f"Case #{case.pk} came to Tech and waits for someone to take it."


def test_a_four_eyes_request_tells_the_other_credit_officers_never_the_requester(all_staff) -> None:
    held = make_account(State.EMPTY, EmptyCause.RISK_HOLD, tier="high", activated=True)
    with translation.override("zh-hans"):  # the requester works in Chinese; each reader reads their own language
        approval_request_create(account_id=held.pk, kind="release_hold", requested_by=all_staff["credit"], reason="ok")
    assert received() == [("credit2", "approval_waiting"), ("lead", "approval_waiting")]
    notice = Notice.objects.filter(recipient=all_staff["credit2"]).get()
    assert notice.text == (
        f"Credit Tester asks a second credit officer to approve: Release risk hold on account {held.number}."
    )


def test_an_incident_tells_its_department(all_staff) -> None:
    incident = incident_create(title="Core profile rejected", description="", user=all_staff["tech"])
    assert received() == [("lead", "incident_opened")]
    assert Notice.objects.get().url == incident.get_absolute_url()


def test_a_finished_batch_tells_whoever_started_it(all_staff, django_capture_on_commit_callbacks) -> None:
    accounts = [make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG, steps=["sms_code"]) for _ in range(2)]
    with django_capture_on_commit_callbacks(execute=True):
        batch = batch_start(title="after the fix", account_ids=[a.pk for a in accounts], user=all_staff["tech"])
    work(django_capture_on_commit_callbacks)
    assert received() == [("tech", "batch_finished")]
    assert Notice.objects.get().url == batch.get_absolute_url()


def test_drill_events_notify_no_one(all_staff) -> None:
    case = credit_case(is_drill=True)
    cases_assign(case_ids=[case.pk], assignee=all_staff["credit"], by=all_staff["lead"])
    Case.objects.filter(pk=case.pk).update(resolve_due_at=timezone.now() - timedelta(hours=1))
    escalate_overdue_cases()
    assert received() == []


def test_off_means_nothing_and_email_means_an_email_sent_by_the_worker(
    all_staff, django_capture_on_commit_callbacks
) -> None:
    all_staff["credit"].email = "credit@bank.example"
    all_staff["credit"].save()
    NoticePreference.objects.create(user=all_staff["credit"], kind="case_assigned", delivery="email")
    NoticePreference.objects.create(user=all_staff["credit2"], kind="case_assigned", delivery="off")
    first, second = credit_case(), credit_case()
    with django_capture_on_commit_callbacks(execute=True):
        cases_assign(case_ids=[first.pk], assignee=all_staff["credit"], by=all_staff["lead"])
        cases_assign(case_ids=[second.pk], assignee=all_staff["credit2"], by=all_staff["lead"])
    assert mail.outbox == []  # the worker sends it, not the request
    work(django_capture_on_commit_callbacks)
    work(django_capture_on_commit_callbacks)
    assert received() == [("credit", "case_assigned")]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["credit@bank.example"]
    assert f"Case #{first.pk} is assigned to you." in mail.outbox[0].subject
    assert first.get_absolute_url() in mail.outbox[0].body
    assert Notice.objects.get().emailed_at is not None


def test_an_escalation_run_twice_across_both_slas_tells_the_assignee_and_the_lead_once_each(
    all_staff, settings
) -> None:
    """A simulated few days: warnings at 80 % and breaches of the assignment and resolution SLAs."""
    settings.SLA_WARNING_PERCENT = 80
    start = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.get_current_timezone())
    with time_machine.travel(start, tick=False):
        case = credit_case()
        Case.objects.filter(pk=case.pk).update(
            opened_at=start, assign_due_at=start + timedelta(hours=10), resolve_due_at=start + timedelta(hours=100)
        )

    def escalate_twice(at: timedelta) -> None:
        with time_machine.travel(start + at, tick=False):
            escalate_overdue_cases()
            escalate_overdue_cases()

    escalate_twice(timedelta(hours=7))  # before 80 %: nothing
    assert received() == []
    escalate_twice(timedelta(hours=8, minutes=30))  # assignment SLA at 85 %: the lead (no assignee yet)
    assert received() == [("lead", "sla_warning")]
    escalate_twice(timedelta(hours=11))  # assignment SLA breached
    assert received("sla_breach") == [("lead", "sla_breach")]
    assert CaseEvent.objects.filter(case=case, text__startswith="Not assigned in time").count() == 1

    with time_machine.travel(start + timedelta(hours=12), tick=False):
        cases_assign(case_ids=[case.pk], assignee=all_staff["credit"], by=all_staff["lead"])
    escalate_twice(timedelta(hours=81))  # resolution SLA at 81 %: the assignee and the lead
    escalate_twice(timedelta(hours=101))  # resolution SLA breached
    escalate_twice(timedelta(hours=120))  # later runs: nothing new
    assert received() == [
        ("credit", "case_assigned"),
        ("credit", "sla_breach"),
        ("credit", "sla_warning"),
        ("lead", "sla_breach"),
        ("lead", "sla_breach"),
        ("lead", "sla_warning"),
        ("lead", "sla_warning"),
    ]
    texts = sorted(Notice.objects.filter(recipient=all_staff["lead"]).values_list("params__sla", flat=True))
    assert texts == ["assignment SLA", "assignment SLA", "resolution SLA", "resolution SLA"]
    breach = Notice.objects.get(recipient=all_staff["credit"], kind="sla_breach")
    assert breach.text == f"Case #{case.pk} is overdue: the resolution SLA was due at 2026-12-11 13:00."


def test_a_breach_cannot_be_switched_off(all_staff) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        NoticePreference.objects.create(user=all_staff["lead"], kind="sla_breach", delivery="off")
