"""Automated activation: one attempt at core banking, and what it means for the account."""

from __future__ import annotations

import logging
import time

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.gateway import GatewayError, PermanentGatewayError, get_gateway
from accounts.models import ActivationAttempt, EmptyCause, LoanAccount, ReactivationBatch, State
from accounts.services import AccountActionError, account_transition
from portal.actors import Actor

log = logging.getLogger(__name__)
ACTIVATABLE = (State.ISSUED, State.VERIFYING, State.EMPTY)


def _activatable(account: LoanAccount) -> bool:
    if account.state == State.EMPTY:
        return account.empty_cause == EmptyCause.SYSTEM_CONFIG
    return account.state in (State.ISSUED, State.VERIFYING)


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
    started = time.monotonic()
    error: GatewayError | None = None
    try:
        get_gateway().activate_card(account.number, product=account.product, channel=account.channel, attempt=number)
    except GatewayError as exc:
        error = exc
    duration_ms = int((time.monotonic() - started) * 1000)
    if error is None:
        result = ActivationAttempt.Result.SUCCEEDED
    elif isinstance(error, PermanentGatewayError):
        result = ActivationAttempt.Result.PERMANENT_ERROR
    else:
        result = ActivationAttempt.Result.TRANSIENT_ERROR
    attempt = ActivationAttempt.objects.create(
        account=account,
        number=number,
        result=result,
        error_code=error.code if error else "",
        error=error.message[:300] if error else "",
        duration_ms=duration_ms,
        batch=batch,
    )
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
                    account_id=account.pk,
                    transition_name="activate",
                    actor=actor,
                    reason=_("Core banking activated the card (attempt %(n)d).") % {"n": number},
                )
        elif (final or result == ActivationAttempt.Result.PERMANENT_ERROR) and account.state != State.EMPTY:
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
