"""Random sequences of decisions and core banking's answers never break the account's invariants."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.delivery import commands_deliver
from accounts.gateway import SIMULATED
from accounts.models import AuditEntry, CoreCommand, LoanAccount, State
from accounts.policy import TIERS
from accounts.services import AccountActionError, Actor, account_decide
from tests.factories import make_account

DECISIONS = [
    "issue",
    "begin_verification",
    "activate",
    "fail_activation",
    "mark_stalled",
    "hold",
    "release_hold",
    "close",
]
CORE_ANSWERS = "core answers"  # a delivery run: core banking carries out what is due
SYSTEM = Actor.system("property-test", "job")
CARD_FOR = {State.ACTIVE: "ACTIVE", State.CLOSED: "TERMINATED"}


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tier=st.sampled_from(["low", "medium", "high"]),
    steps=st.lists(st.sampled_from(["sms_code", "password", "credit_review"]), unique=True),
    approved=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2),
    sequence=st.lists(st.sampled_from([*DECISIONS, CORE_ANSWERS]), max_size=14),
)
def test_random_sequences_keep_the_invariants(
    tier: str, steps: list[str], approved: Decimal, sequence: list[str]
) -> None:
    SIMULATED.reset()
    account = make_account(State.APPROVED, tier=tier, steps=steps, approved_limit=approved)
    was_closed = False
    for step in [*sequence, CORE_ANSWERS]:
        if step == CORE_ANSWERS:
            commands_deliver()
        else:
            with contextlib.suppress(AccountActionError):  # refused decisions change nothing
                account_decide(account_id=account.pk, transition_name=step, actor=SYSTEM, reason="p")
        current = LoanAccount.objects.get(pk=account.pk)
        assert not (was_closed and current.state != State.CLOSED), "closed is terminal"
        was_closed = was_closed or current.state == State.CLOSED
        assert Decimal(0) <= current.released_limit <= current.approved_limit
        assert (current.state == State.EMPTY) == bool(current.empty_cause) == (current.empty_since is not None)
        entries = AuditEntry.objects.filter(account=account)
        assert entries.exclude(transition="ask_core").count() == current.version - 1
        # Nothing made the line usable but core banking's word.
        for entry in entries.filter(to_state=State.ACTIVE).exclude(from_state=State.ACTIVE):
            assert entry.details.get("core", "").startswith("command "), entry
        if current.state == State.ACTIVE:
            assert not current.steps_missing() or current.activated_at
            assert current.released_limit > 0
        released = sum(t.amount for t in current.tranches.filter(status="released"))
        if current.tranches.exists():
            assert released == current.released_limit
            assert len(current.tranches.all()) == len(TIERS[tier].tranche_shares)
    # Once core has answered everything, the desk and core banking hold the same card.
    assert not CoreCommand.objects.filter(account=account, status="pending").exists()
    if current.card_state and current.state in CARD_FOR:
        assert current.card_state == CARD_FOR[current.state]
        assert SIMULATED.cards[str(current.card_token)]["state"] == CARD_FOR[current.state]
    if current.on_hold and current.card_state:
        assert SIMULATED.cards[str(current.card_token)]["state"] == "SUSPENDED"
