"""Retention: customers whose accounts have all been closed for five years lose their personal data, nothing else."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.jobs import anonymise_closed_customers
from accounts.models import AuditEntry, CoreEvent, Customer, LoanAccount, Notification, State
from accounts.retention import retention_cutoff
from accounts.services import Actor, account_transition
from portal import audit
from portal.models import SecurityEvent
from tests.factories import CustomerFactory, make_account

pytestmark = pytest.mark.django_db
YEAR = timedelta(days=365)


def closed(customer: Customer, years_ago: float) -> LoanAccount:
    account = make_account(State.CLOSED, customer=customer)
    LoanAccount.objects.filter(pk=account.pk).update(closed_at=timezone.now() - years_ago * YEAR)
    return account


def test_customers_closed_for_five_years_are_anonymised_and_the_facts_kept(credit) -> None:
    old = CustomerFactory.create(name="成都锦江贸易有限公司", contact_mobile="13912345678", email="cfo@example.cn")
    account = closed(old, 5.1)
    Notification.objects.create(
        account=account, medium="sms", template="reminder", recipient="13912345678", body="【XX银行】成都锦江贸易…"
    )
    event = CoreEvent.objects.create(
        event_id="evt-1",
        event_type="loan.approved",
        account=account,
        payload={"type": "loan.approved", "data": {"customer": {"contact_mobile": "13912345678"}, "line": {"x": 1}}},
        outcome="created",
    )
    recent = closed(CustomerFactory.create(), 4.9)
    mixed = CustomerFactory.create()
    closed(mixed, 6)
    make_account(State.ACTIVE, customer=mixed)  # still a customer: nothing goes
    limit_before = account.approved_limit

    counts = anonymise_closed_customers()

    assert counts == {"customers": 1, "messages": 1}
    old.refresh_from_db()
    assert old.anonymised_at is not None
    assert (old.contact_mobile, old.email, old.contact_name) == ("", "", "")
    assert "成都锦江" not in old.name and old.credit_code.startswith("ANON")
    message = Notification.objects.get(account=account)
    assert (message.recipient, message.body, message.template) == ("", "", "reminder")
    event.refresh_from_db()
    assert event.payload["data"] == {"customer": {}, "line": {"x": 1}} and event.outcome == "created"
    account.refresh_from_db()
    assert account.approved_limit == limit_before and account.state == State.CLOSED  # the financial facts stay
    for untouched in (recent.customer, mixed):
        untouched.refresh_from_db()
        assert untouched.anonymised_at is None and untouched.contact_mobile
    record = SecurityEvent.objects.get(kind=SecurityEvent.Kind.ANONYMISED)
    assert (
        record.subject_id == old.pk and account.number in record.subject_label and record.actor_name == "data-retention"
    )
    assert anonymise_closed_customers() == {"customers": 0, "messages": 0}  # once


def test_the_audit_trail_survives_retention_and_still_verifies(credit) -> None:
    customer = CustomerFactory.create()
    account = make_account(State.ACTIVE, customer=customer)
    account_transition(account_id=account.pk, transition_name="close", actor=Actor.staff(credit), reason="repaid")
    LoanAccount.objects.filter(pk=account.pk).update(closed_at=timezone.now() - 6 * YEAR)
    audit.seal_pending()
    anonymise_closed_customers()
    assert AuditEntry.objects.filter(account=account, transition="close", reason="repaid").exists()
    assert audit.verify().ok


def test_the_period_is_configurable(settings) -> None:
    settings.RETENTION_YEARS = 7
    now = timezone.now()
    assert now - retention_cutoff(now) > 6.9 * YEAR
    closed(CustomerFactory.create(), 6)
    assert anonymise_closed_customers()["customers"] == 0
