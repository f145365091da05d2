"""Every transition from every state: allowed ones move and audit once, the rest change nothing.

Here transitions are applied as core banking's confirmations would apply them (``core_confirmation``
for the ones that make the line usable); deciding them is in test_core_commands.py.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry, Channel, EmptyCause, LoanAccount, State
from accounts.services import CONFIRMED_BY_CORE, AccountActionError, Actor, account_transition
from tests.factories import make_account

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system("test-job", Channel.JOB)
SC, CI, RH = EmptyCause.SYSTEM_CONFIG, EmptyCause.CUSTOMER_INCOMPLETE, EmptyCause.RISK_HOLD
STARTS = {
    "approved": (State.APPROVED, ""),
    "issued": (State.ISSUED, ""),
    "verifying": (State.VERIFYING, ""),
    "empty/system_config": (State.EMPTY, SC),
    "empty/customer_incomplete": (State.EMPTY, CI),
    "empty/risk_hold": (State.EMPTY, RH),
    "active": (State.ACTIVE, ""),
    "closed": (State.CLOSED, ""),
}
EMPTY_SC, EMPTY_CI, EMPTY_RH = (State.EMPTY, SC), (State.EMPTY, CI), (State.EMPTY, RH)
ACTIVE, CLOSED = (State.ACTIVE, ""), (State.CLOSED, "")
# (transition, start) -> (state, cause) after it; missing pairs are refused.
ALLOWED = {
    ("issue", "approved"): (State.ISSUED, ""),
    ("begin_verification", "issued"): (State.VERIFYING, ""),
    ("begin_verification", "empty/customer_incomplete"): (State.VERIFYING, ""),
    ("activate", "issued"): ACTIVE,
    ("activate", "verifying"): ACTIVE,
    ("activate", "empty/system_config"): ACTIVE,
    ("fail_activation", "issued"): EMPTY_SC,
    ("fail_activation", "verifying"): EMPTY_SC,
    ("mark_stalled", "issued"): EMPTY_CI,
    ("mark_stalled", "verifying"): EMPTY_CI,
    ("hold", "issued"): EMPTY_RH,
    ("hold", "verifying"): EMPTY_RH,
    ("hold", "active"): EMPTY_RH,
    ("hold", "empty/system_config"): EMPTY_RH,
    ("hold", "empty/customer_incomplete"): EMPTY_RH,
    # Never activated: back to issued, and core banking activates the card once its steps are done.
    ("release_hold", "empty/risk_hold"): (State.ISSUED, ""),
    **{("close", start): CLOSED for start in STARTS if start != "closed"},
}
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
CASES = [(name, start) for name in TRANSITIONS for start in STARTS]


@pytest.mark.parametrize(("transition_name", "start"), CASES, ids=[f"{t}-from-{s}" for t, s in CASES])
def test_each_transition_from_each_state(transition_name: str, start: str) -> None:
    state, cause = STARTS[start]
    # Every verification step of its tier done, so only the state decides.
    account = make_account(state, cause, steps=["sms_code"])
    before = (account.state, account.empty_cause, account.version, account.released_limit)

    confirmation = "command 1" if transition_name in CONFIRMED_BY_CORE else ""
    if (transition_name, start) in ALLOWED:
        account_transition(
            account_id=account.pk,
            transition_name=transition_name,
            actor=SYSTEM,
            reason="test",
            core_confirmation=confirmation,
        )
        account = LoanAccount.objects.get(pk=account.pk)
        assert (account.state, account.empty_cause) == ALLOWED[(transition_name, start)]
        assert (account.state == State.EMPTY) == bool(account.empty_since)
        assert account.version == before[2] + 1
        (entry,) = AuditEntry.objects.filter(account=account)
        assert (entry.transition, entry.from_state, entry.to_state) == (transition_name, state, account.state)
        assert (entry.actor_name, entry.channel, entry.reason) == ("test-job", Channel.JOB, "test")
    else:
        with pytest.raises(AccountActionError, match="not possible"):
            account_transition(
                account_id=account.pk,
                transition_name=transition_name,
                actor=SYSTEM,
                reason="test",
                core_confirmation=confirmation,
            )
        account = LoanAccount.objects.get(pk=account.pk)
        assert (account.state, account.empty_cause, account.version, account.released_limit) == before
        assert not AuditEntry.objects.filter(account=account).exists()


def test_activation_waits_for_the_tiers_steps() -> None:
    account = make_account(State.VERIFYING, tier="medium", steps=["sms_code"])
    with pytest.raises(AccountActionError, match="still missing Password set"):
        account_transition(account_id=account.pk, transition_name="activate", actor=SYSTEM, core_confirmation="event 1")
    assert LoanAccount.objects.get(pk=account.pk).state == State.VERIFYING


def test_activation_releases_the_first_tranche_only_on_a_staged_line() -> None:
    high = make_account(State.VERIFYING, tier="high", steps=["sms_code", "password", "credit_review"])
    account_transition(account_id=high.pk, transition_name="activate", actor=SYSTEM, core_confirmation="command 1")
    high.refresh_from_db()
    assert high.released_limit == high.approved_limit * 3 / 10
    assert [(t.sequence, t.status) for t in high.tranches.all()] == [(1, "released"), (2, "planned"), (3, "planned")]
    assert sum(t.amount for t in high.tranches.all()) == high.approved_limit

    low = make_account(State.VERIFYING, tier="low", steps=["sms_code"])
    account_transition(account_id=low.pk, transition_name="activate", actor=SYSTEM, core_confirmation="command 2")
    low.refresh_from_db()
    assert low.released_limit == low.approved_limit


TINY_PLANS = [("0.01", ["0.01"]), ("0.03", ["0.03"]), ("0.10", ["0.03", "0.03", "0.04"])]


@pytest.mark.parametrize(("approved", "plan"), TINY_PLANS)
def test_a_staged_line_too_small_to_split_has_no_empty_tranche(approved: str, plan: list[str]) -> None:
    """Found by the property test: a ¥0.01 high-risk line planned two tranches of ¥0.00."""
    from decimal import Decimal

    from accounts.policy import tranche_amounts

    assert tranche_amounts(Decimal(approved), "high") == [Decimal(amount) for amount in plan]
    line = make_account(
        State.VERIFYING, tier="high", steps=["sms_code", "password", "credit_review"], approved_limit=Decimal(approved)
    )
    account_transition(account_id=line.pk, transition_name="activate", actor=SYSTEM, core_confirmation="command 1")
    assert [t.amount for t in line.tranches.order_by("sequence")] == [Decimal(amount) for amount in plan]


def test_releasing_a_hold_on_a_never_activated_account_goes_back_to_issued() -> None:
    account = make_account(State.EMPTY, RH, tier="medium", steps=["sms_code"])
    account_transition(
        account_id=account.pk, transition_name="release_hold", actor=SYSTEM, core_confirmation="command 1"
    )
    assert LoanAccount.objects.get(pk=account.pk).state == State.ISSUED


@pytest.mark.parametrize(("state", "cause"), [(State.ISSUED, ""), (State.VERIFYING, ""), (State.EMPTY, SC)])
def test_nothing_activates_a_line_without_core_bankings_confirmation(state: str, cause: str) -> None:
    account = make_account(state, cause, steps=["sms_code"])
    with pytest.raises(ValueError, match="waits for core banking"):
        account_transition(account_id=account.pk, transition_name="activate", actor=SYSTEM, reason="test")
    held = make_account(State.EMPTY, RH, activated=True)
    with pytest.raises(ValueError, match="waits for core banking"):
        account_transition(account_id=held.pk, transition_name="release_hold", actor=SYSTEM, reason="test")
    assert not LoanAccount.objects.filter(state=State.ACTIVE).exists()
    assert not AuditEntry.objects.exists()


def test_failed_activation_records_the_error_code() -> None:
    account = make_account(State.ISSUED)
    account_transition(account_id=account.pk, transition_name="fail_activation", actor=SYSTEM, error_code="CB-4031")
    account.refresh_from_db()
    assert account.last_error_code == "CB-4031"
    assert AuditEntry.objects.get(account=account).details == {"error_code": "CB-4031"}


def test_the_state_cannot_be_set_directly() -> None:
    account = make_account(State.ISSUED)
    with pytest.raises(AttributeError, match="Direct state modification is not allowed"):
        account.state = State.ACTIVE


def test_a_refused_transition_shows_a_clear_message_on_the_page(client: Client, credit) -> None:
    account = make_account(State.APPROVED)
    client.force_login(credit)
    response = client.post(
        reverse("accounts:action", args=[account.number, "hold"]),
        {"reason": "suspicious", "version": account.version},
        follow=True,
    )
    assert response.status_code == 200
    assert "Put on risk hold is not possible while the account is Approved." in response.content.decode()
    assert LoanAccount.objects.get(pk=account.pk).state == State.APPROVED


def test_a_recorded_verification_step_is_audited(credit) -> None:
    from accounts.services import account_step_record

    account = make_account(State.VERIFYING, tier="high", steps=["sms_code", "password"])
    account_step_record(account_id=account.pk, step="credit_review", actor=Actor.staff(credit), reason="file ok")
    account.refresh_from_db()
    assert (account.credit_reviewed_by, account.version) == (credit, 2)
    entry = AuditEntry.objects.get(account=account)
    assert (entry.transition, entry.reason, entry.details, entry.actor) == (
        "record_step",
        "file ok",
        {"step": "credit_review"},
        credit,
    )


def test_only_credit_approves_the_credit_review(service) -> None:
    from django.core.exceptions import PermissionDenied

    from accounts.services import account_step_record

    account = make_account(State.VERIFYING, tier="high", steps=["sms_code", "password"])
    with pytest.raises(PermissionDenied):
        account_step_record(account_id=account.pk, step="credit_review", actor=Actor.staff(service))
    assert LoanAccount.objects.get(pk=account.pk).credit_reviewed_at is None
