"""Reactivation batches: re-drive a group of empty (``system_config``) accounts after a fix.

A batch has one item per account (unique), so each account is attempted at most once per
batch. Workers take items in micro-batches (up to ``MICRO_BATCH`` at a time) with ``SKIP
LOCKED``, so any number of workers share a batch; a micro-batch's attempts, the accounts'
transitions, the items' results and the batch's counters commit together, so a worker that
dies mid-micro-batch leaves just those items pending for the next one. A cancelled batch stops
at the next micro-batch. Chunks re-queue themselves; the periodic ``resume_batches`` job
restarts a batch whose chunk job was lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.activation import Reactivation, accounts_reactivate
from accounts.models import (
    ActivationAttempt,
    Channel,
    EmptyCause,
    LoanAccount,
    ReactivationBatch,
    ReactivationItem,
    State,
)
from accounts.policy import may_trigger
from accounts.services import AccountActionError
from casework.models import Case
from casework.services import incidents_settle
from portal.actors import Actor
from portal.bulk import bulk_save_fields
from portal.queueing import enqueue_on_commit

# A chunk is one RQ job: about a second of work at full speed, so that the cost of a job (the
# work horse's fork, its connection) stays small next to it.
CHUNK_SIZE = 500
# With a slow core banking a chunk stops taking micro-batches after this long and re-queues
# itself, well within the job timeout.
CHUNK_SECONDS = 10.0
# Items per transaction: few enough to keep locks short, many enough that the queries per
# micro-batch (about 20, whatever its size) cost little per account.
MICRO_BATCH = 50
# With a slow core banking a micro-batch commits after this much gateway time, however few
# items it reached: locks stay short and the progress bar moves.
MICRO_BATCH_SECONDS = 1.0
PARALLEL_CHUNKS = 2
BATCH_JOB = Actor.system("reactivation-batch", Channel.JOB)


def eligible_accounts() -> QuerySet[LoanAccount]:
    return LoanAccount.objects.filter(state=State.EMPTY, empty_cause=EmptyCause.SYSTEM_CONFIG)


@transaction.atomic
def batch_start(
    *,
    title: str,
    account_ids: Iterable[int],
    user: User,
    incident_id: int | None = None,
    criteria: dict[str, object] | None = None,
) -> ReactivationBatch:
    """Start a batch over those of ``account_ids`` that are empty for a system fault."""
    if not may_trigger(user, "activate"):
        raise PermissionDenied(_("Only tech engineers and leads re-drive activations."))
    ids = list(eligible_accounts().filter(pk__in=list(account_ids)).values_list("pk", flat=True))
    if not ids:
        raise AccountActionError(
            _("None of these accounts is empty because of a system fault, so there is nothing to re-drive.")
        )
    batch = ReactivationBatch.objects.create(
        title=title, incident_id=incident_id, criteria=criteria or {}, total=len(ids), created_by=user
    )
    ReactivationItem.objects.bulk_create(ReactivationItem(batch=batch, account_id=pk) for pk in ids)
    for _chunk in range(PARALLEL_CHUNKS):
        enqueue_on_commit("accounts.jobs.run_batch_chunk", batch.pk)
    return batch


def _claim_items(batch_id: int, count: int) -> list[ReactivationItem]:
    items = ReactivationItem.objects.filter(batch_id=batch_id, status=ReactivationItem.Status.PENDING).order_by("pk")
    if connection.features.has_select_for_update_skip_locked:
        items = items.select_for_update(skip_locked=True)
    else:
        items = items.select_for_update()
    return list(items[:count])


def _record(item: ReactivationItem, outcome: Reactivation) -> None:
    attempt = outcome.attempt
    if outcome.state == State.ACTIVE:
        item.status = ReactivationItem.Status.SUCCEEDED
        return
    item.status = ReactivationItem.Status.FAILED
    if attempt is None:
        item.error_code, item.error = "NOT-EMPTY", f"account is {outcome.state}, not empty"
    elif attempt.result == ActivationAttempt.Result.SUCCEEDED:
        item.error_code = "STEPS-MISSING"
        item.error = "core banking activated the card; the customer's verification steps are missing"
    else:
        item.error_code, item.error = attempt.error_code or "NOT-ACTIVE", attempt.error


def _run_micro_batch(batch: ReactivationBatch, items: list[ReactivationItem]) -> int:
    """Attempt the claimed items' accounts; record the items and the batch's counters. Returns how many."""
    outcomes = accounts_reactivate(
        account_ids=[item.account_id for item in items], actor=BATCH_JOB, batch=batch, time_budget=MICRO_BATCH_SECONDS
    )
    attempted = [item for item in items if item.account_id in outcomes]  # the rest stay pending
    now = timezone.now()
    for item in attempted:
        _record(item, outcomes[item.account_id])
        item.attempted_at = now
    bulk_save_fields(attempted, ["status", "error_code", "error", "attempted_at"])
    succeeded = sum(item.status == ReactivationItem.Status.SUCCEEDED for item in attempted)
    # Once per micro-batch: the batch row is what concurrent workers queue on.
    ReactivationBatch.objects.filter(pk=batch.pk).update(
        processed=F("processed") + len(attempted),
        succeeded=F("succeeded") + succeeded,
        failed=F("failed") + len(attempted) - succeeded,
    )
    return len(attempted)


def batch_run_chunk(batch_id: int, *, size: int = CHUNK_SIZE, micro_batch: int = MICRO_BATCH) -> int:
    """Attempt up to ``size`` pending accounts of a running batch; queue the next chunk if needed.

    ``micro_batch`` items at a time, each micro-batch in its own transaction; the batch's
    status is read before each one, so a cancelled batch stops there. After ``CHUNK_SECONDS``
    the chunk hands over to the next job, however few accounts it reached.
    """
    done, started = 0, time.monotonic()
    while done < size:
        with transaction.atomic():
            batch = ReactivationBatch.objects.filter(pk=batch_id).first()
            if batch is None or batch.status != ReactivationBatch.Status.RUNNING:
                return done
            items = _claim_items(batch_id, min(micro_batch, size - done))
            if not items:
                break
            attempted = _run_micro_batch(batch, items)
        if not attempted:  # only if the claimed items' accounts are gone: do not spin on them
            break
        done += attempted
        if time.monotonic() - started >= CHUNK_SECONDS:
            break
    _finish_or_continue(batch_id)
    return done


@transaction.atomic
def _finish_or_continue(batch_id: int) -> None:
    batch = ReactivationBatch.objects.select_for_update().get(pk=batch_id)
    if batch.status != ReactivationBatch.Status.RUNNING:
        return
    if batch.items.filter(status=ReactivationItem.Status.PENDING).exists():
        enqueue_on_commit("accounts.jobs.run_batch_chunk", batch_id)
    elif batch.processed == batch.total:
        batch.status = ReactivationBatch.Status.DONE
        batch.finished_at = timezone.now()
        batch.save(update_fields=["status", "finished_at"])
        # Every micro-batch has committed now: settle the incidents whose last cases two
        # workers resolved at the same time (each saw the other's still open).
        accounts = batch.items.values("account_id")
        incidents_settle(Case.objects.filter(account_id__in=accounts, incident__isnull=False).values("incident_id"))


@transaction.atomic
def batch_cancel(*, batch_id: int, user: User) -> ReactivationBatch:
    if not may_trigger(user, "activate"):
        raise PermissionDenied(_("Only tech engineers and leads stop re-drives."))
    batch = ReactivationBatch.objects.select_for_update().get(pk=batch_id)
    if batch.status != ReactivationBatch.Status.RUNNING:
        raise AccountActionError(_("This batch has already stopped."))
    batch.status = ReactivationBatch.Status.CANCELLED
    batch.finished_at = timezone.now()
    batch.save(update_fields=["status", "finished_at"])
    return batch


def batches_resume() -> int:
    """Re-queue running batches (a worker may have died holding the only chunk job)."""
    running = list(
        ReactivationBatch.objects.filter(status=ReactivationBatch.Status.RUNNING).values_list("pk", flat=True)
    )
    with transaction.atomic():
        for batch_id in running:
            _finish_or_continue(batch_id)
    return len(running)
