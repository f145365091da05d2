"""The portal's decisions against the reference core-banking service over HTTP: a timeout, a 5xx and a
refusal from the real process, and every staff decision that changes a card visible on both sides."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.delivery import commands_deliver
from accounts.models import CoreCommand, LoanAccount, ReconciliationRun, State
from accounts.reconcile import reconcile
from accounts.services import (
    Actor,
    account_step_record,
    account_transition,
    approval_request_approve,
    approval_request_create,
)
from casework.models import Case
from tests.coreservice import CoreService
from tests.factories import make_account

pytestmark = pytest.mark.django_db
POLICY = Actor.system("risk policy", "job")


@pytest.fixture
def core(settings, tmp_path: Path) -> Iterator[CoreService]:
    service = CoreService(tmp_path, events_url="")  # its events stay in its outbox here
    service.start()
    settings.CORE_GATEWAY = "http"
    settings.CORE_GATEWAY_URL = service.url
    settings.CORE_GATEWAY_TIMEOUT = 1.0
    try:
        yield service
    finally:
        service.stop()


def due_now(command: CoreCommand) -> None:
    """The command's next try has come (the outbox waits 5 s, 15 s...; the test does not)."""
    CoreCommand.objects.filter(pk=command.pk).update(next_attempt_at=timezone.now())


def issued_card(core: CoreService, **fields: object) -> LoanAccount:
    account = make_account(State.APPROVED, **fields)  # type: ignore[arg-type]
    account_transition(account_id=account.pk, transition_name="issue", actor=POLICY)
    commands_deliver()
    account.refresh_from_db()
    assert account.card_state == "UNACTIVATED"
    return account


def test_a_timed_out_answer_is_asked_for_again_and_core_applies_it_once(core: CoreService) -> None:
    account = issued_card(core)
    core.set_faults(timeout_rate=1.0, timeout_seconds=3)  # applied in core, the answer held too long
    account_transition(account_id=account.pk, transition_name="hold", actor=POLICY, reason="alert")
    commands_deliver()
    hold = CoreCommand.objects.get(account=account, kind="suspend")
    assert (hold.status, hold.last_error_code) == ("pending", "CB-TIMEOUT")
    core.set_faults(timeout_rate=0.0)
    due_now(hold)
    commands_deliver()
    hold.refresh_from_db()
    assert hold.status == "done" and hold.attempts == 2
    assert core.applications(hold.idempotency_key) == 1
    assert core.card(str(account.card_token))["state"] == "SUSPENDED"  # type: ignore[index]


def test_a_failing_core_leaves_the_command_waiting_then_it_goes_once(core: CoreService) -> None:
    account = issued_card(core)
    core.set_faults(failure_rate=1.0)
    account_transition(account_id=account.pk, transition_name="close", actor=POLICY, reason="repaid")
    assert LoanAccount.objects.get(pk=account.pk).state == State.CLOSED  # the decision is saved anyway
    commands_deliver()
    close = CoreCommand.objects.get(account=account, kind="terminate")
    assert (close.status, close.last_error_code, close.response_status) == ("pending", "CB-5001", 500)
    core.set_faults(failure_rate=0.0)
    due_now(close)
    commands_deliver()
    assert CoreCommand.objects.get(pk=close.pk).status == "done"
    assert core.applications(close.idempotency_key) == 1
    assert core.card(str(account.card_token))["state"] == "TERMINATED"  # type: ignore[index]


def test_a_refusal_from_core_empties_the_account_and_quotes_core(core: CoreService) -> None:
    core.set_faults(config_fault_channels=["Mobile app"])
    account = make_account(State.APPROVED, channel="Mobile app")
    account_transition(account_id=account.pk, transition_name="issue", actor=POLICY)
    commands_deliver()
    account.refresh_from_db()
    assert (account.state, account.empty_cause, account.last_error_code) == ("empty", "system_config",
                                                                           "CFG-CHANNEL-MISSING")  # fmt: skip
    note = Case.objects.get(account=account).events.get().text
    assert "CFG-CHANNEL-MISSING" in note and "not configured on channel Mobile app" in note


def test_every_decision_that_changes_a_card_reaches_core_banking(core: CoreService, credit, credit2) -> None:
    account = issued_card(core, tier="high", steps=["sms_code", "password"])
    token = str(account.card_token)
    account_step_record(account_id=account.pk, step="credit_review", actor=Actor.staff(credit), reason="ok")
    commands_deliver()
    assert (LoanAccount.objects.get(pk=account.pk).state, core.card(token)["state"]) == ("active", "ACTIVE")  # type: ignore[index]

    tranche = approval_request_create(account_id=account.pk, kind="release_tranche", requested_by=credit, reason="ok")
    approval_request_approve(request_id=tranche.pk, approver=credit2)
    commands_deliver()
    released = LoanAccount.objects.get(pk=account.pk).released_limit
    assert core.card(token)["usable_limit"] == f"{released:.2f}" == "600000.00"  # type: ignore[index]

    account_transition(account_id=account.pk, transition_name="hold", actor=Actor.staff(credit), reason="alert")
    commands_deliver()
    assert core.card(token)["state"] == "SUSPENDED"  # type: ignore[index]
    release = approval_request_create(account_id=account.pk, kind="release_hold", requested_by=credit, reason="ok")
    approval_request_approve(request_id=release.pk, approver=credit2)
    commands_deliver()
    assert (LoanAccount.objects.get(pk=account.pk).state, core.card(token)["state"]) == ("active", "ACTIVE")  # type: ignore[index]

    # A decision taken inside core banking comes back through reconciliation.
    core.set_card_state(token, "SUSPENDED")
    run = reconcile(mode=ReconciliationRun.Mode.CHANGES)
    assert (run.error, run.fixed) == ("", 1)
    assert LoanAccount.objects.get(pk=account.pk).on_hold


def test_simulate_fault_switches_the_reference_services_faults(core: CoreService, settings) -> None:
    def run(*args: str) -> str:
        out = StringIO()
        call_command("simulate_fault", *args, stdout=out)
        return out.getvalue()

    assert run("configuration_fault", "--channel", "Mobile app") == "Switched on: configuration fault on Mobile app.\n"
    assert core.faults()["config_fault_channels"] == ["Mobile app"]
    run("configuration_fault", "--channel", "Mobile app", "--off")
    assert core.faults()["config_fault_channels"] == []
    run("down")
    assert core.faults()["down"] is True
    run("down", "--off")
    run("random", "--failure-rate", "0.2", "--timeout-rate", "0.1")
    assert (core.faults()["failure_rate"], core.faults()["timeout_rate"]) == (0.2, 0.1)
    with pytest.raises(CommandError, match="between 0 and 1"):
        run("random", "--failure-rate", "2")
    with pytest.raises(CommandError, match="needs --channel"):
        run("configuration_fault")
    settings.CORE_GATEWAY = "simulated"
    with pytest.raises(CommandError, match="drives the reference core-banking service"):
        run("down")
