"""Core banking's confirmations applied in bulk: many accounts per transition, with every invariant kept."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import AuditEntry, Channel, EmptyCause, LoanAccount, State, Tranche
from accounts.policy import tranche_amounts
from accounts.services import (
    BULK_TRANSITIONS,
    AccountActionError,
    account_transition,
    accounts_transition_bulk,
)
from casework.demo import cases_open_for_empty_accounts
from casework.models import Case, CaseEvent, Incident, Status
from portal.actors import Actor
from tests.factories import make_account

pytestmark = pytest.mark.django_db

JOB = Actor.system("test-job", Channel.JOB)
SC = EmptyCause.SYSTEM_CONFIG


def confirmed(accounts: Sequence[LoanAccount]) -> dict[int, str]:
    return {account.pk: f"command {account.pk}" for account in accounts}


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
        core_confirmation=confirmed([low, high, planned]),
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
        ) == (
            "activate",
            State.EMPTY,
            State.ACTIVE,
            None,
            "test-job",
            Channel.JOB,
            None,
            {"core": f"command {account.pk}"},
        )
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

    accounts_transition_bulk(
        accounts=locked(accounts), transition_name="activate", actor=JOB, core_confirmation=confirmed(accounts)
    )

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

    everyone = [ready, steps_missing, on_hold, active]
    result = accounts_transition_bulk(
        accounts=locked(everyone), transition_name="activate", actor=JOB, core_confirmation=confirmed(everyone)
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
        account_transition(
            account_id=alone.pk, transition_name=transition_name, actor=JOB, core_confirmation=f"command {bulk.pk}"
        )
    accounts_transition_bulk(
        accounts=locked([bulk]), transition_name=transition_name, actor=JOB, core_confirmation=confirmed([bulk])
    )

    def outcome(account: LoanAccount) -> tuple[object, ...]:
        account.refresh_from_db()
        audit = list(
            account.audit_entries.values_list(
                "transition", "from_state", "to_state", "actor_name", "channel", "details"
            )
        )
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
    accounts_transition_bulk(
        accounts=locked(accounts),
        transition_name="close",
        actor=JOB,
        core_confirmation=confirmed(accounts),
        reason="wound down",
    )
    assert set(LoanAccount.objects.filter(pk__in=[a.pk for a in accounts]).values_list("state", flat=True)) == {
        State.CLOSED
    }
    assert set(CaseEvent.objects.filter(kind=CaseEvent.Kind.STATUS).values_list("text", flat=True)) == {
        "Resolved: the account was closed."
    }
    assert not Tranche.objects.exists()


def test_it_applies_only_core_bankings_answers_and_the_transitions_it_can_do_in_bulk(tech) -> None:
    accounts = locked(empty_accounts(1))
    with pytest.raises(ValueError, match="applies core banking's answers"):
        accounts_transition_bulk(
            accounts=accounts,
            transition_name="activate",
            actor=Actor.staff(tech),
            core_confirmation=confirmed(accounts),
        )
    with pytest.raises(ValueError, match="not a bulk transition"):
        accounts_transition_bulk(
            accounts=accounts, transition_name="hold", actor=JOB, core_confirmation=confirmed(accounts)
        )
    with pytest.raises(ValueError, match="needs core banking's confirmation"):
        accounts_transition_bulk(accounts=accounts, transition_name="activate", actor=JOB, core_confirmation={})
    assert LoanAccount.objects.get(pk=accounts[0].pk).state == State.EMPTY


@pytest.mark.parametrize("count", [5, 50])
def test_it_takes_the_same_queries_for_5_or_50_accounts(count: int, django_assert_max_num_queries) -> None:
    accounts = empty_accounts(count, customer=make_account().customer)
    fixed_incident(accounts)
    held = locked(accounts)
    # savepoint, accounts, tranches (who has a plan, the new ones), cases (lock, update,
    # timeline), incidents, audit, release savepoint
    with django_assert_max_num_queries(10):
        result = accounts_transition_bulk(
            accounts=held, transition_name="activate", actor=JOB, core_confirmation=confirmed(held)
        )
    assert len(result.moved) == count
    assert Case.objects.filter(account__in=accounts, status=Status.RESOLVED).count() == count
