"""Test data. Staff go through the same service as real logins; accounts can start in any state."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth.models import AbstractUser
from django.utils import timezone
from factory.django import DjangoModelFactory

from accounts.gateway import SIMULATED
from accounts.models import CardState, Customer, LoanAccount, Product, State
from accounts.policy import TIERS, Step, activation_due, tranche_amounts
from accounts.validators import credit_code_check_char
from portal.roles import Role
from portal.services import staff_member_save

TEST_PASSWORD = "a-long-test-password"


def make_staff(username: str, role: Role, departments: Sequence[str] = ()) -> AbstractUser:
    return staff_member_save(
        username=username,
        role=role,
        departments=departments,
        first_name=username.capitalize(),
        last_name="Tester",
        password=TEST_PASSWORD,
    )


def credit_code(n: int) -> str:
    body = f"91310000{n:09d}"
    return body + credit_code_check_char(body)


class CustomerFactory(DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"Shanghai Test Machinery No.{n} Co., Ltd.")
    credit_code = factory.Sequence(credit_code)
    contact_name = "Wang Fang"
    contact_mobile = factory.Sequence(lambda n: f"138{n % 100_000_000:08d}")
    email = "finance@test.example"
    language = "en"  # the tests read the English source strings; a customer's default is Chinese
    risk_tier = "low"
    credit_score = 720


class LoanAccountFactory(DjangoModelFactory):
    class Meta:
        model = LoanAccount

    number = factory.Sequence(lambda n: f"LA{n:010d}")
    customer = factory.SubFactory(CustomerFactory)
    product = Product.WORKING_CAPITAL
    channel = "Online banking"
    approved_limit = Decimal("1000000.00")
    card_state = ""
    card_token = factory.LazyAttribute(lambda account: f"CARD-{account.number}" if account.card_state else None)


def card_state_for(state: str, empty_cause: str = "") -> str:
    """The card core banking holds for an account that got to ``state`` through the services."""
    if state == State.APPROVED:
        return ""
    if state == State.CLOSED:
        return CardState.TERMINATED
    if state == State.ACTIVE:
        return CardState.ACTIVE
    if state == State.EMPTY and empty_cause == "risk_hold":
        return CardState.SUSPENDED
    return CardState.UNACTIVATED


def make_account(
    state: str = State.APPROVED,
    empty_cause: str = "",
    *,
    tier: str = "low",
    steps: Sequence[str] | None = None,
    activated: bool | None = None,
    **fields: Any,
) -> LoanAccount:
    """An account already in ``state`` with consistent fields, as if it had got there.

    ``steps`` are the verification steps done (default: all the tier needs when the account
    is or was active, none otherwise). The card core banking holds follows from the state
    (``card_state`` overrides it; ``""`` for none).
    """
    now = timezone.now()
    was_active = activated if activated is not None else state in (State.ACTIVE, State.CLOSED)
    if steps is None:
        steps = list(TIERS[tier].required_steps) if was_active else []
    values: dict[str, Any] = {"state": state, "state_changed_at": now}
    if state != State.APPROVED:
        values["issued_at"] = now
        values["activation_due_at"] = activation_due(now, tier)
    values["card_state"] = card_state_for(state, empty_cause)
    if state == State.EMPTY:
        values.update(empty_cause=empty_cause, empty_since=now)
    if Step.SMS_CODE in steps:
        values["sms_verified_at"] = now
    if Step.PASSWORD in steps:
        values["password_set_at"] = now
    if Step.CREDIT_REVIEW in steps:
        values["credit_reviewed_at"] = now
    customer = fields.pop("customer", None) or CustomerFactory(risk_tier=tier)
    approved = fields.pop("approved_limit", Decimal("1000000.00"))
    if was_active:
        values["activated_at"] = now
        values["released_limit"] = tranche_amounts(approved, tier)[0]
    if state == State.CLOSED:
        values["closed_at"] = now
    values.update(fields)
    account: LoanAccount = LoanAccountFactory.create(customer=customer, approved_limit=approved, **values)
    core_holds(account)
    return account


def core_holds(account: LoanAccount) -> None:
    """Put the account's card into the in-process core banking (the unit tests' gateway), as the desk says."""
    if not account.card_state or not account.card_token:
        return
    SIMULATED.seq += 1
    SIMULATED.cards[account.card_token] = {
        "token": account.card_token,
        "account_number": account.number,
        "state": account.card_state,
        "product": account.product,
        "channel": account.channel,
        "credit_limit": f"{account.approved_limit:.2f}",
        "usable_limit": f"{account.released_limit:.2f}",
        "created_time": "2026-12-01T00:00:00Z",
        "last_modified_time": "2026-12-01T00:00:00Z",
        "activated_time": None,
        "ever_activated": account.activated_at is not None,
        "before_suspension": CardState.ACTIVE if account.activated_at else CardState.UNACTIVATED,
        "seq": SIMULATED.seq,
    }


def bulk_empty_accounts(count: int, cause: str, *, is_drill: bool = False) -> list[LoanAccount]:
    """Many empty accounts at once (no cases yet): for board and scale tests."""
    customer = CustomerFactory.create()
    start = LoanAccount.objects.count()
    now = timezone.now()
    return LoanAccount.objects.bulk_create(
        LoanAccount(
            number=f"LE{start + i:010d}",
            customer=customer,
            product=Product.WORKING_CAPITAL,
            channel="Mobile app",
            approved_limit=Decimal("800000"),
            state=State.EMPTY,
            empty_cause=cause,
            empty_since=now,
            issued_at=now,
            activation_due_at=activation_due(now, customer.risk_tier),
            is_drill=is_drill,
        )
        for i in range(count)
    )
