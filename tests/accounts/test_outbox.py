"""The outbox to core banking: written with the decision, delivered after it, applied once, never lost."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
import time_machine
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.delivery import TransactionOpen, assert_no_transaction, commands_deliver, commands_sweep
from accounts.gateway import SIMULATED
from accounts.models import AuditEntry, CoreCommand, LoanAccount, Notification, State
from accounts.outbox import command_create, commands_create_bulk
from accounts.services import Actor, account_decide, account_step_record, account_transition
from casework.models import Case
from tests.factories import make_account
from tests.jobs import work

pytestmark = pytest.mark.django_db
CREDIT_POLICY = Actor.system("risk policy", "job")


def issue(account: LoanAccount, capture) -> None:
    with capture(execute=True):
        account_transition(account_id=account.pk, transition_name="issue", actor=CREDIT_POLICY)


def test_issuing_a_card_goes_to_core_banking_through_a_worker_and_activation_follows(
    django_capture_on_commit_callbacks,
) -> None:
    account = make_account(State.APPROVED, steps=["sms_code"])
    issue(account, django_capture_on_commit_callbacks)
    assert django_rq.get_queue("default").count == 1  # one delivery run, queued once the issue committed
    work(django_capture_on_commit_callbacks)
    account.refresh_from_db()
    assert (account.state, account.card_state, account.card_token) == (State.ACTIVE, "ACTIVE", f"CARD-{account.number}")
    assert list(account.core_commands.order_by("pk").values_list("kind", "status", "attempts")) == [
        ("issue", "done", 1),
        ("activate", "done", 1),
    ]
    assert [request.path for request in SIMULATED.requests] == ["/v1/cards", "/v1/cardtransitions"]
    activated = account.audit_entries.get(transition="activate")
    assert (activated.actor_name, activated.channel, activated.details["core"][:8]) == (
        "core banking",
        "core",
        "command ",
    )


def test_a_card_whose_customer_is_not_done_gets_the_activation_message_and_waits(
    django_capture_on_commit_callbacks,
) -> None:
    account = make_account(State.APPROVED, tier="medium", steps=["sms_code"])
    issue(account, django_capture_on_commit_callbacks)
    work(django_capture_on_commit_callbacks)
    account.refresh_from_db()
    assert (account.state, account.card_state) == (State.ISSUED, "UNACTIVATED")
    assert set(Notification.objects.filter(account=account).values_list("template", "status")) == {
        ("activation", "sent")
    }
    assert list(account.core_commands.values_list("kind", flat=True)) == ["issue"]  # no activation yet


def test_a_decision_and_its_command_commit_or_roll_back_together() -> None:
    account = make_account(State.ACTIVE)
    with pytest.raises(RuntimeError), transaction.atomic():
        account_transition(account_id=account.pk, transition_name="hold", actor=CREDIT_POLICY, reason="alert")
        assert CoreCommand.objects.filter(account=account).exists()
        raise RuntimeError("the caller's transaction fails after the decision")
    assert not CoreCommand.objects.filter(account=account).exists()
    assert not AuditEntry.objects.filter(account=account).exists()
    assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE


def test_asking_twice_for_what_is_on_its_way_asks_once(tech) -> None:
    account = make_account(State.EMPTY, "system_config", steps=["sms_code"])
    account_decide(account_id=account.pk, transition_name="activate", actor=Actor.staff(tech), reason="fixed")
    from accounts.services import AccountActionError

    with pytest.raises(AccountActionError, match="already asked to do this"):
        account_decide(account_id=account.pk, transition_name="activate", actor=Actor.staff(tech), reason="again")
    assert CoreCommand.objects.filter(account=account).count() == 1


def test_commands_written_in_bulk_keep_one_pending_per_account_and_kind() -> None:
    waiting, fresh = make_account(State.VERIFYING), make_account(State.VERIFYING)
    asked = command_create(account=waiting, kind=CoreCommand.Kind.ISSUE, actor=CREDIT_POLICY, deliver=False)
    with transaction.atomic():
        commands_create_bulk([waiting, fresh], kind=CoreCommand.Kind.ISSUE, actor=CREDIT_POLICY, reason="Issue")
    pending = CoreCommand.objects.filter(status=CoreCommand.Status.PENDING, kind=CoreCommand.Kind.ISSUE)
    assert sorted(pending.values_list("account_id", flat=True)) == sorted([waiting.pk, fresh.pk])
    assert pending.get(account=waiting).pk == asked.pk
    written = pending.get(account=fresh)
    fresh.refresh_from_db()
    assert written.path == "/v1/cards" and written.reason == "Issue"
    assert (written.body["token"], written.body["account_number"]) == (fresh.card_token, fresh.number)


def test_core_banking_down_leaves_commands_waiting_and_delivers_them_once_after() -> None:
    account = make_account(State.ACTIVE)
    account_transition(account_id=account.pk, transition_name="hold", actor=CREDIT_POLICY, reason="alert")
    SIMULATED.down = True
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _minute in range(5):  # down for five minutes: every try fails, the command waits
            summary = commands_deliver()
            clock.shift(timedelta(minutes=1))
        command = CoreCommand.objects.get(account=account)
        assert (command.status, command.last_error_code) == ("pending", "CORE_DOWN")
        assert command.attempts == 4  # retries spaced out (5 s, 15 s, 60 s, 5 min): not one a minute
        assert summary.retrying in (0, 1)
        SIMULATED.down = False
        clock.shift(timedelta(minutes=15))
        commands_deliver()
    command.refresh_from_db()
    assert (command.status, command.attempts) == ("done", 5)
    assert SIMULATED.applications[command.idempotency_key] == 1
    assert LoanAccount.objects.get(pk=account.pk).card_state == "SUSPENDED"


def test_a_failing_core_is_retried_with_the_same_key_and_applies_once() -> None:
    account = make_account(State.ACTIVE)
    account_transition(account_id=account.pk, transition_name="close", actor=CREDIT_POLICY, reason="repaid")
    SIMULATED.fail_next = 2
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _try in range(3):
            commands_deliver()
            clock.shift(timedelta(minutes=2))
    command = CoreCommand.objects.get(account=account)
    assert (command.status, command.attempts) == ("done", 3)
    keys = {request.idempotency_key for request in SIMULATED.requests}
    assert keys == {command.idempotency_key} and SIMULATED.applications[command.idempotency_key] == 1


def test_an_account_commands_reach_core_in_the_order_they_were_decided() -> None:
    account = make_account(State.ACTIVE)
    account_transition(account_id=account.pk, transition_name="hold", actor=CREDIT_POLICY, reason="alert")
    account_transition(account_id=account.pk, transition_name="close", actor=CREDIT_POLICY, reason="fraud")
    commands_deliver()
    assert [dict(request.body or {})["state"] for request in SIMULATED.requests] == ["SUSPENDED", "TERMINATED"]
    assert LoanAccount.objects.get(pk=account.pk).card_state == "TERMINATED"


def test_a_refused_issue_empties_the_account_and_tech_reads_why() -> None:
    SIMULATED.config_fault_channels.add("Mobile app")
    account = make_account(State.APPROVED, steps=["sms_code"], channel="Mobile app")
    account_transition(account_id=account.pk, transition_name="issue", actor=CREDIT_POLICY)
    commands_deliver()
    account.refresh_from_db()
    assert (account.state, account.empty_cause, account.last_error_code) == (
        State.EMPTY,
        "system_config",
        "CFG-CHANNEL-MISSING",
    )
    command = CoreCommand.objects.get(account=account)
    assert (command.status, (command.response or {})["error_code"]) == ("refused", "CFG-CHANNEL-MISSING")
    case = Case.objects.get(account=account)
    assert case.department_id == "tech"
    opened = case.events.get().text
    assert f"Core banking refused command #{command.pk} (Issue the card): CFG-CHANNEL-MISSING" in opened
    assert "not configured on channel Mobile app" in opened


def test_a_refused_suspension_opens_a_tech_case_naming_the_command() -> None:
    account = make_account(State.ACTIVE)
    SIMULATED.cards.pop(str(account.card_token))  # core holds no such card
    account_transition(account_id=account.pk, transition_name="hold", actor=CREDIT_POLICY, reason="alert")
    commands_deliver()
    command = CoreCommand.objects.get(account=account)
    assert command.status == "refused"
    case = Case.objects.get(account=account, cause="core_sync")
    assert case.department_id == "tech"
    assert f"command #{command.pk} (Suspend the card (risk hold)): CARD_NOT_FOUND" in case.events.get().text
    assert LoanAccount.objects.get(pk=account.pk).on_hold  # the desk's hold stands


def test_the_sweeper_delivers_a_command_whose_job_was_lost(django_capture_on_commit_callbacks) -> None:
    account = make_account(State.ACTIVE)
    # Redis was down when the decision committed: no job was ever queued.
    account_transition(account_id=account.pk, transition_name="hold", actor=CREDIT_POLICY, reason="alert")
    assert django_rq.get_queue("default").count == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert commands_sweep()["due"] == 1
    work(django_capture_on_commit_callbacks)
    assert CoreCommand.objects.get(account=account).status == "done"


def test_a_command_taken_by_a_run_that_died_waits_for_its_lease_then_goes_once() -> None:
    account = make_account(State.ACTIVE)
    account_transition(account_id=account.pk, transition_name="hold", actor=CREDIT_POLICY, reason="alert")
    command = CoreCommand.objects.get()
    # A run claimed it and died before core's answer was recorded (the call may or may not have arrived).
    with time_machine.travel(timezone.now(), tick=False) as clock:
        CoreCommand.objects.filter(pk=command.pk).update(
            attempts=1, last_attempt_at=timezone.now(), next_attempt_at=timezone.now() + timedelta(seconds=20)
        )
        assert commands_deliver().claimed == 0  # still leased
        clock.shift(timedelta(seconds=21))
        assert commands_deliver().done == 1
    assert SIMULATED.applications[command.idempotency_key] == 1


def test_a_command_core_does_not_confirm_in_time_is_flagged_once(client: Client, tech, settings) -> None:
    settings.CORE_COMMAND_STALE_MINUTES = 15
    account = make_account(State.ACTIVE)
    account_transition(account_id=account.pk, transition_name="hold", actor=CREDIT_POLICY, reason="alert")
    SIMULATED.down = True
    with time_machine.travel(timezone.now() + timedelta(minutes=16)):
        commands_deliver()
        assert commands_sweep()["flagged"] == 1
        assert commands_sweep()["flagged"] == 0
        client.force_login(tech)
        page = client.get(reverse("jobs")).content.decode()
    case = Case.objects.get(account=account, cause="core_sync")
    assert "has not confirmed command" in case.events.get().text and "CORE_DOWN" in case.events.get().text
    assert "1 command has waited more than 15 minutes" in page


def test_drill_accounts_never_reach_core_banking() -> None:
    account = make_account(State.EMPTY, "system_config", steps=["sms_code"], is_drill=True, card_state="")
    account_decide(account_id=account.pk, transition_name="activate", actor=CREDIT_POLICY)
    commands_deliver()
    account.refresh_from_db()
    assert account.state == State.ACTIVE
    assert set(account.core_commands.values_list("kind", "status")) == {("issue", "not_sent"), ("activate", "not_sent")}
    assert SIMULATED.requests == []


def test_the_customers_last_step_asks_core_to_activate_and_the_page_shows_it_waiting(client: Client, tech) -> None:
    account = make_account(State.VERIFYING, steps=[])
    account_step_record(account_id=account.pk, step="sms_code", actor=CREDIT_POLICY)
    assert LoanAccount.objects.get(pk=account.pk).state == State.VERIFYING
    client.force_login(tech)
    page = client.get(account.get_absolute_url()).content.decode()
    assert "Waiting for core banking" in page and "Activate the card" in page
    listing = client.get(reverse("accounts:list")).content.decode()
    assert "core banking: activate" in listing
    commands_deliver()
    assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE
    assert "Waiting for core banking" not in client.get(account.get_absolute_url()).content.decode()


def test_no_call_to_core_banking_is_made_inside_a_transaction() -> None:
    with pytest.raises(TransactionOpen), transaction.atomic():
        assert_no_transaction()
    assert_no_transaction()  # the test case's own outer transaction does not count


def test_the_jobs_page_query_count_does_not_grow_with_the_commands(
    client: Client, tech, django_assert_num_queries
) -> None:
    client.force_login(tech)
    for count in (2, 20):
        for _ in range(count):
            held = make_account(State.ACTIVE)
            account_transition(account_id=held.pk, transition_name="hold", actor=CREDIT_POLICY, reason="x")
        with django_assert_num_queries(11):
            assert client.get(reverse("jobs")).status_code == 200
