"""Delivering the outbox to core banking, and applying what core answers.

A delivery run claims the due commands, oldest first and one per account at a time (core
applies an account's commands in the order the desk decided them), marks them as being
tried, commits, and only then calls core banking: no database transaction, so no row lock, is
open during a call. The answers are recorded in one short transaction, with the accounts
locked: what core did is applied to the account (the activation, the release, the new
limit), a refusal fails the activation or opens a tech case that names the command and core's
answer, and a transient failure (a timeout, a 5xx, core down) leaves the command pending with
its next try further away. A command whose run died (a killed worker) is tried again once its
lease has passed, with the same idempotency key, so core applies it once.

Commands of drill accounts never reach core banking: they complete here, logged "not sent".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import django_rq
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.utils import timezone
from django.utils.translation import gettext as _
from redis.exceptions import RedisError

from accounts import hooks
from accounts.gateway import CoreAnswer, CoreRequest, Gateway, GatewayError, TransientGatewayError, get_gateway
from accounts.hooks import CORE_SYNC
from accounts.models import CardState, Channel, CoreCommand, EmptyCause, LoanAccount, State
from accounts.notify import pre_notify_messages
from accounts.outbox import DELIVERY_JOB, commands_create_bulk, schedule_delivery
from accounts.services import (
    AccountActionError,
    account_transition,
    accounts_transition_bulk,
    drive_core,
    tranche_release_confirmed,
)
from portal.actors import Actor
from portal.bulk import bulk_save_fields

log = logging.getLogger(__name__)
CORE = Actor.system("core banking", Channel.CORE)
Kind = CoreCommand.Kind
Status = CoreCommand.Status
DELIVERY_BATCH = 100
# Requests one delivery run has on their way to core banking at once (see _send_all).
SEND_CONCURRENCY = 4


class TransactionOpen(RuntimeError):
    """A call to core banking was about to be made inside a database transaction."""


def assert_no_transaction() -> None:
    """Core banking is called only with no transaction open: a slow core must never hold our row locks.

    Test cases run inside their own outer transaction (Django marks those blocks); any other
    open block is a bug.
    """
    if any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks):
        raise TransactionOpen("core banking must not be called inside a database transaction")


def lease() -> timedelta:
    """How long a claimed command is left to its delivery run before another run may try it."""
    return timedelta(seconds=settings.CORE_GATEWAY_TIMEOUT * 2 + 10)


def retry_delay(attempts: int) -> timedelta:
    intervals = settings.CORE_COMMAND_RETRY_INTERVALS
    return timedelta(seconds=intervals[min(max(attempts, 1), len(intervals)) - 1])


@dataclass
class DeliverySummary:
    claimed: int = 0
    done: int = 0
    refused: int = 0
    retrying: int = 0
    not_sent: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# --- claiming and sending ----------------------------------------------------------------


def _claim(limit: int) -> list[CoreCommand]:
    """Take up to ``limit`` due commands (each the oldest pending one of its account) and lease them."""
    now = timezone.now()
    with transaction.atomic():
        older = CoreCommand.objects.filter(
            account_id=OuterRef("account_id"), status=Status.PENDING, pk__lt=OuterRef("pk")
        )
        due = (
            CoreCommand.objects.filter(status=Status.PENDING, next_attempt_at__lte=now)
            .exclude(Exists(older))
            .select_related("account")
            .order_by("next_attempt_at", "pk")
        )
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True, of=("self",))
        claimed = list(due[:limit])
        if claimed:
            CoreCommand.objects.filter(pk__in=[command.pk for command in claimed]).update(
                attempts=F("attempts") + 1, last_attempt_at=now, next_attempt_at=now + lease()
            )
    for command in claimed:
        command.attempts += 1
    return claimed


def drill_answer(command: CoreCommand) -> CoreAnswer:
    """What core would answer, for a drill account's command (never sent)."""
    account = command.account
    card = {"token": command.body.get("token") or command.body.get("card_token"), "not_sent": "drill account"}
    state = {
        Kind.ISSUE: CardState.UNACTIVATED,
        Kind.ACTIVATE: CardState.ACTIVE,
        Kind.SUSPEND: CardState.SUSPENDED,
        Kind.REINSTATE: CardState.ACTIVE if account.activated_at else CardState.UNACTIVATED,
        Kind.TERMINATE: CardState.TERMINATED,
        Kind.SET_LIMIT: account.card_state or CardState.ACTIVE,
    }[Kind(command.kind)]
    if command.kind == Kind.SET_LIMIT:
        card["usable_limit"] = command.body["usable_limit"]
    return CoreAnswer(0, {**card, "state": str(state)})


def _send(gateway: Gateway, command: CoreCommand) -> CoreAnswer | GatewayError:
    if command.account.is_drill:
        return drill_answer(command)
    assert_no_transaction()
    try:
        return gateway.send(CoreRequest(command.method, command.path, command.body, command.idempotency_key))
    except GatewayError as exc:
        return exc


def _send_all(gateway: Gateway, claimed: Sequence[CoreCommand]) -> dict[int, CoreAnswer | GatewayError]:
    """Send a run's commands: side by side (``SEND_CONCURRENCY`` at once) over a gateway that allows it.

    A claim holds at most one command per account (each account's oldest pending one), so
    sending them side by side keeps every account's commands in the order they were decided.
    Over HTTP a worker would otherwise spend half its time waiting for core's answer to one
    request before preparing the next. Each command's outcome is recorded as before.
    """
    assert_no_transaction()  # here too: the sending threads have connections of their own
    if SEND_CONCURRENCY < 2 or len(claimed) < 2 or not getattr(gateway, "concurrent", False):
        return {command.pk: _send(gateway, command) for command in claimed}
    with ThreadPoolExecutor(max_workers=SEND_CONCURRENCY, thread_name_prefix="core-send") as pool:
        outcomes = list(pool.map(partial(_send, gateway), claimed))
    return {command.pk: outcome for command, outcome in zip(claimed, outcomes, strict=True)}


def commands_deliver(*, limit: int = DELIVERY_BATCH, time_budget: float = 10.0) -> DeliverySummary:
    """Deliver due commands until none is left or ``time_budget`` seconds have passed (then queue the rest)."""
    summary = DeliverySummary()
    gateway = get_gateway()
    started = time.monotonic()
    while True:
        claimed = _claim(limit)
        if not claimed:
            break
        summary.claimed += len(claimed)
        outcomes = _send_all(gateway, claimed)
        _record(claimed, outcomes, summary)
        if time.monotonic() - started >= time_budget:
            _queue_run()
            break
    if summary.retrying:
        _queue_run(at=CoreCommand.objects.filter(status=Status.PENDING).order_by("next_attempt_at").first())
    return summary


def _queue_run(at: CoreCommand | None = None) -> None:
    """Another delivery run: now, or when the next command is due again (the sweeper covers a lost one)."""
    try:
        queue = django_rq.get_queue("default", commit_mode="auto")
        if at is None:
            queue.enqueue(DELIVERY_JOB)
        else:
            # RQ's scheduler works to the whole second, rounding down: one second later, the command is due.
            queue.enqueue_at(max(at.next_attempt_at, timezone.now()) + timedelta(seconds=1), DELIVERY_JOB)
    except (RedisError, OSError) as exc:
        log.warning("could not queue the next delivery run; the sweeper will: %s", exc)


# --- recording answers ---------------------------------------------------------------------


def _locked_accounts(ids: Sequence[int]) -> dict[int, LoanAccount]:
    return {
        account.pk: account
        for account in LoanAccount.objects.select_for_update(of=("self",))
        .select_related("customer")
        .filter(pk__in=ids)
        .order_by("pk")
    }


def _record(
    claimed: Sequence[CoreCommand], outcomes: dict[int, CoreAnswer | GatewayError], summary: DeliverySummary
) -> None:
    with transaction.atomic():
        accounts = _locked_accounts(sorted({command.account_id for command in claimed}))
        pending = {
            command.pk: command
            for command in CoreCommand.objects.select_for_update(of=("self",))
            .select_related("tranche", "requested_by")
            .filter(pk__in=[command.pk for command in claimed], status=Status.PENDING)
        }
        done: list[tuple[CoreCommand, LoanAccount, CoreAnswer]] = []
        for claimed_command in claimed:
            command = pending.get(claimed_command.pk)
            if command is None:  # an event from core banking completed it meanwhile
                continue
            account = accounts[command.account_id]
            outcome = outcomes[command.pk]
            if isinstance(outcome, TransientGatewayError):
                command.last_error_code, command.last_error = outcome.code, outcome.message[:300]
                command.response_status = outcome.status
                command.next_attempt_at = timezone.now() + retry_delay(command.attempts)
                command.save(update_fields=["last_error_code", "last_error", "response_status", "next_attempt_at"])
                summary.retrying += 1
            elif isinstance(outcome, GatewayError):
                command_refused(command, account, outcome.code, outcome.message, status=outcome.status)
                summary.refused += 1
            else:
                done.append((command, account, outcome))
                if account.is_drill:
                    summary.not_sent += 1
                else:
                    summary.done += 1
        commands_done(done, via="answer")


def _complete(command: CoreCommand, status: str, *, response: dict[str, Any], http_status: int | None) -> None:
    command.status = status
    command.completed_at = timezone.now()
    command.response = response
    command.response_status = http_status or None


def _confirmation(command: CoreCommand) -> str:
    return f"command {command.pk}"


def _confirm_reason(command: CoreCommand) -> str:
    return _("Core banking confirmed: %(decision)s") % {"decision": command.reason or command.get_kind_display()}


def commands_done(done: Sequence[tuple[CoreCommand, LoanAccount, CoreAnswer]], *, via: str) -> None:
    """Core banking did these commands: record its answers and apply them to the (locked) accounts.

    Activations and releases of many accounts are applied in bulk; the rest one by one.
    ``via`` says how the answer came (the answer to the request, or an event).
    """
    if not done:
        return
    now = timezone.now()
    for command, account, answer in done:
        state = str(answer.body.get("state") or "")
        if state in CardState.values:
            account.card_state, account.card_state_at = state, now
        _complete(
            command,
            Status.NOT_SENT if account.is_drill else Status.DONE,
            response={**answer.body, "via": via},
            http_status=answer.status,
        )
    bulk_save_fields(
        [command for command, _account, _answer in done], ["status", "completed_at", "response", "response_status"]
    )
    bulk_save_fields([account for _command, account, _answer in done], ["card_state", "card_state_at"])

    activations = [(c, a) for c, a, _answer in done if c.kind == Kind.ACTIVATE and a.card_state == CardState.ACTIVE]
    _apply_bulk("activate", activations)
    reinstated = [(c, a) for c, a, _answer in done if c.kind == Kind.REINSTATE and a.on_hold]
    _apply_bulk("release_hold", reinstated)
    # What these answers lead to (the activation of an issued card...) is written without a
    # delivery run each: one run is queued for all of them below.
    follow_ups = False
    activate: list[LoanAccount] = []
    for command, account, answer in done:
        if command.kind == Kind.ISSUE:
            follow_ups |= _issued(command, account, activate)
        elif command.kind == Kind.REINSTATE and account.state == State.ISSUED:
            follow_ups |= drive_core(account, CORE, deliver=False) is not None
        elif command.kind == Kind.SET_LIMIT:
            usable = answer.body.get("usable_limit")
            if usable is not None:
                tranche_release_confirmed(
                    account=account,
                    tranche=command.tranche,
                    usable_limit=Decimal(str(usable)),
                    command=command,
                    actor=CORE,
                )
    if activate:
        reason = _("Re-drive: the card is issued and every verification step is done.")
        commands_create_bulk(activate, kind=Kind.ACTIVATE, actor=CORE, reason=reason)
        follow_ups = True
    hooks.cases().core_answered([account for _command, account, _answer in done])
    if follow_ups:
        schedule_delivery()


def _apply_bulk(transition_name: str, pairs: Sequence[tuple[CoreCommand, LoanAccount]]) -> None:
    if not pairs:
        return
    result = accounts_transition_bulk(
        accounts=[account for _command, account in pairs],
        transition_name=transition_name,
        actor=CORE,
        core_confirmation={account.pk: _confirmation(command) for command, account in pairs},
        reason={account.pk: _confirm_reason(command) for command, account in pairs},
        requested_by={account.pk: command.decided_by or command.requested_by for command, account in pairs},
    )
    for account_id, refusal in result.refused.items():
        # e.g. a hold decided while the activation was on its way: the suspension follows it to core.
        log.info(
            "core banking confirmed %s on account %s, which stays as it is: %s", transition_name, account_id, refusal
        )


def _issued(command: CoreCommand, account: LoanAccount, activate: list[LoanAccount]) -> bool:
    """The card exists in core banking now: activate it once every step is done, else tell the customer.

    True when a command for core banking follows (its delivery run is the caller's to queue). A
    re-driven account whose steps are all done goes into ``activate``, written in bulk by the caller.
    """
    if account.state == State.EMPTY and account.empty_cause == EmptyCause.SYSTEM_CONFIG:
        # A re-drive: the fault is behind us; the account goes on to activation or to its missing steps.
        if account.steps_missing():
            account_transition(
                account_id=account.pk,
                transition_name="await_verification",
                actor=CORE,
                reason=_("Core banking issued the card; the verification steps are still to do."),
                core_confirmation=_confirmation(command),
            )
            account.refresh_from_db()
            pre_notify_messages(account)
            return False
        activate.append(account)
        return False
    if account.state in (State.ISSUED, State.VERIFYING):
        if account.steps_missing():
            pre_notify_messages(account)
        return drive_core(account, CORE, deliver=False) is not None
    return False


def command_refused(
    command: CoreCommand, account: LoanAccount, code: str, message: str, *, status: int | None, via: str = "answer"
) -> None:
    """Core banking refused the command for good: the account shows it, and tech gets a case that names it."""
    _complete(
        command, Status.REFUSED, response={"error_code": code, "error_message": message, "via": via}, http_status=status
    )
    command.last_error_code, command.last_error = code[:60], message[:300]
    command.save()
    what = _("Core banking refused command #%(id)d (%(kind)s): %(code)s %(message)s") % {
        "id": command.pk,
        "kind": command.get_kind_display(),
        "code": code,
        "message": message,
    }
    if command.kind in (Kind.ISSUE, Kind.ACTIVATE):
        if account.state in (State.ISSUED, State.VERIFYING):
            try:
                with transaction.atomic():
                    account_transition(
                        account_id=account.pk,
                        transition_name="fail_activation",
                        actor=CORE,
                        reason=what,
                        error_code=code[:60],
                        core_confirmation=_confirmation(command),
                        case_note=what,
                    )
            except AccountActionError as exc:  # the account moved on meanwhile: tech still hears of it
                hooks.cases().case_open(account=account, cause=CORE_SYNC, actor=CORE, note=f"{what} ({exc.message})")
            account.refresh_from_db()
        elif account.state == State.EMPTY and account.empty_cause == EmptyCause.SYSTEM_CONFIG:
            LoanAccount.objects.filter(pk=account.pk).update(last_error_code=code[:60])
            account.last_error_code = code[:60]
            hooks.cases().case_open(account=account, cause=EmptyCause.SYSTEM_CONFIG, actor=CORE, note=what)
        else:
            hooks.cases().case_open(account=account, cause=CORE_SYNC, actor=CORE, note=what)
    else:
        hooks.cases().case_open(account=account, cause=CORE_SYNC, actor=CORE, note=what)
    hooks.cases().core_answered([account], refused=(code, message))


# --- the sweeper ---------------------------------------------------------------------------------


def commands_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Every minute: queue delivery for due commands whose job was lost, and flag the late ones.

    A command is due when it was never tried, its retry time has come, or the run that took it
    died (its lease passed). A command core banking has not confirmed after
    ``CORE_COMMAND_STALE_MINUTES`` opens a tech case, once.
    """
    now = now or timezone.now()
    pending = CoreCommand.objects.filter(status=Status.PENDING)
    due = pending.filter(next_attempt_at__lte=now).count()
    for _run in range(min(4, -(-due // 1000))):
        _queue_run()
    cutoff = now - timedelta(minutes=settings.CORE_COMMAND_STALE_MINUTES)
    late_ids = list(
        pending.filter(created_at__lt=cutoff, flagged_at__isnull=True).order_by("pk").values_list("pk", flat=True)[:500]
    )
    for command_id in late_ids:
        with transaction.atomic():
            command = CoreCommand.objects.select_for_update(of=("self",)).select_related("account").get(pk=command_id)
            if command.status != Status.PENDING:
                continue
            LoanAccount.objects.select_for_update(of=("self",)).get(pk=command.account_id)
            minutes = int((now - command.created_at).total_seconds() // 60)
            note = _(
                "Core banking has not confirmed command #%(id)d (%(kind)s) after %(minutes)d minutes "
                "(%(attempts)d attempts; last error: %(error)s)."
            ) % {
                "id": command.pk,
                "kind": command.get_kind_display(),
                "minutes": minutes,
                "attempts": command.attempts,
                "error": f"{command.last_error_code} {command.last_error}".strip() or _("none"),
            }
            hooks.cases().case_open(account=command.account, cause=CORE_SYNC, actor=CORE, note=note)
            command.flagged_at = now
            command.save(update_fields=["flagged_at"])
    return {"pending": pending.count(), "due": due, "flagged": len(late_ids)}
