"""Bulk loads on PostgreSQL: indexes and keys built after the rows, and nothing lost if it fails."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts import demo
from accounts.models import AuditEntry, Customer, LoanAccount, Tranche
from portal.bulk import indexes_deferred, insert_rows
from tests.factories import CustomerFactory

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="indexes are deferred on PostgreSQL only; elsewhere the load is plain (CI runs it on PostgreSQL)",
    ),
]
TABLES = [model._meta.db_table for model in (Customer, LoanAccount, Tranche)]


def schema() -> set[tuple[str, str, bool]]:
    """Every index and constraint of the tables: name, definition, and whether it is partial.

    (A partial index's condition is left out: PostgreSQL may print the same one differently once
    it has been made again from its own printout.)
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) UNION ALL "
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid::regclass::text = ANY(%s)",
            [TABLES, TABLES],
        )
        return {
            (name, definition.split(" WHERE ")[0], " WHERE " in definition) for name, definition in cursor.fetchall()
        }


@pytest.mark.django_db
def test_the_indexes_and_keys_are_dropped_for_the_load_and_built_again_after() -> None:
    before = schema()
    with transaction.atomic(), indexes_deferred(Customer, LoanAccount, Tranche):
        during = {name for name, _definition, _partial in schema()}
        CustomerFactory.create_batch(3)
    assert {"accounts_loanaccount_pkey", "account_approved_limit_positive"} <= during  # keys and checks stay
    assert "accounts_loanaccount_number_key" not in during and "account_state_recent" not in during
    assert not [name for name in during if "_fk_" in name]
    assert schema() == before
    assert Customer.objects.count() == 3


@pytest.mark.django_db
def test_rows_that_break_a_deferred_unique_constraint_fail_the_whole_load() -> None:
    before = schema()
    fields = ("credit_code", "name", "contact_name", "contact_mobile", "email", "risk_tier", "credit_score", "is_drill")
    row = ("91510100MA6C4XYZ9A", "Twice", "Li Na", "13800138000", "", "low", 700, False)
    with pytest.raises(IntegrityError), transaction.atomic(), indexes_deferred(Customer):
        insert_rows(Customer, (*fields, "created_at"), [(*row, timezone.now()), (*row, timezone.now())])
    assert Customer.objects.count() == 0
    assert schema() == before


@pytest.mark.django_db
def test_a_load_that_fails_leaves_the_indexes_as_they_were() -> None:
    before = schema()
    with pytest.raises(ZeroDivisionError), transaction.atomic(), indexes_deferred(LoanAccount):
        _ = 1 / 0
    assert schema() == before


@pytest.mark.django_db(transaction=True)
def test_it_refuses_to_run_outside_a_transaction() -> None:
    before = schema()
    with pytest.raises(RuntimeError, match="inside a transaction"), indexes_deferred(LoanAccount):
        pass
    assert schema() == before


@pytest.mark.django_db
def test_a_large_demo_load_into_small_tables_builds_their_indexes_after(monkeypatch) -> None:
    monkeypatch.setattr(demo, "BULK_LOAD", 50)
    deferred: list[tuple[type, ...]] = []

    def spy(*models: type) -> object:
        deferred.append(models)
        return indexes_deferred(*models)

    monkeypatch.setattr(demo, "indexes_deferred", spy)
    before = schema()
    assert demo.demo_accounts_create(count=60) == 60
    assert deferred == [(Customer, LoanAccount, Tranche, AuditEntry)]
    assert schema() == before
    assert LoanAccount.objects.count() == 60 and AuditEntry.objects.count() > 60
    assert demo.demo_accounts_create(count=55) == 55  # fewer than the table holds: indexes stay
    assert len(deferred) == 1
