"""Reactivation batches: re-drive a group of empty (``system_config``) accounts after a fix.

A batch has one item per account (unique), so each account is driven at most once per batch.
Workers take items in micro-batches with ``SKIP LOCKED``, so any number of workers share a
batch. Driving an account writes the command core banking needs (the card issued again if
core holds none, or its activation once every step is done) in the same transaction as the
item's move to "waiting for core banking"; the delivery job sends it, and the item finishes
when core answers (``batch_items_settle``): reactivated, waiting for the customer's steps, or
failed with core's error code. A cancelled batch stops driving at the next micro-batch.
Chunks re-queue themselves; a scheduled watch job per batch re-queues a chunk when no item has
moved for ``WATCH_EVERY`` (a worker killed holding the only chunk job), and the periodic
``resume_batches`` job does the same for every running batch and finishes answered ones.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from accounts.models import Channel, CoreCommand, EmptyCause, LoanAccount, State
from accounts.outbox import commands_create_bulk, schedule_delivery
from accounts.policy import may_trigger
from accounts.services import AccountActionError
from casework.models import Case, Incident, ReactivationBatch, ReactivationItem
from casework.notices import notify_batch_finished
from casework.services import incidents_settle
from portal.actors import Actor
from portal.bulk import bulk_save_fields
from portal.queueing import enqueue_now, enqueue_on_commit

# A chunk is one RQ job: a few seconds of work, so that the cost of a job stays small next to it.
CHUNK_SIZE = 2000
CHUNK_SECONDS = 10.0
# Items per transaction: few enough to keep locks short, many enough that the queries per
# micro-batch cost little per account.
MICRO_BATCH = 200
PARALLEL_CHUNKS = 2
# A running batch is looked at this often by its own scheduled job (``batch_watch``).
WATCH_EVERY = timedelta(seconds=45)
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
        enqueue_on_commit("casework.jobs.run_batch_chunk", batch.pk)
    enqueue_on_commit("casework.jobs.watch_batch", batch.pk, len(ids), delay=WATCH_EVERY)
    return batch


def batch_watch(batch_id: int, pending_before: int) -> str:
    """Every ``WATCH_EVERY`` while a batch runs: re-queue its chunk if no item moved since the last look.

    A worker killed while it ran the batch's chunk leaves no job to go on with; the watch is a
    scheduled job of the workers' own scheduler, so the batch resumes without the periodic
    keeper (``rqcron``) once another worker runs. Re-queued only when stalled, so that chunk
    jobs do not multiply while they make progress.
    """
    batch = ReactivationBatch.objects.filter(pk=batch_id, status=ReactivationBatch.Status.RUNNING).first()
    if batch is None:
        return "stopped"
    pending = batch.items.filter(status=ReactivationItem.Status.PENDING).count()
    stalled = pending and pending == pending_before
    if stalled or not pending:
        _finish_or_continue(batch_id)
    if ReactivationBatch.objects.filter(pk=batch_id, status=ReactivationBatch.Status.RUNNING).exists():
        enqueue_now("casework.jobs.watch_batch", batch_id, pending, delay=WATCH_EVERY)
    return "resumed" if stalled else "running"


@transaction.atomic
def incident_redrive(*, incident_id: int, user: User) -> ReactivationBatch:
    """Once tech has fixed the fault: one batch for every account of the incident, which is fixed from now on."""
    incident = Incident.objects.select_for_update().get(pk=incident_id)
    batch = batch_start(
        title=_("Re-drive: %(title)s") % {"title": incident.title},
        account_ids=incident.cases.values_list("account_id", flat=True),
        user=user,
        incident_id=incident.pk,
    )
    if can_proceed(incident.fix):
        incident.fix()
        incident.save(update_fields=["status"])
    return batch


def _claim_items(batch_id: int, count: int) -> list[ReactivationItem]:
    items = ReactivationItem.objects.filter(batch_id=batch_id, status=ReactivationItem.Status.PENDING).order_by("pk")
    if connection.features.has_select_for_update_skip_locked:
        items = items.select_for_update(skip_locked=True)
    else:
        items = items.select_for_update()
    return list(items[:count])


def redrive_kind(account: LoanAccount) -> str:
    """What a re-drive asks core for: the card (if core may hold none, or steps are missing), or its activation."""
    if account.card_state and not account.steps_missing():
        return CoreCommand.Kind.ACTIVATE
    return CoreCommand.Kind.ISSUE


def _drive_items(batch: ReactivationBatch, items: list[ReactivationItem]) -> int:
    """Write the command of each claimed item's account; items of accounts no longer empty fail at once."""
    accounts = {
        account.pk: account
        for account in LoanAccount.objects.select_for_update(of=("self",))
        .select_related("customer")
        .filter(pk__in=[item.account_id for item in items])
        .order_by("pk")
    }
    now = timezone.now()
    failed = 0
    to_send: dict[str, list[LoanAccount]] = {}
    for item in items:
        account = accounts.get(item.account_id)
        item.attempted_at = now
        if account is None or not (account.state == State.EMPTY and account.empty_cause == EmptyCause.SYSTEM_CONFIG):
            item.status = ReactivationItem.Status.FAILED
            state = account.get_state_display() if account else _("deleted")
            item.error_code, item.error = "NOT-EMPTY", f"account is {state}, not empty for a system fault"[:300]
            failed += 1
            continue
        to_send.setdefault(redrive_kind(account), []).append(account)
        item.status = ReactivationItem.Status.SENT
    reason = _("Re-drive: %(title)s") % {"title": batch.title}
    for kind, accounts_to_send in sorted(to_send.items()):
        commands_create_bulk(accounts_to_send, kind=kind, actor=BATCH_JOB, reason=reason)
    bulk_save_fields(items, ["status", "error_code", "error", "attempted_at"])
    if failed:
        ReactivationBatch.objects.filter(pk=batch.pk).update(
            processed=F("processed") + failed, failed=F("failed") + failed
        )
    schedule_delivery()
    return len(items)


def batch_run_chunk(batch_id: int, *, size: int = CHUNK_SIZE, micro_batch: int = MICRO_BATCH) -> int:
    """Drive up to ``size`` pending items of a running batch; queue the next chunk if needed.

    ``micro_batch`` items at a time, each micro-batch in its own transaction; the batch's
    status is read before each one, so a cancelled batch stops there.
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
            done += _drive_items(batch, items)
        if time.monotonic() - started >= CHUNK_SECONDS:
            break
    _finish_or_continue(batch_id)
    return done


def batch_items_settle(accounts: Sequence[LoanAccount], *, refused: tuple[str, str] | None = None) -> None:
    """Core banking answered commands of these (locked) accounts: finish their items waiting for it.

    Runs in the answer's transaction (``accounts.hooks``). An account with another command
    still on its way (the activation that follows a re-issued card) keeps its item waiting.
    """
    ids = [account.pk for account in accounts]
    # Only these accounts' pending commands: this runs with every answer core banking gives.
    waiting_for_core = CoreCommand.objects.filter(account_id__in=ids, status=CoreCommand.Status.PENDING)
    items = list(
        ReactivationItem.objects.select_for_update()
        .filter(account_id__in=ids, status=ReactivationItem.Status.SENT)
        .exclude(account_id__in=waiting_for_core.values("account_id"))
        .order_by("pk")
    )
    if not items:
        return
    by_id = {account.pk: account for account in accounts}
    for item in items:
        account = by_id[item.account_id]
        if refused is not None:
            item.status = ReactivationItem.Status.FAILED
            item.error_code, item.error = refused[0][:60], refused[1][:300]
        elif account.state == State.ACTIVE:
            item.status = ReactivationItem.Status.SUCCEEDED
        elif account.state == State.VERIFYING:
            item.status = ReactivationItem.Status.SUCCEEDED
            item.error = "the card is ready; the verification steps are still to do"
        else:
            item.status = ReactivationItem.Status.FAILED
            item.error_code = "NOT-ACTIVE"
            item.error = f"core banking answered; the account is {account.get_state_display()}"[:300]
    bulk_save_fields(items, ["status", "error_code", "error"])
    by_batch: dict[int, list[ReactivationItem]] = {}
    for item in items:
        by_batch.setdefault(item.batch_id, []).append(item)
    for batch_id, batch_items in sorted(by_batch.items()):
        succeeded = sum(item.status == ReactivationItem.Status.SUCCEEDED for item in batch_items)
        ReactivationBatch.objects.filter(pk=batch_id).update(
            processed=F("processed") + len(batch_items),
            succeeded=F("succeeded") + succeeded,
            failed=F("failed") + len(batch_items) - succeeded,
        )
        _finish_if_complete(batch_id)


def _finish_if_complete(batch_id: int) -> bool:
    """Mark a batch done once every item has its outcome; settle the incidents it re-drove."""
    updated = ReactivationBatch.objects.filter(
        pk=batch_id, status=ReactivationBatch.Status.RUNNING, processed=F("total")
    ).update(status=ReactivationBatch.Status.DONE, finished_at=timezone.now())
    if updated:
        accounts = ReactivationItem.objects.filter(batch_id=batch_id).values("account_id")
        incidents_settle(Case.objects.filter(account_id__in=accounts, incident__isnull=False).values("incident_id"))
        notify_batch_finished(batch_id)
    return bool(updated)


@transaction.atomic
def _finish_or_continue(batch_id: int) -> None:
    batch = ReactivationBatch.objects.select_for_update().get(pk=batch_id)
    if batch.status != ReactivationBatch.Status.RUNNING:
        return
    if batch.items.filter(status=ReactivationItem.Status.PENDING).exists():
        enqueue_on_commit("casework.jobs.run_batch_chunk", batch_id)
    else:
        _finish_if_complete(batch_id)


@transaction.atomic
def batch_cancel(*, batch_id: int, user: User) -> ReactivationBatch:
    """Stop driving more accounts; those already sent to core banking still get their answer."""
    if not may_trigger(user, "activate"):
        raise PermissionDenied(_("Only tech engineers and leads stop re-drives."))
    batch = ReactivationBatch.objects.select_for_update().get(pk=batch_id)
    if not can_proceed(batch.cancel):
        raise AccountActionError(_("This batch has already stopped."))
    batch.cancel()
    batch.save(update_fields=["status", "finished_at"])
    return batch


def batches_resume() -> int:
    """Re-queue running batches (a worker may have died holding the only chunk job); finish answered ones."""
    running = list(
        ReactivationBatch.objects.filter(status=ReactivationBatch.Status.RUNNING).values_list("pk", flat=True)
    )
    for batch_id in running:
        _finish_or_continue(batch_id)
    return len(running)
