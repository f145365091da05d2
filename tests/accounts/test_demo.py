"""The bulk demo data: every state and cause, valid rows, consistent history, safe to run twice."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from itertools import pairwise
from typing import Any

import pytest
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from accounts.demo import demo_accounts_create
from accounts.models import AuditEntry, Customer, EmptyCause, LoanAccount, Product, State, Tranche
from accounts.policy import TIERS, RiskTier, tranche_amounts
from accounts.validators import MOBILE_PATTERN, validate_credit_code

pytestmark = pytest.mark.django_db

COUNT = 300


@pytest.fixture
def demo() -> int:
    return demo_accounts_create(count=COUNT)


def test_it_creates_the_requested_number_of_accounts(demo: int) -> None:
    assert demo == COUNT
    assert LoanAccount.objects.count() == COUNT
    customers = Customer.objects.count()
    assert COUNT / 1.6 < customers < COUNT
    assert not Customer.objects.filter(accounts__isnull=True).exists()


def test_it_covers_every_state_cause_tier_and_product(demo: int) -> None:
    states = Counter(LoanAccount.objects.values_list("state", flat=True))
    assert set(states) == set(State.values)
    assert states[State.ACTIVE] > states[State.CLOSED]
    causes = set(LoanAccount.objects.filter(state=State.EMPTY).values_list("empty_cause", flat=True))
    assert causes == set(EmptyCause.values)
    assert set(Customer.objects.values_list("risk_tier", flat=True)) == set(RiskTier.values)
    assert set(LoanAccount.objects.values_list("product", flat=True)) == set(Product.values)
    assert LoanAccount.objects.values("channel").distinct().count() >= 5


def test_it_creates_rows_that_pass_full_clean() -> None:
    demo_accounts_create(count=COUNT)
    for customer in Customer.objects.order_by("?")[:50]:
        customer.full_clean()
        validate_credit_code(customer.credit_code)
        assert MOBILE_PATTERN.match(customer.contact_mobile)
        assert customer.name.endswith("有限公司")  # 上海华鑫精密机械有限公司
    state_field = LoanAccount._meta.get_field("state")
    for account in LoanAccount.objects.select_related("customer").order_by("?")[:50]:
        # clean_fields() assigns every cleaned value back, and the protected FSM field refuses
        # that; so the state is cleaned without the assignment and the constraints checked whole.
        account.full_clean(exclude=["state"])
        state_field.clean(account.state, account)
        account.validate_constraints()
        assert account.number.startswith("LA") and len(account.number) == 12


def test_it_respects_the_account_constraints(demo: int) -> None:
    assert not LoanAccount.objects.filter(released_limit__gt=F("approved_limit")).exists()
    assert not LoanAccount.objects.filter(approved_limit__lte=0).exists()
    empty = Q(state=State.EMPTY)
    has_cause = ~Q(empty_cause="") & Q(empty_since__isnull=False)
    assert not LoanAccount.objects.filter(empty & ~has_cause).exists()
    assert not LoanAccount.objects.filter(~empty & (~Q(empty_cause="") | Q(empty_since__isnull=False))).exists()
    assert (
        LoanAccount.objects.filter(state=State.EMPTY, empty_cause=EmptyCause.SYSTEM_CONFIG)
        .exclude(last_error_code="")
        .count()
        == LoanAccount.objects.filter(state=State.EMPTY, empty_cause=EmptyCause.SYSTEM_CONFIG).count()
    )


def test_it_orders_the_timestamps_of_each_account(demo: int) -> None:
    now = timezone.now()
    for account in LoanAccount.objects.all():
        assert now - timedelta(days=60) <= account.created_at <= now
        chain = [account.created_at, account.issued_at, account.activated_at, account.closed_at]
        present = [moment for moment in chain if moment is not None]
        assert present == sorted(present)
        assert account.state_changed_at <= now
        assert account.created_at <= account.state_changed_at
        if account.empty_since:
            assert account.empty_since == account.state_changed_at
            assert account.empty_since >= now - timedelta(days=30, minutes=1)
        for step_at in (account.sms_verified_at, account.password_set_at, account.credit_reviewed_at):
            if step_at is not None:
                assert account.issued_at is not None and account.issued_at <= step_at <= now


def test_it_gives_each_state_its_verification_steps_and_tranches(demo: int) -> None:
    for account in LoanAccount.objects.select_related("customer").prefetch_related("tranches"):
        tranches = list(account.tranches.all())
        if account.state == State.ACTIVE:
            assert account.steps_missing() == []
            assert account.activated_at is not None
        if account.state == State.EMPTY and account.empty_cause == EmptyCause.CUSTOMER_INCOMPLETE:
            assert account.steps_missing()
        if account.state in (State.ISSUED, State.VERIFYING):
            assert account.steps_missing()
        if account.activated_at:
            plan = tranche_amounts(account.approved_limit, account.tier)
            assert account.released_limit == plan[0]
            assert [tranche.amount for tranche in tranches] == plan
            assert [tranche.status for tranche in tranches] == [
                Tranche.Status.RELEASED,
                *[Tranche.Status.PLANNED] * (len(plan) - 1),
            ]
            assert tranches[0].released_at == account.activated_at
            assert len(tranches) == len(TIERS[account.tier].tranche_shares)
        else:
            assert account.released_limit == 0
            assert tranches == []
    held_after_activation = LoanAccount.objects.filter(
        state=State.EMPTY, empty_cause=EmptyCause.RISK_HOLD, activated_at__isnull=False
    )
    assert not held_after_activation.filter(released_limit=0).exists()


def test_it_writes_the_audit_history_that_led_to_each_state(demo: int) -> None:
    accounts = LoanAccount.objects.annotate(audits=Count("audit_entries"))
    for account in accounts:
        assert account.audits == account.version - 1
        entries = list(account.audit_entries.order_by("created_at", "id"))
        if not entries:
            assert account.state == State.APPROVED
            continue
        assert entries[0].from_state == State.APPROVED
        assert entries[-1].to_state == account.state
        assert entries[-1].created_at == account.state_changed_at
        for before, after in pairwise(entries):
            assert before.to_state == after.from_state
            assert before.created_at <= after.created_at
        assert all(entry.actor_id is None and entry.actor_name for entry in entries)
    assert set(AuditEntry.objects.values_list("transition", flat=True)) == {
        "issue",
        "begin_verification",
        "activate",
        "fail_activation",
        "mark_stalled",
        "hold",
        "close",
    }


def test_it_can_run_twice_without_collisions() -> None:
    assert demo_accounts_create(count=COUNT) == COUNT
    assert demo_accounts_create(count=COUNT) == COUNT
    assert LoanAccount.objects.count() == 2 * COUNT
    assert LoanAccount.objects.values("number").distinct().count() == 2 * COUNT
    assert Customer.objects.values("credit_code").distinct().count() == Customer.objects.count()
    numbers = sorted(int(number[2:]) for number in LoanAccount.objects.values_list("number", flat=True))
    assert numbers == list(range(numbers[0], numbers[0] + 2 * COUNT))


def test_it_is_deterministic_for_a_seed() -> None:
    def created() -> tuple[list[Any], list[Any]]:
        with transaction.atomic():  # rolled back: the audit trail's rows are never deleted
            demo_accounts_create(count=50, seed=7)
            accounts = list(LoanAccount.objects.order_by("number").values_list("state", "product", "approved_limit"))
            customers = list(Customer.objects.order_by("id").values_list("name", "credit_code"))
            transaction.set_rollback(True)
        return accounts, customers

    first = created()
    assert len(first[0]) == 50
    assert created() == first


def test_it_marks_drill_data() -> None:
    demo_accounts_create(count=40, is_drill=True)
    demo_accounts_create(count=30)
    assert LoanAccount.objects.filter(is_drill=True).count() == 40
    assert LoanAccount.objects.filter(is_drill=False).count() == 30
    assert not LoanAccount.objects.filter(is_drill=True, customer__is_drill=False).exists()
    assert not LoanAccount.objects.filter(is_drill=False, customer__is_drill=True).exists()


def test_it_creates_nothing_for_a_count_of_zero() -> None:
    assert demo_accounts_create(count=0) == 0
    assert not LoanAccount.objects.exists()
    assert not Customer.objects.exists()


def test_it_fills_batches_exactly_when_count_is_not_a_multiple() -> None:
    assert demo_accounts_create(count=23, batch_size=10) == 23
    assert LoanAccount.objects.count() == 23
    assert Tranche.objects.filter(account__state=State.APPROVED).count() == 0
