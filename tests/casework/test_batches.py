"""Reactivation batches: every account driven once through core banking, across workers, even when one dies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import django_rq
import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from rq import SimpleWorker

from accounts.gateway import SIMULATED
from accounts.models import CoreCommand, EmptyCause, LoanAccount, State
from accounts.services import AccountActionError
from casework.batches import batch_run_chunk, batch_start, batch_watch, batches_resume
from casework.demo import cases_open_for_empty_accounts
from casework.models import Case, ReactivationBatch, Status
from portal.actors import Actor
from tests.factories import bulk_empty_accounts, make_account
from tests.jobs import work

ROOT = Path(__file__).resolve().parents[2]


def system_fault_accounts(count: int) -> list[LoanAccount]:
    """Empty for a system fault, the customer's steps done, no card in core banking yet."""
    accounts = bulk_empty_accounts(count, EmptyCause.SYSTEM_CONFIG)
    LoanAccount.objects.filter(pk__in=[a.pk for a in accounts]).update(sms_verified_at="2026-11-01T00:00:00Z")
    return accounts


@pytest.mark.django_db
def test_a_batch_reactivates_its_accounts_and_resolves_their_cases(tech, django_capture_on_commit_callbacks) -> None:
    no_card = system_fault_accounts(4)  # the card was never issued: issued, then activated
    card_issued = [make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG, steps=["sms_code"]) for _ in range(2)]
    steps_missing = make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG, tier="medium", steps=["sms_code"])
    bad = make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG, channel="Broken branch", steps=["sms_code"])
    SIMULATED.config_fault_channels.add("Broken branch")
    cases_open_for_empty_accounts(actor=Actor.system("t", "job"))
    everyone = [*no_card, *card_issued, steps_missing, bad]
    with django_capture_on_commit_callbacks(execute=True):
        batch = batch_start(title="after the fix", account_ids=[a.pk for a in everyone], user=tech)
    work(django_capture_on_commit_callbacks)

    batch.refresh_from_db()
    assert (batch.status, batch.total, batch.processed, batch.succeeded, batch.failed) == ("done", 8, 8, 7, 1)
    reactivated = [*no_card, *card_issued]
    assert LoanAccount.objects.filter(pk__in=[a.pk for a in reactivated], state=State.ACTIVE).count() == 6
    assert not Case.objects.filter(account__in=reactivated).exclude(status=Status.RESOLVED).exists()
    assert [c.kind for c in CoreCommand.objects.filter(account=no_card[0]).order_by("pk")] == ["issue", "activate"]
    assert [c.kind for c in CoreCommand.objects.filter(account=card_issued[0])] == ["activate"]
    # The fault is fixed for the one whose customer is not done: it waits for them in verifying.
    steps_missing.refresh_from_db()
    assert (steps_missing.state, steps_missing.card_state) == (State.VERIFYING, "UNACTIVATED")
    assert batch.items.get(account=steps_missing).error == "the card is ready; the verification steps are still to do"
    failure = batch.items.get(status="failed")
    assert (failure.account_id, failure.error_code) == (bad.pk, "CFG-CHANNEL-MISSING")


@pytest.mark.django_db
def test_running_a_chunk_again_drives_nobody_twice(tech) -> None:
    accounts = system_fault_accounts(4)
    batch = batch_start(title="x", account_ids=[a.pk for a in accounts], user=tech)
    assert batch_run_chunk(batch.pk) == 4
    assert batch_run_chunk(batch.pk) == 0
    assert CoreCommand.objects.filter(account__in=batch.items.values("account")).count() == 4


@pytest.mark.django_db
def test_the_keeper_job_finishes_a_batch_whose_chunk_job_was_lost(tech, django_capture_on_commit_callbacks) -> None:
    accounts = system_fault_accounts(3)
    batch = batch_start(title="x", account_ids=[a.pk for a in accounts], user=tech)  # its chunk jobs never ran
    with django_capture_on_commit_callbacks(execute=True):
        django_rq.get_queue("default").enqueue("casework.jobs.resume_batches")
    work(django_capture_on_commit_callbacks)
    batch.refresh_from_db()
    assert (batch.status, batch.succeeded) == ("done", 3)


@pytest.mark.django_db
def test_a_batch_whose_chunk_job_was_lost_is_resumed_by_its_own_watch(tech, django_capture_on_commit_callbacks) -> None:
    """No rqcron: the watch job the workers' scheduler runs re-queues the chunk a dead worker held."""
    accounts = system_fault_accounts(3)
    queue = django_rq.get_queue("default")
    with django_capture_on_commit_callbacks(execute=True):
        batch = batch_start(title="x", account_ids=[a.pk for a in accounts], user=tech)
    (watch_id,) = queue.scheduled_job_registry.get_job_ids()  # the watch, due in 45 s
    watch = queue.fetch_job(watch_id)
    assert watch is not None
    assert (watch.func_name, watch.args) == ("casework.jobs.watch_batch", (batch.pk, 3))
    queue.empty()  # the worker holding the chunk jobs died with them
    queue.scheduled_job_registry.remove(watch)
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue_job(watch)  # 45 s later the scheduler moves the watch to the queue
    work(django_capture_on_commit_callbacks)
    batch.refresh_from_db()
    assert (batch.status, batch.succeeded) == ("done", 3)
    (next_watch_id,) = queue.scheduled_job_registry.get_job_ids()  # scheduled while the batch still ran
    next_watch = queue.fetch_job(next_watch_id)
    assert next_watch is not None
    queue.scheduled_job_registry.remove(next_watch)
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue_job(next_watch)
    work(django_capture_on_commit_callbacks)
    result = next_watch.latest_result()
    assert result is not None and result.return_value == "stopped"
    assert queue.scheduled_job_registry.get_job_ids() == []  # the watch ends with the batch


@pytest.mark.django_db
def test_the_watch_leaves_a_batch_alone_while_it_makes_progress(tech, django_capture_on_commit_callbacks) -> None:
    accounts = system_fault_accounts(3)
    batch = batch_start(title="x", account_ids=[a.pk for a in accounts], user=tech)
    assert batch_watch(batch.pk, 5) == "running"  # 5 pending before, 3 now: moving, no extra chunk
    assert django_rq.get_queue("default").count == 0
    assert batch_watch(batch.pk, 3) == "resumed"


@pytest.mark.django_db
def test_only_tech_and_leads_start_a_batch_of_eligible_accounts(service, tech) -> None:
    from django.core.exceptions import PermissionDenied

    accounts = system_fault_accounts(2)
    with pytest.raises(PermissionDenied):
        batch_start(title="x", account_ids=[a.pk for a in accounts], user=service)
    active = make_account(State.ACTIVE)
    with pytest.raises(AccountActionError, match="nothing to re-drive"):
        batch_start(title="x", account_ids=[active.pk], user=tech)


@pytest.mark.django_db
def test_the_batch_page_shows_progress_and_failures(client: Client, tech) -> None:
    accounts = system_fault_accounts(3)
    batch = batch_start(title="re-drive", account_ids=[a.pk for a in accounts], user=tech)
    client.force_login(tech)
    page = client.get(reverse("batch", args=[batch.pk])).content.decode()
    assert "0 of 3 accounts done" in page and 'hx-trigger="every 2s"' in page
    fragment = client.get(reverse("batch", args=[batch.pk]), headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<section class="card" id="batch-progress"')
    assert "<html" not in fragment
    client.post(reverse("batch_cancel", args=[batch.pk]))
    batch.refresh_from_db()
    assert batch.status == "cancelled"


@pytest.mark.django_db
def test_the_incident_page_starts_a_batch_for_its_accounts(client: Client, tech) -> None:
    from casework.incidents import incident_create
    from casework.services import case_link_incident

    accounts = system_fault_accounts(3)
    cases_open_for_empty_accounts(actor=Actor.system("t", "job"))
    incident = incident_create(title="Mobile app config", description="", user=tech)
    for case in Case.objects.filter(account__in=accounts):
        case_link_incident(case_id=case.pk, incident_id=incident.pk, user=tech)
    client.force_login(tech)
    response = client.post(reverse("casework:incident_redrive", args=[incident.pk]), follow=True)
    assert "Re-drive started for 3 accounts." in response.content.decode()
    batch = ReactivationBatch.objects.get()
    assert (batch.incident, batch.total) == (incident, 3)


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="a worker in another process needs a shared database: runs on PostgreSQL (as in CI)",
)
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_leaves_every_account_driven_exactly_once(tech, redis_server) -> None:
    accounts = system_fault_accounts(1200)
    batch = batch_start(title="kill test", account_ids=[a.pk for a in accounts], user=tech)
    queue = django_rq.get_queue("default")
    queue.enqueue("casework.jobs.run_batch_chunk", batch.pk)

    settings_dict = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{settings_dict['USER']}@{settings_dict['HOST']}:{settings_dict['PORT']}/{settings_dict['NAME']}",
        "REDIS_URL": redis_server.url,
        "CORE_GATEWAY": "simulated",
    }
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "default", "--burst"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while not CoreCommand.objects.filter(account__in=batch.items.values("account")).exists():
        assert time.monotonic() < deadline, "the worker did not start on the batch"
        time.sleep(0.01)
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its work horse, mid-chunk
    worker.wait(timeout=10)
    driven = CoreCommand.objects.filter(account__in=batch.items.values("account"), kind="issue")
    assert 0 < driven.count() < 1200

    batches_resume()  # what the periodic job does
    for _ in range(10):
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        if not queue.count:
            break
    # Every account's card was asked for exactly once in this batch: none skipped, none twice.
    per_account = {a.pk: 0 for a in accounts}
    for account_id in driven.values_list("account_id", flat=True):
        per_account[account_id] += 1
    assert set(per_account.values()) == {1}
    assert not batch.items.filter(status="pending").exists()
