"""The audit trail no one can rewrite: append-only tables, a hash chain, and ``verify_audit`` naming a tampered row."""

from __future__ import annotations

from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from accounts.models import AuditEntry, EmptyCause, State
from accounts.services import Actor, account_transition
from casework.models import CaseEvent
from casework.services import case_open_for_account
from portal import audit
from portal.models import AuditSeal, SecurityEvent
from tests.factories import make_account

pytestmark = pytest.mark.django_db
on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only triggers are PostgreSQL's (CI runs on PostgreSQL)"
)


def history(credit) -> tuple[AuditEntry, CaseEvent, SecurityEvent]:
    """A hold (an account's audit entry), a case opened (its timeline) and a reveal (the access log)."""
    account = make_account(State.ACTIVE)
    account_transition(account_id=account.pk, transition_name="hold", actor=Actor.staff(credit), reason="fraud check")
    empty = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    case = case_open_for_account(account=empty, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=Actor.system("t", "job"))
    event = audit.record(
        SecurityEvent.Kind.REVEAL, actor=credit, subject_id=empty.customer_id, field="mobile", reason="call back"
    )
    return AuditEntry.objects.get(account=account), CaseEvent.objects.filter(case=case).earliest("id"), event


def behind_the_portals_back(sql: str, params: list[str | int]) -> None:
    """What a database superuser can do: switch the triggers off for one statement."""
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            cursor.execute("SET session_replication_role = DEFAULT")


def test_every_audit_row_is_sealed_into_one_chain_that_verifies(credit, capsys) -> None:
    entry, event, access = history(credit)
    assert audit.seal_pending() == AuditEntry.objects.count() + CaseEvent.objects.count() + 1

    links = list(AuditSeal.objects.order_by("seq"))
    assert [link.seq for link in links] == list(range(1, len(links) + 1))
    assert links[0].prev_hash == audit.GENESIS
    assert all(later.prev_hash == earlier.row_hash for earlier, later in pairwise(links))
    sealed = {(link.table, link.row_id) for link in links}
    assert {
        ("accounts.AuditEntry", entry.pk),
        ("casework.CaseEvent", event.pk),
        ("portal.SecurityEvent", access.pk),
    } <= sealed

    assert audit.seal_pending() == 0  # sealed once
    call_command("verify_audit")
    assert f"The audit chain verifies: {len(links)} links." in capsys.readouterr().out


def test_a_row_saved_in_a_transaction_is_sealed_when_it_commits(credit, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        access = audit.record(SecurityEvent.Kind.EXPORT, actor=credit, details={"rows": 3})
    assert AuditSeal.objects.filter(table="portal.SecurityEvent", row_id=access.pk).exists()


def test_drill_rows_are_not_part_of_the_trail(credit) -> None:
    drill_account = make_account(State.ACTIVE, is_drill=True)
    account_transition(account_id=drill_account.pk, transition_name="hold", actor=Actor.staff(credit), reason="drill")
    audit.seal_pending()
    assert not AuditSeal.objects.filter(table="accounts.AuditEntry").exists()


@on_postgresql
@pytest.mark.parametrize(
    "statement", ["UPDATE {table} SET {column} = 'x' WHERE {key} = %s", "DELETE FROM {table} WHERE {key} = %s"]
)
def test_the_database_refuses_to_change_or_delete_an_audit_row(credit, statement: str) -> None:
    entry, event, access = history(credit)
    audit.seal_pending()
    seal = AuditSeal.objects.earliest("seq")
    for table, column, key, pk in (
        ("accounts_auditentry", "reason", "id", entry.pk),
        ("casework_caseevent", "text", "id", event.pk),
        ("portal_securityevent", "reason", "id", access.pk),
        ("portal_auditseal", "row_hash", "seq", seal.pk),
    ):
        with (
            pytest.raises(DatabaseError, match="the audit trail is append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement.format(table=table, column=column, key=key), [pk])
    entry.refresh_from_db()
    assert entry.reason == "fraud check"


@on_postgresql
def test_verify_audit_names_a_row_changed_behind_the_portals_back(credit, capsys) -> None:
    entry, _event, _access = history(credit)
    audit.seal_pending()
    call_command("verify_audit")

    behind_the_portals_back("UPDATE accounts_auditentry SET reason = 'nothing to see' WHERE id = %s", [entry.pk])

    with pytest.raises(CommandError, match="The audit chain does not verify: 1 problems"):
        call_command("verify_audit")
    err = capsys.readouterr().err
    assert f"accounts.AuditEntry #{entry.pk}" in err
    assert "the row has been changed since it was sealed" in err


@on_postgresql
def test_verify_audit_names_a_deleted_row_and_a_rewritten_link(credit, capsys) -> None:
    _entry, _event, access = history(credit)
    audit.seal_pending()
    behind_the_portals_back("DELETE FROM portal_securityevent WHERE id = %s", [access.pk])
    first = AuditSeal.objects.earliest("seq")
    behind_the_portals_back("UPDATE portal_auditseal SET prev_hash = %s WHERE seq = %s", ["f" * 64, first.seq])

    with pytest.raises(CommandError):
        call_command("verify_audit")
    err = capsys.readouterr().err
    assert f"portal.SecurityEvent #{access.pk}" in err and "the row has been deleted" in err
    assert f"(link {first.seq}): the chain is broken before this link" in err


def test_the_nightly_job_fails_on_a_broken_chain_and_seals_everything_first(credit) -> None:
    history(credit)
    counts = audit.verify_job()
    assert counts["sealed"] == AuditSeal.objects.count() and counts["links"] == counts["sealed"]
    AuditSeal.objects.bulk_create(
        [AuditSeal(seq=counts["links"] + 1, table="portal.SecurityEvent", row_id=10**9, prev_hash="0", row_hash="1")]
    )
    with pytest.raises(audit.AuditChainBroken, match="the row has been deleted"):
        audit.verify_job()


def test_after_a_commit_only_the_newest_ids_are_looked_at_and_the_job_finds_the_rest(credit) -> None:
    """The seal after a commit runs on the request's time: it does not scan far back; the job does."""
    first = audit.record(SecurityEvent.Kind.SIGN_IN, actor=credit)
    audit.seal_pending()
    # As if rows up to 2,000 ids further on had been sealed while this one's transaction was still open.
    last = AuditSeal.objects.latest("seq")
    AuditSeal.objects.bulk_create(
        [AuditSeal(seq=last.seq + 1, table="portal.SecurityEvent", row_id=first.pk + 2000, prev_hash="0", row_hash="1")]
    )
    late = audit.record(SecurityEvent.Kind.SIGN_IN, actor=credit)
    assert audit.seal_pending(lookback=audit.AFTER_COMMIT_LOOKBACK_IDS) == 0
    assert audit.seal_pending() == 1  # the periodic job's lookback
    assert AuditSeal.objects.filter(table="portal.SecurityEvent", row_id=late.pk).exists()
