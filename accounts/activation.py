"""Automated activation: one attempt at core banking, and what it means for the account.

``account_activation_attempt`` does it for one account (the activation job);
``accounts_reactivate`` for many empty accounts at once (a reactivation batch's micro-batch),
with the same outcome for each account and a constant number of queries.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from accounts.gateway import Gateway, GatewayError, PermanentGatewayError, get_gateway
from accounts.models import ActivationAttempt, EmptyCause, LoanAccount, ReactivationBatch, State
from accounts.services import AccountActionError, account_transition, accounts_transition_bulk
from portal.actors import Actor
from portal.bulk import bulk_save_fields

log = logging.getLogger(__name__)
ACTIVATABLE = (State.ISSUED, State.VERIFYING, State.EMPTY)


def _activatable(account: LoanAccount) -> bool:
    if account.state == State.EMPTY:
        return account.empty_cause == EmptyCause.SYSTEM_CONFIG
    return account.state in (State.ISSUED, State.VERIFYING)


def _locked(account_ids: Sequence[int]) -> list[LoanAccount]:
    # Lock the account rows only (in id order, as every multi-row locker should); the customer is read along.
    return list(
        LoanAccount.objects.select_for_update(of=("self",))
        .select_related("customer")
        .filter(pk__in=account_ids)
        .order_by("pk")
    )


def _activated_reason(number: int) -> str:
    return _("Core banking activated the card (attempt %(n)d).") % {"n": number}


def _call_core_banking(
    gateway: Gateway, account: LoanAccount, *, number: int, batch: ReactivationBatch | None
) -> tuple[ActivationAttempt, GatewayError | None]:
    """Ask core banking once; the attempt row that records it (not saved yet), and its error if any."""
    started = time.monotonic()
    error: GatewayError | None = None
    try:
        gateway.activate_card(account.number, product=account.product, channel=account.channel, attempt=number)
    except GatewayError as exc:
        error = exc
    duration_ms = int((time.monotonic() - started) * 1000)
    if error is None:
        result = ActivationAttempt.Result.SUCCEEDED
    elif isinstance(error, PermanentGatewayError):
        result = ActivationAttempt.Result.PERMANENT_ERROR
    else:
        result = ActivationAttempt.Result.TRANSIENT_ERROR
    attempt = ActivationAttempt(
        account=account,
        number=number,
        result=result,
        error_code=error.code if error else "",
        error=error.message[:300] if error else "",
        duration_ms=duration_ms,
        batch=batch,
    )
    return attempt, error


@transaction.atomic
def account_activation_attempt(
    *, account_id: int, actor: Actor, final: bool = True, batch: ReactivationBatch | None = None
) -> ActivationAttempt | None:
    """Ask core banking to activate the card once and move the account accordingly.

    * success: the account becomes active if the customer's steps are done, else it waits in
      ``verifying`` for them;
    * a permanent error, or a transient one on the last try (``final``): ``fail_activation``
      (empty, ``system_config``, with the error code), which opens the tech case;
    * a transient error before the last try: only recorded; the caller retries.

    Returns ``None`` (and does nothing) when the account no longer needs activating.
    """
    account = LoanAccount.objects.select_for_update(of=("self",)).select_related("customer").get(pk=account_id)
    if not _activatable(account):
        return None
    number = account.activation_attempts.count() + 1
    attempt, error = _call_core_banking(get_gateway(), account, number=number, batch=batch)
    attempt.save(force_insert=True)
    try:
        if error is None:
            if account.steps_missing() and account.state == State.ISSUED:
                account_transition(
                    account_id=account.pk,
                    transition_name="begin_verification",
                    actor=actor,
                    reason=_("Card activated in core banking; waiting for the customer's verification steps."),
                )
            elif not account.steps_missing():
                account_transition(
                    account_id=account.pk, transition_name="activate", actor=actor, reason=_activated_reason(number)
                )
        elif (final or attempt.result == ActivationAttempt.Result.PERMANENT_ERROR) and account.state != State.EMPTY:
            account_transition(
                account_id=account.pk,
                transition_name="fail_activation",
                actor=actor,
                reason=_("Activation failed in core banking: %(code)s %(message)s")
                % {"code": error.code, "message": error.message},
                error_code=error.code,
            )
        elif account.state == State.EMPTY and error is not None:
            LoanAccount.objects.filter(pk=account.pk).update(last_error_code=error.code)
    except AccountActionError as exc:  # e.g. the account was held meanwhile: keep the attempt, move nothing
        log.info("activation attempt %s on %s left the account as it is: %s", number, account.number, exc.message)
    return attempt


@dataclass(frozen=True)
class Reactivation:
    """How one account of a batch came out: its attempt (``None``: it no longer needed one) and state."""

    attempt: ActivationAttempt | None
    state: str


@transaction.atomic
def accounts_reactivate(
    *,
    account_ids: Sequence[int],
    actor: Actor,
    batch: ReactivationBatch | None = None,
    time_budget: float | None = None,
) -> dict[int, Reactivation]:
    """``account_activation_attempt`` for many accounts at once, in a constant number of queries.

    Locks the accounts in one query, numbers their attempts with one grouped count, calls core
    banking once per account (the simulated backend reads its faults once), saves the attempts
    in one insert, activates in bulk those core banking activated whose customer steps are done
    (``accounts_transition_bulk``) and notes the error code on the others. Accounts empty for
    another cause, active or closed get no attempt; one that is issued or verifying again (its
    hold released meanwhile) takes the one-account path, as it would have alone.

    With ``time_budget`` (seconds) core banking is not called any more once that much time has
    gone by (after at least one call): the accounts not reached are missing from the result and
    untouched, so a slow core banking does not hold many locks for long.
    """
    accounts = _locked(account_ids)
    empty = [account for account in accounts if account.state == State.EMPTY and _activatable(account)]
    previous = dict(
        ActivationAttempt.objects.filter(account__in=empty)
        .order_by()
        .values("account_id")
        .annotate(count=Count("pk"))
        .values_list("account_id", "count")
    )
    gateway = get_gateway(for_batch=True) if empty else None
    outcomes: dict[int, Reactivation] = {}
    attempts: list[ActivationAttempt] = []
    started, calls = time.monotonic(), 0
    for account in accounts:
        if not _activatable(account):
            outcomes[account.pk] = Reactivation(attempt=None, state=account.state)
            continue
        if time_budget is not None and calls and time.monotonic() - started >= time_budget:
            break
        calls += 1
        if gateway is None or account.state != State.EMPTY:
            alone = account_activation_attempt(account_id=account.pk, actor=actor, batch=batch)
            state = LoanAccount.objects.filter(pk=account.pk).values_list("state", flat=True).get()
            outcomes[account.pk] = Reactivation(attempt=alone, state=state)
            continue
        attempt, _error = _call_core_banking(gateway, account, number=previous.get(account.pk, 0) + 1, batch=batch)
        attempts.append(attempt)
    ActivationAttempt.objects.bulk_create(attempts)

    ready = [a for a in attempts if a.result == ActivationAttempt.Result.SUCCEEDED and not a.account.steps_missing()]
    activation = accounts_transition_bulk(
        accounts=[attempt.account for attempt in ready],
        transition_name="activate",
        actor=actor,
        reason={attempt.account_id: _activated_reason(attempt.number) for attempt in ready},
    )
    for account_id, refusal in activation.refused.items():  # e.g. held meanwhile: keep the attempt, move nothing
        log.info("reactivation of account %s left it as it is: %s", account_id, refusal)
    # Still empty for a system fault: the account shows what core banking says now.
    failed = [attempt for attempt in attempts if attempt.result != ActivationAttempt.Result.SUCCEEDED]
    for attempt in failed:
        attempt.account.last_error_code = attempt.error_code
    bulk_save_fields([attempt.account for attempt in failed], ["last_error_code"])
    for attempt in attempts:
        outcomes[attempt.account_id] = Reactivation(attempt=attempt, state=attempt.account.state)
    return outcomes
