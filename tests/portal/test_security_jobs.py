"""The security jobs, each run by a real RQ worker on a real Redis: seals, the chain check, retention, sessions."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.utils import timezone
from rq import SimpleWorker

from accounts.models import Customer, LoanAccount, State
from portal import audit
from portal.models import AuditSeal, JobHeartbeat, SecurityEvent, StaffSession
from tests.factories import CustomerFactory, make_account

pytestmark = pytest.mark.django_db


def test_the_seal_job_seals_rows_written_in_bulk(credit, django_capture_on_commit_callbacks) -> None:
    SecurityEvent.objects.bulk_create(  # no save signal: only the job finds them
        [SecurityEvent(kind=SecurityEvent.Kind.SIGN_IN, actor=credit, actor_name="x") for _ in range(3)]
    )
    queue = django_rq.get_queue("default")
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue("portal.audit.seal_job")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert AuditSeal.objects.filter(table="portal.SecurityEvent").count() == 3
    assert JobHeartbeat.objects.get(name="seal_audit").last_counts == {"sealed": 3}


def test_the_nightly_check_fails_the_job_on_a_broken_chain(credit, django_capture_on_commit_callbacks) -> None:
    audit.record(SecurityEvent.Kind.SIGN_IN, actor=credit)
    queue = django_rq.get_queue("default")
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue("portal.audit.verify_job")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert queue.failed_job_registry.count == 0
    assert JobHeartbeat.objects.get(name="verify_audit").last_counts == {"sealed": 1, "links": 1}

    AuditSeal.objects.bulk_create(
        [AuditSeal(seq=2, table="portal.SecurityEvent", row_id=10**9, prev_hash="0", row_hash="1")]
    )
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue("portal.audit.verify_job")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert queue.failed_job_registry.count == 1  # the jobs page shows the job failing
    assert "the row has been deleted" in JobHeartbeat.objects.get(name="verify_audit").last_error


def test_the_retention_job_anonymises_long_closed_customers(django_capture_on_commit_callbacks) -> None:
    customer = CustomerFactory.create(contact_mobile="13912345678")
    account = make_account(State.CLOSED, customer=customer)
    LoanAccount.objects.filter(pk=account.pk).update(closed_at=timezone.now() - timedelta(days=6 * 365))
    queue = django_rq.get_queue("default")
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue("accounts.jobs.anonymise_closed_customers")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert Customer.objects.get(pk=customer.pk).contact_mobile == ""
    assert JobHeartbeat.objects.get(name="anonymise_closed_customers").last_counts == {"customers": 1, "messages": 0}


def test_the_session_job_deletes_expired_sessions_only(service, django_capture_on_commit_callbacks) -> None:
    now = timezone.now()
    StaffSession.objects.create(session_key="old", session_data="", expire_date=now - timedelta(minutes=1))
    StaffSession.objects.create(session_key="live", session_data="", expire_date=now + timedelta(hours=1))
    queue = django_rq.get_queue("default")
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue("portal.sessions.clear_expired_sessions")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)
    assert list(StaffSession.objects.values_list("session_key", flat=True)) == ["live"]
    assert JobHeartbeat.objects.get(name="clear_sessions").last_counts == {"deleted": 1}
