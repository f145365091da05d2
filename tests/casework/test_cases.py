"""Cases follow their accounts: opened when an account goes empty, resolved when it is usable."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, connections
from django.utils import timezone

from accounts.delivery import commands_deliver
from accounts.models import Channel, EmptyCause, LoanAccount, State
from accounts.services import Actor, account_decide, account_transition
from casework.models import Case, CaseEvent, SlaPolicy, Status
from casework.services import CaseActionError, case_open_for_account, case_transition, cases_assign
from tests.factories import make_account

pytestmark = pytest.mark.django_db
JOB = Actor.system("activation-monitor", Channel.JOB)


@pytest.mark.parametrize(
    ("transition_name", "start", "cause", "department"),
    [
        ("fail_activation", State.ISSUED, EmptyCause.SYSTEM_CONFIG, "tech"),
        ("mark_stalled", State.VERIFYING, EmptyCause.CUSTOMER_INCOMPLETE, "service"),
        ("hold", State.ACTIVE, EmptyCause.RISK_HOLD, "credit"),
    ],
)
def test_an_account_going_empty_opens_one_case_for_the_right_department(
    transition_name: str, start: str, cause: str, department: str
) -> None:
    account = make_account(start)
    account_transition(account_id=account.pk, transition_name=transition_name, actor=JOB, reason="test")

    case = Case.objects.get(account=account)
    assert (case.cause, case.department_id, case.status) == (cause, department, Status.NEW)
    assert case.checklist.count() >= 4
    opened = case.events.get()
    assert opened.kind == CaseEvent.Kind.OPENED and opened.actor_name == "activation-monitor"


def test_going_empty_again_adds_to_the_open_case(db) -> None:
    account = make_account(State.ISSUED)
    case_open_for_account(account=account, cause=EmptyCause.SYSTEM_CONFIG, actor=JOB)
    case_open_for_account(account=account, cause=EmptyCause.SYSTEM_CONFIG, actor=JOB)
    case = Case.objects.get(account=account)
    assert [event.kind for event in case.events.order_by("id")] == ["opened", "system"]


def test_activation_resolves_the_open_cases_with_a_timeline_entry(tech) -> None:
    account = make_account(State.ISSUED, steps=["sms_code"])
    account_transition(account_id=account.pk, transition_name="fail_activation", actor=JOB, error_code="CB-1")
    account_decide(account_id=account.pk, transition_name="activate", actor=Actor.staff(tech), reason="fixed")
    assert Case.objects.get(account=account).is_open  # until core banking has activated the card
    commands_deliver()
    case = Case.objects.get(account=account)
    assert case.status == Status.RESOLVED and case.resolved_at is not None
    last = case.events.order_by("-id").first()
    assert last is not None
    assert (last.kind, last.text, last.actor_name) == ("status", "Resolved: the account is active.", "core banking")


def test_closing_the_account_resolves_its_cases(credit) -> None:
    account = make_account(State.VERIFYING)
    account_transition(account_id=account.pk, transition_name="mark_stalled", actor=JOB)
    account_transition(account_id=account.pk, transition_name="close", actor=Actor.staff(credit), reason="withdrawn")
    assert Case.objects.get(account=account).status == Status.RESOLVED


def test_the_database_allows_one_open_case_per_account_and_cause(db) -> None:
    from django.db import IntegrityError, transaction

    account = make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG)
    first = case_open_for_account(account=account, cause=EmptyCause.SYSTEM_CONFIG, actor=JOB)
    with pytest.raises(IntegrityError), transaction.atomic():
        Case.objects.create(
            account=account,
            cause=EmptyCause.SYSTEM_CONFIG,
            department_id="tech",
            assign_due_at=first.assign_due_at,
            resolve_due_at=first.resolve_due_at,
        )


def test_a_new_case_may_open_once_the_old_one_is_resolved(tech) -> None:
    account = make_account(State.ISSUED, steps=["sms_code"])
    account_transition(account_id=account.pk, transition_name="fail_activation", actor=JOB)
    account_transition(account_id=account.pk, transition_name="hold", actor=JOB)
    account_decide(account_id=account.pk, transition_name="release_hold", actor=JOB)
    commands_deliver()  # suspended, reinstated, then activated: every step was done
    assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE
    assert Case.objects.filter(account=account, status=Status.RESOLVED).count() == 2
    account_transition(account_id=account.pk, transition_name="hold", actor=JOB)
    assert Case.objects.filter(account=account).count() == 3


ON_POSTGRESQL = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL to run two transactions at once (CI runs it on PostgreSQL)",
)


def run_together(*targets) -> list[object]:
    barrier = threading.Barrier(len(targets))
    results: list[object] = [None] * len(targets)

    def run(index: int, target) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = target()
        except Exception as exc:  # the test inspects what each thread got
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


@ON_POSTGRESQL
@pytest.mark.django_db(transaction=True)
def test_two_paths_racing_to_empty_an_account_open_one_case() -> None:
    account = make_account(State.VERIFYING)
    monitor = Actor.system("activation-monitor", Channel.JOB)
    core = Actor.system("core-banking", Channel.WEBHOOK)
    results = run_together(
        lambda: account_transition(account_id=account.pk, transition_name="mark_stalled", actor=monitor),
        lambda: account_transition(account_id=account.pk, transition_name="fail_activation", actor=core),
    )
    assert sum(not isinstance(result, Exception) for result in results) == 1
    assert Case.objects.filter(account=account).count() == 1


@ON_POSTGRESQL
@pytest.mark.django_db(transaction=True)
def test_concurrent_openings_of_the_same_case_make_one_case() -> None:
    account = make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG)
    opener = lambda: case_open_for_account(account=account, cause=EmptyCause.SYSTEM_CONFIG, actor=JOB)  # noqa: E731
    results = run_together(opener, opener, opener)
    assert not [result for result in results if isinstance(result, Exception)]
    case = Case.objects.get(account=account)
    assert case.events.filter(kind="opened").count() == 1
    assert case.events.count() == 3


# --- SLA ----------------------------------------------------------------------------------


def test_due_times_follow_the_policy_of_the_priority(db) -> None:
    SlaPolicy.objects.filter(priority=1).update(
        time_to_assign=timedelta(minutes=15), time_to_resolve=timedelta(hours=2)
    )
    account = make_account(State.EMPTY, EmptyCause.RISK_HOLD, tier="high", approved_limit=20_000_000)
    case = case_open_for_account(account=account, cause=EmptyCause.RISK_HOLD, actor=JOB)
    assert case.priority == 1
    assert case.assign_due_at - case.opened_at == timedelta(minutes=15)
    assert case.resolve_due_at - case.opened_at == timedelta(hours=2)

    small = make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG, approved_limit=200_000)
    assert case_open_for_account(account=small, cause=EmptyCause.SYSTEM_CONFIG, actor=JOB).priority == 4


def test_time_waiting_for_the_customer_does_not_count(service) -> None:
    with time_machine.travel("2026-11-02 09:00 +08:00", tick=False) as clock:
        account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE, approved_limit=500_000)
        case = case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=JOB)
        due = case.resolve_due_at
        cases_assign(case_ids=[case.pk], assignee=service, by=service)
        case_transition(case_id=case.pk, name="start", user=service, expected_version=None)

        clock.shift(timedelta(hours=5))
        case_transition(case_id=case.pk, name="wait_for_customer", user=service, expected_version=None)
        clock.shift(timedelta(days=30))  # far past the due time, but the clock is paused
        case.refresh_from_db()
        assert not case.is_overdue()
        assert case.sla_remaining() == due - (timezone.now() - timedelta(days=30))

        case_transition(case_id=case.pk, name="resume", user=service, expected_version=None)
        case.refresh_from_db()
        assert case.resolve_due_at == due + timedelta(days=30)
        assert not case.is_overdue()
        clock.shift(case.resolve_due_at - timezone.now() + timedelta(minutes=1))
        assert case.is_overdue()


def test_a_disallowed_status_move_is_refused_with_a_message(service) -> None:
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    case = case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=JOB)
    with pytest.raises(CaseActionError, match="“Close” is not possible while the case is new"):
        case_transition(case_id=case.pk, name="close", user=service, expected_version=case.version)
    with pytest.raises(CaseActionError, match="“Start work” is not possible while the case is new"):
        case_transition(case_id=case.pk, name="start", user=service, expected_version=case.version)
    case.refresh_from_db()
    assert (case.status, case.version) == (Status.NEW, 1)


def test_a_stale_copy_is_refused_with_who_and_when(service) -> None:
    from casework.services import CaseChanged

    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    case = case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=JOB)
    seen = case.version
    cases_assign(case_ids=[case.pk], assignee=service, by=service)
    with pytest.raises(CaseChanged, match="Service Tester changed this case at"):
        case_transition(case_id=case.pk, name="resolve", user=service, expected_version=seen)
