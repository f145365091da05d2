"""Reactivation in bulk: many accounts per transition and per transaction, with every invariant kept."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.activation import accounts_reactivate
from accounts.batches import BATCH_JOB, batch_cancel, batch_run_chunk, batch_start
from accounts.gateway import PermanentGatewayError, SimulatedGateway, get_gateway
from accounts.models import (
    ActivationAttempt,
    AuditEntry,
    Channel,
    EmptyCause,
    LoanAccount,
    ReactivationBatch,
    ReactivationItem,
    SimulatorFault,
    State,
    Tranche,
)
from accounts.policy import tranche_amounts
from accounts.services import (
    BULK_TRANSITIONS,
    AccountActionError,
    account_transition,
    accounts_transition_bulk,
)
from casework.models import Case, CaseEvent, Incident, Status
from casework.services import cases_open_for_empty_accounts
from portal.actors import Actor
from tests.factories import make_account

pytestmark = pytest.mark.django_db

JOB = Actor.system("test-job", Channel.JOB)
SC = EmptyCause.SYSTEM_CONFIG


def locked(accounts: Sequence[LoanAccount]) -> list[LoanAccount]:
    """The accounts as a job holds them: locked, with their customer."""
    return list(
        LoanAccount.objects.select_for_update(of=("self",))
        .select_related("customer")
        .filter(pk__in=[account.pk for account in accounts])
        .order_by("pk")
    )


def empty_accounts(count: int, **fields: Any) -> list[LoanAccount]:
    return [make_account(State.EMPTY, SC, steps=["sms_code"], **fields) for _ in range(count)]


def fixed_incident(accounts: Sequence[LoanAccount], title: str = "Mobile app config") -> Incident:
    """The accounts' open cases, linked to an incident whose fault is fixed."""
    cases_open_for_empty_accounts(actor=JOB)
    incident = Incident.objects.create(title=title, created_by_name="tech", status=Incident.IncidentStatus.FIXED)
    Case.objects.filter(account__in=accounts).update(incident=incident)
    return incident


# --- accounts_transition_bulk ----------------------------------------------------------------


def test_it_activates_many_accounts_as_one_transition_each_would() -> None:
    low = make_account(State.EMPTY, SC, steps=["sms_code"], last_error_code="CFG-CHANNEL-MISSING")
    high = make_account(State.EMPTY, SC, tier="high", steps=["sms_code", "password", "credit_review"])
    planned = make_account(State.EMPTY, SC, steps=["sms_code"], activated=True)  # active once, then emptied
    Tranche.objects.create(account=planned, sequence=1, amount=planned.approved_limit, status="released")
    fixed_incident([low, high, planned])
    versions = {account.pk: account.version for account in (low, high, planned)}

    result = accounts_transition_bulk(
        accounts=locked([low, high, planned]),
        transition_name="activate",
        actor=JOB,
        reason={low.pk: "attempt 1", high.pk: "attempt 2", planned.pk: " attempt 3 "},
    )

    assert [account.pk for account in result.moved] == [low.pk, high.pk, planned.pk] and result.refused == {}
    for account in (low, high, planned):
        account.refresh_from_db()
        assert (account.state, account.empty_cause, account.empty_since, account.last_error_code) == (
            State.ACTIVE,
            "",
            None,
            "",
        )
        assert account.version == versions[account.pk] + 1
        assert account.activated_at and account.state_changed_at > timezone.now() - timedelta(minutes=1)
        assert account.released_limit == tranche_amounts(account.approved_limit, account.tier)[0]
        (audit,) = AuditEntry.objects.filter(account=account)
        assert (
            audit.transition,
            audit.from_state,
            audit.to_state,
            audit.actor,
            audit.actor_name,
            audit.channel,
            audit.requested_by,
            audit.details,
        ) == ("activate", State.EMPTY, State.ACTIVE, None, "test-job", Channel.JOB, None, {})
    assert [a.reason for a in AuditEntry.objects.order_by("account_id")] == ["attempt 1", "attempt 2", "attempt 3"]
    assert list(high.tranches.values_list("sequence", "status")) == [(1, "released"), (2, "planned"), (3, "planned")]
    assert sum(high.tranches.values_list("amount", flat=True), Decimal(0)) == high.approved_limit
    assert list(low.tranches.values_list("sequence", "amount")) == [(1, low.approved_limit)]
    assert planned.tranches.count() == 1  # its plan was laid out before: not again


def test_it_resolves_the_cases_with_their_timeline_and_settles_the_incident() -> None:
    accounts = empty_accounts(3)
    incident = fixed_incident(accounts)
    elsewhere = fixed_incident(empty_accounts(1), title="Another fault")  # its case stays open
    paused = Case.objects.get(account=accounts[0])
    paused_since = timezone.now() - timedelta(hours=2)
    Case.objects.filter(pk=paused.pk).update(status=Status.WAITING_CUSTOMER, sla_paused_at=paused_since)

    accounts_transition_bulk(accounts=locked(accounts), transition_name="activate", actor=JOB)

    for case in Case.objects.filter(account__in=accounts):
        assert (case.status, case.version, case.sla_paused_at) == (Status.RESOLVED, 2, None)
        assert case.resolved_at
        event = case.events.get(kind=CaseEvent.Kind.STATUS)
        assert (event.actor, event.actor_name, event.text, event.to_status) == (
            None,
            "test-job",
            "Resolved: the account is active.",
            Status.RESOLVED,
        )
    resumed = Case.objects.get(pk=paused.pk)  # the SLA clock resumed: the paused time is added back
    assert resumed.resolve_due_at - paused.resolve_due_at >= timedelta(hours=2)
    assert resumed.events.get(kind=CaseEvent.Kind.STATUS).from_status == Status.WAITING_CUSTOMER
    incident.refresh_from_db()
    elsewhere.refresh_from_db()
    assert (incident.status, elsewhere.status) == (Incident.IncidentStatus.RESOLVED, Incident.IncidentStatus.FIXED)
    assert incident.resolved_at


def test_it_leaves_the_accounts_that_cannot_activate_as_they_are() -> None:
    ready = make_account(State.EMPTY, SC, steps=["sms_code"])
    steps_missing = make_account(State.EMPTY, SC, tier="medium", steps=["sms_code"])
    on_hold = make_account(State.EMPTY, EmptyCause.RISK_HOLD, steps=["sms_code"])
    active = make_account(State.ACTIVE)
    cases_open_for_empty_accounts(actor=JOB)

    result = accounts_transition_bulk(
        accounts=locked([ready, steps_missing, on_hold, active]), transition_name="activate", actor=JOB
    )

    assert [account.pk for account in result.moved] == [ready.pk]
    assert set(result.refused) == {steps_missing.pk, on_hold.pk, active.pk}
    assert "still missing Password set" in result.refused[steps_missing.pk]
    assert "risk hold" in result.refused[on_hold.pk]
    for account in (steps_missing, on_hold, active):
        before = account.version
        account.refresh_from_db()
        assert account.version == before and not account.audit_entries.exists()
    assert steps_missing.state == State.EMPTY and on_hold.state == State.EMPTY
    assert Case.objects.open().filter(account__in=[steps_missing, on_hold]).count() == 2


@pytest.mark.parametrize("transition_name", BULK_TRANSITIONS)
@pytest.mark.parametrize(
    "start",
    [
        (State.APPROVED, ""),
        (State.ISSUED, ""),
        (State.VERIFYING, ""),
        (State.EMPTY, SC),
        (State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE),
        (State.EMPTY, EmptyCause.RISK_HOLD),
        (State.ACTIVE, ""),
        (State.CLOSED, ""),
    ],
)
def test_it_ends_where_account_transition_ends(transition_name: str, start: tuple[str, str]) -> None:
    alone, bulk = (make_account(*start, steps=["sms_code"]) for _ in range(2))
    cases_open_for_empty_accounts(actor=JOB)
    with contextlib.suppress(AccountActionError):  # refused alone: refused in bulk too
        account_transition(account_id=alone.pk, transition_name=transition_name, actor=JOB)
    accounts_transition_bulk(accounts=locked([bulk]), transition_name=transition_name, actor=JOB)

    def outcome(account: LoanAccount) -> tuple[object, ...]:
        account.refresh_from_db()
        audit = list(account.audit_entries.values_list("transition", "from_state", "to_state", "actor_name", "channel"))
        cases = list(account.cases.values_list("status", "version"))
        return (
            account.state,
            account.empty_cause,
            account.version,
            account.released_limit,
            bool(account.activated_at),
            bool(account.closed_at),
            list(account.tranches.values_list("sequence", "amount", "status")),
            audit,
            cases,
            list(CaseEvent.objects.filter(case__account=account).values_list("kind", "text")),
        )

    assert outcome(bulk) == outcome(alone)


def test_it_closes_accounts_and_resolves_their_cases() -> None:
    accounts = empty_accounts(2)
    cases_open_for_empty_accounts(actor=JOB)
    accounts_transition_bulk(accounts=locked(accounts), transition_name="close", actor=JOB, reason="wound down")
    assert set(LoanAccount.objects.filter(pk__in=[a.pk for a in accounts]).values_list("state", flat=True)) == {
        State.CLOSED
    }
    assert set(CaseEvent.objects.filter(kind=CaseEvent.Kind.STATUS).values_list("text", flat=True)) == {
        "Resolved: the account was closed."
    }
    assert not Tranche.objects.exists()


def test_it_is_for_jobs_and_for_the_transitions_it_can_do_in_bulk(tech) -> None:
    accounts = locked(empty_accounts(1))
    with pytest.raises(ValueError, match="for jobs"):
        accounts_transition_bulk(accounts=accounts, transition_name="activate", actor=Actor.staff(tech))
    with pytest.raises(ValueError, match="not a bulk transition"):
        accounts_transition_bulk(accounts=accounts, transition_name="hold", actor=JOB)


@pytest.mark.parametrize("count", [5, 50])
def test_it_takes_the_same_queries_for_5_or_50_accounts(count: int, django_assert_max_num_queries) -> None:
    accounts = empty_accounts(count, customer=make_account().customer)
    fixed_incident(accounts)
    held = locked(accounts)
    # savepoint, accounts, tranches (who has a plan, the new ones), cases (lock, update,
    # timeline), incidents, audit, release savepoint
    with django_assert_max_num_queries(10):
        result = accounts_transition_bulk(accounts=held, transition_name="activate", actor=JOB)
    assert len(result.moved) == count
    assert Case.objects.filter(account__in=accounts, status=Status.RESOLVED).count() == count


# --- the simulated gateway in a batch -----------------------------------------------------------


def test_the_preloaded_simulator_fails_the_same_calls_without_queries(django_assert_num_queries) -> None:
    SimulatorFault.objects.create(name="cfg", scenario="configuration_fault", channel="Mobile app")
    SimulatorFault.objects.create(name="off", scenario="configuration_fault", channel="Online banking", active=False)
    SimulatorFault.objects.create(name="flaky", failure_rate=0.5, product="project_finance")

    def outcomes(gateway: SimulatedGateway) -> list[str]:
        codes = []
        for n in range(30):
            for product, channel in (("working_capital", "Mobile app"), ("project_finance", "Shop"), ("x", "y")):
                try:
                    gateway.activate_card(f"LA{n:010d}", product=product, channel=channel, attempt=1)
                    codes.append("ok")
                except PermanentGatewayError as exc:
                    codes.append(exc.code)
        return codes

    gateway = get_gateway(for_batch=True)
    assert isinstance(gateway, SimulatedGateway)
    with django_assert_num_queries(0):
        preloaded = outcomes(gateway)
    assert preloaded == outcomes(SimulatedGateway())
    assert {"ok", "CFG-CHANNEL-MISSING", "CB-4031"} == set(preloaded)


# --- batch_run_chunk in micro-batches ---------------------------------------------------------


def test_one_micro_batch_records_every_kind_of_outcome(tech) -> None:
    ready = make_account(State.EMPTY, SC, steps=["sms_code"])
    tried_before = make_account(State.EMPTY, SC, steps=["sms_code"])
    ActivationAttempt.objects.create(account=tried_before, number=1, result="permanent_error", duration_ms=5)
    steps_missing = make_account(State.EMPTY, SC, tier="medium", steps=["sms_code"])
    broken = make_account(State.EMPTY, SC, steps=["sms_code"], channel="Broken branch")
    closed = make_account(State.EMPTY, SC, steps=["sms_code"])
    incident = fixed_incident([ready, tried_before, steps_missing, broken, closed])
    SimulatorFault.objects.create(name="still broken", scenario="configuration_fault", channel="Broken branch")
    accounts = [ready, tried_before, steps_missing, broken, closed]
    batch = batch_start(title="after the fix", account_ids=[a.pk for a in accounts], user=tech)
    account_transition(account_id=closed.pk, transition_name="close", actor=JOB)  # meanwhile

    assert batch_run_chunk(batch.pk) == 5

    items = {item.account_id: item for item in batch.items.all()}
    assert {pk: (item.status, item.error_code) for pk, item in items.items()} == {
        ready.pk: ("succeeded", ""),
        tried_before.pk: ("succeeded", ""),
        steps_missing.pk: ("failed", "STEPS-MISSING"),
        broken.pk: ("failed", "CFG-CHANNEL-MISSING"),
        closed.pk: ("failed", "NOT-EMPTY"),
    }
    assert items[closed.pk].error == "account is closed, not empty"
    assert items[steps_missing.pk].error == (
        "core banking activated the card; the customer's verification steps are missing"
    )
    assert items[broken.pk].error == "product working_capital is not configured on channel Broken branch"
    assert all(item.attempted_at for item in items.values())
    batch.refresh_from_db()
    assert (batch.status, batch.processed, batch.succeeded, batch.failed) == ("done", 5, 2, 3)

    attempts = {a.account_id: (a.number, a.result) for a in ActivationAttempt.objects.filter(batch=batch)}
    assert attempts == {
        ready.pk: (1, "succeeded"),
        tried_before.pk: (2, "succeeded"),
        steps_missing.pk: (1, "succeeded"),
        broken.pk: (1, "permanent_error"),
    }
    states = dict(LoanAccount.objects.filter(pk__in=[a.pk for a in accounts]).values_list("pk", "state"))
    assert states == {
        ready.pk: State.ACTIVE,
        tried_before.pk: State.ACTIVE,
        steps_missing.pk: State.EMPTY,
        broken.pk: State.EMPTY,
        closed.pk: State.CLOSED,
    }
    broken.refresh_from_db()
    assert broken.last_error_code == "CFG-CHANNEL-MISSING"
    assert AuditEntry.objects.get(account=tried_before, transition="activate").reason == (
        "Core banking activated the card (attempt 2)."
    )
    assert AuditEntry.objects.get(account=ready, transition="activate").actor_name == BATCH_JOB.name
    incident.refresh_from_db()
    assert incident.status == Incident.IncidentStatus.FIXED  # two of its accounts are still empty


def batch_updates(queries: CaptureQueriesContext) -> int:
    """How many times the batch's counters were written."""
    return sum('UPDATE "accounts_reactivationbatch" SET "processed"' in q["sql"] for q in queries.captured_queries)


def test_the_counters_are_written_once_per_micro_batch(tech) -> None:
    accounts = empty_accounts(7)
    batch = batch_start(title="x", account_ids=[a.pk for a in accounts], user=tech)
    with CaptureQueriesContext(connection) as queries:
        assert batch_run_chunk(batch.pk, micro_batch=3) == 7
    assert batch_updates(queries) == 3
    batch.refresh_from_db()
    assert (batch.status, batch.processed, batch.succeeded, batch.failed) == ("done", 7, 7, 0)


def micro_batch_queries(tech, count: int) -> int:
    accounts = empty_accounts(count, customer=make_account().customer)
    fixed_incident(accounts, title=f"fault {count}")
    batch = batch_start(title="x", account_ids=[a.pk for a in accounts], user=tech)
    with CaptureQueriesContext(connection) as queries:
        assert batch_run_chunk(batch.pk, size=count, micro_batch=count) == count
    return len(queries.captured_queries)


def test_a_micro_batch_takes_the_same_queries_for_5_or_50_accounts(tech) -> None:
    # 22 for the micro-batch (6 of them savepoints), 6 to finish the batch and settle its incident
    assert micro_batch_queries(tech, 5) == micro_batch_queries(tech, 50) == 28


def test_a_cancelled_batch_stops_before_its_next_micro_batch(tech, monkeypatch) -> None:
    accounts = empty_accounts(5)
    batch = batch_start(title="x", account_ids=[a.pk for a in accounts], user=tech)
    activate_card = SimulatedGateway.activate_card

    def cancel_during_the_first_micro_batch(self: SimulatedGateway, *args: object, **kwargs: object) -> None:
        if ReactivationBatch.objects.get(pk=batch.pk).status == ReactivationBatch.Status.RUNNING:
            batch_cancel(batch_id=batch.pk, user=tech)
        activate_card(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(SimulatedGateway, "activate_card", cancel_during_the_first_micro_batch)
    assert batch_run_chunk(batch.pk, micro_batch=2) == 2  # the micro-batch under way still commits
    batch.refresh_from_db()
    assert (batch.status, batch.processed) == ("cancelled", 2)
    assert batch.items.filter(status=ReactivationItem.Status.PENDING).count() == 3
    assert ActivationAttempt.objects.count() == 2
    assert batch_run_chunk(batch.pk) == 0


def test_a_slow_core_banking_commits_each_micro_batch_at_its_time_budget(tech, monkeypatch) -> None:
    monkeypatch.setattr("accounts.batches.MICRO_BATCH_SECONDS", 0)  # every call uses up the budget
    accounts = empty_accounts(3)
    batch = batch_start(title="x", account_ids=[a.pk for a in accounts], user=tech)
    with CaptureQueriesContext(connection) as queries:
        assert batch_run_chunk(batch.pk) == 3
    assert batch_updates(queries) == 3  # one account per micro-batch, each committed on its own
    batch.refresh_from_db()
    assert (batch.status, batch.processed, batch.succeeded) == ("done", 3, 3)
    assert ActivationAttempt.objects.filter(batch=batch).count() == 3


def test_a_slow_chunk_hands_over_to_the_next_job(tech, monkeypatch, django_capture_on_commit_callbacks) -> None:
    monkeypatch.setattr("accounts.batches.CHUNK_SECONDS", 0)  # the first micro-batch uses up the chunk's time
    accounts = empty_accounts(5)
    batch = batch_start(title="x", account_ids=[a.pk for a in accounts], user=tech)
    with django_capture_on_commit_callbacks() as queued:
        assert batch_run_chunk(batch.pk, micro_batch=2) == 2
    assert len(queued) == 1  # the next chunk
    batch.refresh_from_db()
    assert (batch.status, batch.processed) == ("running", 2)


def test_a_finished_batch_settles_the_incident_its_workers_raced_on(tech, monkeypatch) -> None:
    accounts = empty_accounts(3)
    incident = fixed_incident(accounts)
    batch = batch_start(title="x", account_ids=[a.pk for a in accounts], user=tech)
    # Two workers resolving its last cases at once each see the other's still open: neither settles.
    monkeypatch.setattr("casework.services.incidents_settle", lambda incident_ids: 0)
    assert batch_run_chunk(batch.pk, micro_batch=2) == 3
    incident.refresh_from_db()
    assert incident.status == Incident.IncidentStatus.RESOLVED


def test_an_account_issued_again_takes_the_one_account_path(tech) -> None:
    account = make_account(State.EMPTY, SC)  # no steps done yet
    batch = batch_start(title="x", account_ids=[account.pk], user=tech)
    account_transition(account_id=account.pk, transition_name="hold", actor=JOB)
    account_transition(account_id=account.pk, transition_name="release_hold", actor=JOB)  # back to issued
    assert batch_run_chunk(batch.pk) == 1
    account.refresh_from_db()
    assert account.state == State.VERIFYING  # core banking activated the card; the steps are to do
    item = batch.items.get()
    assert (item.status, item.error_code) == ("failed", "STEPS-MISSING")
    assert account.activation_attempts.get().batch == batch


def test_accounts_reactivate_skips_accounts_that_need_no_activation() -> None:
    ready, held = make_account(State.EMPTY, SC, steps=["sms_code"]), make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    outcomes = accounts_reactivate(account_ids=[ready.pk, held.pk], actor=JOB)
    assert outcomes[held.pk].attempt is None and outcomes[held.pk].state == State.EMPTY
    assert outcomes[ready.pk].state == State.ACTIVE
    assert not held.activation_attempts.exists()
