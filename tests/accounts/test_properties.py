"""Random sequences of transitions never break the account's invariants."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import AuditEntry, LoanAccount, State
from accounts.policy import TIERS
from accounts.services import AccountActionError, Actor, account_transition
from tests.factories import make_account

TRANSITIONS = [
    "issue",
    "begin_verification",
    "activate",
    "fail_activation",
    "mark_stalled",
    "hold",
    "release_hold",
    "close",
]
SYSTEM = Actor.system("property-test", "job")


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    tier=st.sampled_from(["low", "medium", "high"]),
    steps=st.lists(st.sampled_from(["sms_code", "password", "credit_review"]), unique=True),
    approved=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999999.99"), places=2),
    sequence=st.lists(st.sampled_from(TRANSITIONS), max_size=12),
)
def test_random_transition_sequences_keep_the_invariants(
    tier: str, steps: list[str], approved: Decimal, sequence: list[str]
) -> None:
    account = make_account(State.APPROVED, tier=tier, steps=steps, approved_limit=approved)
    applied = 0
    was_closed = False
    for transition_name in sequence:
        try:
            account_transition(account_id=account.pk, transition_name=transition_name, actor=SYSTEM, reason="p")
            applied += 1
            assert not was_closed, "closed is terminal"
        except AccountActionError:
            pass
        current = LoanAccount.objects.get(pk=account.pk)
        was_closed = was_closed or current.state == State.CLOSED
        assert Decimal(0) <= current.released_limit <= current.approved_limit
        assert (current.state == State.EMPTY) == bool(current.empty_cause) == (current.empty_since is not None)
        assert AuditEntry.objects.filter(account=account).count() == applied == current.version - 1
        if current.state == State.ACTIVE:
            assert not current.steps_missing() or current.activated_at
            assert current.released_limit > 0
        released = sum(t.amount for t in current.tranches.filter(status="released"))
        if current.tranches.exists():
            assert released == current.released_limit
            assert len(current.tranches.all()) == len(TIERS[tier].tranche_shares)
