"""Reactivation batches: re-drive a group of empty (``system_config``) accounts after a fix.

A batch has one item per account (unique), so each account is attempted at most once per
batch. Workers take items one at a time with ``SKIP LOCKED``, so any number of workers share a
batch; an item's attempt, the account's transition and the item's result commit together, so a
worker that dies mid-item leaves that item pending for the next one. Chunks re-queue
themselves; the periodic ``resume_batches`` job restarts a batch whose chunk job was lost.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.activation import account_activation_attempt
from accounts.models import Channel, EmptyCause, LoanAccount, ReactivationBatch, ReactivationItem, State
from accounts.policy import may_trigger
from accounts.services import AccountActionError
from portal.actors import Actor
from portal.queueing import enqueue_on_commit

CHUNK_SIZE = 100
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


def _claim_item(batch_id: int) -> ReactivationItem | None:
    items = ReactivationItem.objects.filter(batch_id=batch_id, status=ReactivationItem.Status.PENDING).order_by("pk")
    if connection.features.has_select_for_update_skip_locked:
        items = items.select_for_update(skip_locked=True)
    else:
        items = items.select_for_update()
    return items.first()


def batch_run_chunk(batch_id: int, *, size: int = CHUNK_SIZE) -> int:
    """Attempt up to ``size`` pending accounts of a running batch; queue the next chunk if needed."""
    done = 0
    while done < size:
        with transaction.atomic():
            batch = ReactivationBatch.objects.filter(pk=batch_id).first()
            if batch is None or batch.status != ReactivationBatch.Status.RUNNING:
                return done
            item = _claim_item(batch_id)
            if item is None:
                break
            attempt = account_activation_attempt(account_id=item.account_id, actor=BATCH_JOB, batch=batch)
            account = LoanAccount.objects.only("state").get(pk=item.account_id)
            if account.state == State.ACTIVE:
                item.status = ReactivationItem.Status.SUCCEEDED
            else:
                item.status = ReactivationItem.Status.FAILED
                if attempt is None:
                    item.error_code, item.error = "NOT-EMPTY", f"account is {account.state}, not empty"
                elif attempt.result == "succeeded":
                    item.error_code = "STEPS-MISSING"
                    item.error = "core banking activated the card; the customer's verification steps are missing"
                else:
                    item.error_code, item.error = attempt.error_code or "NOT-ACTIVE", attempt.error
            item.attempted_at = timezone.now()
            item.save()
            succeeded = int(item.status == ReactivationItem.Status.SUCCEEDED)
            ReactivationBatch.objects.filter(pk=batch_id).update(
                processed=F("processed") + 1, succeeded=F("succeeded") + succeeded, failed=F("failed") + 1 - succeeded
            )
        done += 1
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
