"""Automated activation and the monitor, run by a real RQ worker on a real Redis."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import django_rq
import pytest
from django.core.management import call_command
from django.utils import timezone
from rq import SimpleWorker

from accounts.models import ActivationAttempt, Channel, EmptyCause, LoanAccount, SimulatorFault, State
from accounts.monitor import monitor_scan
from accounts.services import account_transition
from casework.models import Case
from portal.actors import Actor
from portal.models import JobHeartbeat
from tests.factories import make_account

pytestmark = pytest.mark.django_db
CREDIT_JOB = Actor.system("test", Channel.JOB)


def run_worker() -> None:
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def issue(account: LoanAccount, capture) -> None:
    with capture(execute=True):  # the activation job is queued when the issue commits
        account_transition(account_id=account.pk, transition_name="issue", actor=CREDIT_JOB)


@pytest.fixture(autouse=True)
def _no_retry_wait(settings) -> None:
    settings.ACTIVATION_RETRY_INTERVALS = [0, 0]


def test_issuing_a_card_activates_it_through_the_worker(django_capture_on_commit_callbacks) -> None:
    account = make_account(State.APPROVED, steps=["sms_code"])
    issue(account, django_capture_on_commit_callbacks)
    assert django_rq.get_queue("default").count == 2  # the activation, and the message to the customer
    run_worker()
    account.refresh_from_db()
    assert account.state == State.ACTIVE
    (attempt,) = account.activation_attempts.all()
    assert (attempt.number, attempt.result) == (1, "succeeded")
    assert account.audit_entries.filter(transition="activate", actor_name="activation-job", channel="job").exists()


def test_a_card_whose_customer_is_not_done_waits_in_verifying(django_capture_on_commit_callbacks) -> None:
    account = make_account(State.APPROVED, tier="medium", steps=["sms_code"])
    issue(account, django_capture_on_commit_callbacks)
    run_worker()
    account.refresh_from_db()
    assert account.state == State.VERIFYING


def test_a_configuration_fault_empties_the_account_and_opens_a_tech_case(django_capture_on_commit_callbacks) -> None:
    SimulatorFault.objects.create(name="Mobile app misconfigured", scenario="configuration_fault", channel="Mobile app")
    account = make_account(State.APPROVED, steps=["sms_code"], channel="Mobile app")
    issue(account, django_capture_on_commit_callbacks)
    run_worker()
    account.refresh_from_db()
    assert (account.state, account.empty_cause, account.last_error_code) == (
        State.EMPTY,
        EmptyCause.SYSTEM_CONFIG,
        "CFG-CHANNEL-MISSING",
    )
    assert Case.objects.get(account=account).department_id == "tech"


def test_transient_errors_retry_then_fail_with_the_code(django_capture_on_commit_callbacks) -> None:
    SimulatorFault.objects.create(name="Core banking overloaded", timeout_rate=1.0)
    account = make_account(State.APPROVED, steps=["sms_code"])
    issue(account, django_capture_on_commit_callbacks)
    run_worker()
    account.refresh_from_db()
    attempts = list(account.activation_attempts.order_by("number").values_list("number", "result", "error_code"))
    assert attempts == [
        (1, "transient_error", "CB-TIMEOUT"),
        (2, "transient_error", "CB-TIMEOUT"),
        (3, "transient_error", "CB-TIMEOUT"),
    ]
    assert (account.state, account.empty_cause, account.last_error_code) == ("empty", "system_config", "CB-TIMEOUT")


def test_running_the_activation_job_twice_changes_nothing_the_second_time() -> None:
    from accounts.jobs import activate_account

    account = make_account(State.ISSUED, steps=["sms_code"])
    assert activate_account(account.pk) == "succeeded"
    version = LoanAccount.objects.get(pk=account.pk).version
    assert activate_account(account.pk) == "nothing to do"
    assert LoanAccount.objects.get(pk=account.pk).version == version
    assert ActivationAttempt.objects.filter(account=account).count() == 1


# --- the monitor ------------------------------------------------------------------------------


def overdue(days: int = 10, **fields: object) -> LoanAccount:
    account = make_account(fields.pop("state", State.VERIFYING), **fields)  # type: ignore[arg-type]
    LoanAccount.objects.filter(pk=account.pk).update(issued_at=timezone.now() - timedelta(days=days))
    return account


def test_the_monitor_empties_overdue_accounts_with_the_diagnosed_cause() -> None:
    stalled = overdue(tier="medium", steps=["sms_code"])
    failed = overdue(state=State.ISSUED)
    ActivationAttempt.objects.create(
        account=failed, number=1, result="permanent_error", error_code="CB-4031", duration_ms=5
    )
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
            )
            for i in range(count)
        )
        with django_assert_max_num_queries(12):  # three tiers' empty claims and the re-drive lookup
            assert monitor_scan().examined == 0


def test_the_monitor_command_prints_a_summary() -> None:
    overdue()
    out = StringIO()
    call_command("monitor_accounts", stdout=out)
    assert "Examined 1 overdue accounts: 1 stalled" in out.getvalue()


def test_the_monitor_requeues_a_lost_activation(django_capture_on_commit_callbacks) -> None:
    account = make_account(State.ISSUED, steps=["sms_code"])
    LoanAccount.objects.filter(pk=account.pk).update(issued_at=timezone.now() - timedelta(minutes=30))
    with django_capture_on_commit_callbacks(execute=True):
        assert monitor_scan().redriven == 1
    run_worker()
    assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE


def test_the_monitor_does_not_requeue_an_activation_still_waiting(django_capture_on_commit_callbacks) -> None:
    account = make_account(State.ISSUED, steps=["sms_code"])
    LoanAccount.objects.filter(pk=account.pk).update(issued_at=timezone.now() - timedelta(minutes=30))
    with django_capture_on_commit_callbacks(execute=True):
        assert monitor_scan().redriven == 1
    with django_capture_on_commit_callbacks(execute=True):
        assert monitor_scan().redriven == 0  # the first one is still in the queue
    assert django_rq.get_queue("default").count == 1
