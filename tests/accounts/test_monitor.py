"""The activation monitor: overdue accounts go empty with the diagnosed cause; late approvals are flagged."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import django_rq
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rq import SimpleWorker

from accounts.models import CoreCommand, LoanAccount, State
from accounts.monitor import flag_not_issued, monitor_scan
from accounts.policy import TIERS, activation_due
from accounts.services import Actor, account_step_record, account_transition
from casework.models import Case, CaseEvent
from portal.models import JobHeartbeat
from tests.factories import make_account

pytestmark = pytest.mark.django_db


def run_worker() -> None:
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def overdue(days: int = 10, **fields: object) -> LoanAccount:
    account = make_account(fields.pop("state", State.VERIFYING), **fields)  # type: ignore[arg-type]
    issued = timezone.now() - timedelta(days=days)
    LoanAccount.objects.filter(pk=account.pk).update(
        issued_at=issued, activation_due_at=activation_due(issued, account.tier)
    )
    return account


def refused_activation(account: LoanAccount, code: str) -> None:
    CoreCommand.objects.create(
        account=account, kind="activate", method="POST", path="/v1/cardtransitions", actor_name="x",
        actor_channel="job", status="refused", completed_at=timezone.now(), last_error_code=code,
    )  # fmt: skip


def test_the_monitor_empties_overdue_accounts_with_the_diagnosed_cause() -> None:
    stalled = overdue(tier="medium", steps=["sms_code"])
    failed = overdue(state=State.ISSUED)
    refused_activation(failed, "CB-4031")
    fresh = overdue(days=1)  # within the low tier's 3-day window

    summary = monitor_scan()

    assert (summary.examined, summary.stalled, summary.failed) == (2, 1, 1)
    stalled.refresh_from_db()
    failed.refresh_from_db()
    assert (stalled.state, stalled.empty_cause) == ("empty", "customer_incomplete")
    assert (failed.state, failed.empty_cause, failed.last_error_code) == ("empty", "system_config", "CB-4031")
    assert LoanAccount.objects.get(pk=fresh.pk).state == State.VERIFYING
    assert Case.objects.get(account=stalled).department_id == "service"
    assert Case.objects.get(account=failed).department_id == "tech"
    assert monitor_scan().examined == 0  # a second scan finds nothing left to do


def test_an_account_waiting_for_core_banking_is_not_stuck_on_the_customer() -> None:
    waiting = overdue(tier="low")
    account_step_record(account_id=waiting.pk, step="sms_code", actor=Actor.system("t", "job"))
    assert CoreCommand.objects.get(account=waiting).status == "pending"  # the activation is on its way
    assert monitor_scan().examined == 0
    assert LoanAccount.objects.get(pk=waiting.pk).state == State.VERIFYING


def test_approved_lines_not_issued_in_time_are_flagged_to_credit_once(settings) -> None:
    settings.APPROVED_NOT_ISSUED_HOURS = 24
    late = make_account(State.APPROVED, tier="high", created_at=timezone.now() - timedelta(hours=30))
    recent = make_account(State.APPROVED, created_at=timezone.now() - timedelta(hours=2))
    assert monitor_scan().not_issued == 1
    case = Case.objects.get(account=late)
    assert (case.cause, case.department_id) == ("not_issued", "credit")
    assert "more than 24 hours ago" in case.events.get().text
    assert not Case.objects.filter(account=recent).exists()
    assert monitor_scan().not_issued == 0  # flagged once
    from accounts.services import account_transition

    account_transition(account_id=late.pk, transition_name="issue", actor=Actor.system("t", "job"))
    case.refresh_from_db()
    assert case.status == "resolved"  # issuing the card resolves the flag


def test_the_monitor_runs_as_a_job_with_a_heartbeat(django_capture_on_commit_callbacks) -> None:
    overdue()
    with django_capture_on_commit_callbacks(execute=True):
        django_rq.get_queue("default").enqueue("accounts.jobs.scan_accounts")
    run_worker()
    beat = JobHeartbeat.objects.get(name="scan_accounts")
    assert beat.last_succeeded_at is not None and beat.last_error == ""
    assert beat.last_counts["stalled"] == 1
    assert not beat.is_late()


def test_the_monitor_query_count_does_not_grow_with_the_accounts(django_assert_max_num_queries) -> None:
    from tests.factories import CustomerFactory

    customer = CustomerFactory.create()
    for count in (20, 400):
        LoanAccount.objects.bulk_create(
            LoanAccount(
                number=f"LM{count:04d}{i:06d}",
                customer=customer,
                product="working_capital",
                channel="x",
                approved_limit=1000,
                state=State.VERIFYING,
                issued_at=timezone.now(),
                activation_due_at=timezone.now() + timedelta(days=1),
            )
            for i in range(count)
        )
        with django_assert_max_num_queries(6):  # the (empty) claim of overdue accounts and the approved lines' flag
            assert monitor_scan().examined == 0


def test_the_monitor_command_prints_a_summary() -> None:
    overdue()
    out = StringIO()
    call_command("monitor_accounts", stdout=out)
    assert "Examined 1 overdue accounts: 1 stalled" in out.getvalue()


def test_flagging_many_approved_lines_costs_the_same_queries_as_a_few(settings, django_assert_max_num_queries) -> None:
    settings.APPROVED_NOT_ISSUED_HOURS = 24
    long_ago = timezone.now() - timedelta(hours=30)
    for _account in range(3):
        make_account(State.APPROVED, created_at=long_ago)
    with CaptureQueriesContext(connection) as few:
        assert flag_not_issued() == 3
    for _account in range(30):
        make_account(State.APPROVED, created_at=long_ago)
    with django_assert_max_num_queries(len(few)):
        assert flag_not_issued() == 30
    assert Case.objects.filter(cause="not_issued").count() == 33
    assert CaseEvent.objects.filter(case__cause="not_issued", kind="opened").count() == 33


@pytest.mark.parametrize("tier", ["low", "high"])
def test_issuing_a_card_starts_its_activation_window(tier: str) -> None:
    account = make_account(State.APPROVED, tier=tier)
    assert account.activation_due_at is None
    account_transition(account_id=account.pk, transition_name="issue", actor=Actor.system("t", "job"))
    account.refresh_from_db()
    assert account.issued_at is not None
    assert account.activation_due_at == account.issued_at + TIERS[tier].activation_window
