"""The outbox to core banking: what core must carry out is written down with the decision.

``command_create`` runs inside the decision's transaction (the caller holds the account's row
lock): the ``CoreCommand`` row, with the exact request and its idempotency key, commits or
rolls back with the transition and its audit row. Once the transaction commits, a delivery
job is queued (``accounts.delivery``); if Redis is down then, the periodic sweeper finds the
command in the database and queues it later. Nothing here talks to core banking.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction

from accounts.models import ApprovalRequest, CoreCommand, LoanAccount, Tranche
from accounts.policy import tranche_amounts
from portal.actors import Actor
from portal.bulk import bulk_save_fields
from portal.queueing import enqueue_on_commit

Kind = CoreCommand.Kind
# The contract's card transitions: the state asked for, and Marqeta-style reason codes.
TRANSITIONS = {
    Kind.ACTIVATE: ("ACTIVE", "00"),
    Kind.SUSPEND: ("SUSPENDED", "06"),
    Kind.REINSTATE: ("ACTIVE", "07"),
    Kind.TERMINATE: ("TERMINATED", "17"),
}
DELIVERY_JOB = "accounts.jobs.deliver_core_commands"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def card_token_for(account: LoanAccount) -> str:
    """The token the portal gives the card of this line (the contract lets the client choose it)."""
    return account.card_token or f"CARD-{account.number}"


def _text(value: str) -> str:
    """Free text as the contract takes it: no control characters, at most 255 characters."""
    return _CONTROL.sub(" ", value).strip()[:255]


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def core_request(
    account: LoanAccount, kind: str, *, reason: str = "", usable_limit: Decimal | None = None
) -> tuple[str, str, dict[str, Any]]:
    """Method, path and body of the contract's request for ``kind`` on this account's card."""
    token = card_token_for(account)
    if kind == Kind.ISSUE:
        return (
            "POST",
            "/v1/cards",
            {
                "token": token,
                "account_number": account.number,
                "product": account.product,
                "channel": account.channel,
                "credit_limit": _money(account.approved_limit),
                "usable_limit": _money(tranche_amounts(account.approved_limit, account.tier)[0]),
            },
        )
    if kind == Kind.SET_LIMIT:
        if usable_limit is None:
            raise ValueError("set_limit needs the new usable limit")
        return "PUT", f"/v1/cards/{token}/limit", {"usable_limit": _money(usable_limit), "reason": _text(reason)}
    state, reason_code = TRANSITIONS[Kind(kind)]
    body = {"card_token": token, "state": state, "channel": "API", "reason_code": reason_code}
    if reason.strip():
        body["reason"] = _text(reason)
    return "POST", "/v1/cardtransitions", body


def pending_kinds(account: LoanAccount) -> set[str]:
    return set(
        CoreCommand.objects.filter(account=account, status=CoreCommand.Status.PENDING).values_list("kind", flat=True)
    )


def schedule_delivery() -> None:
    """Queue a delivery run once the current transaction commits (the sweeper covers a lost one)."""
    enqueue_on_commit(DELIVERY_JOB)


def _command(
    account: LoanAccount, kind: str, actor: Actor, reason: str, usable_limit: Decimal | None = None, **links: Any
) -> CoreCommand:
    """The unsaved command row: the exact request, who decided it and why."""
    method, path, body = core_request(account, kind, reason=reason, usable_limit=usable_limit)
    return CoreCommand(
        account=account,
        kind=kind,
        method=method,
        path=path,
        body=body,
        reason=reason.strip(),
        actor_name=actor.name,
        actor_channel=actor.channel,
        decided_by=actor.user,
        **links,
    )


def _give_tokens(accounts: Sequence[LoanAccount]) -> None:
    """A card token for each account that has none yet (the token is ours to choose)."""
    missing = [account for account in accounts if not account.card_token]
    for account in missing:
        account.card_token = card_token_for(account)
    bulk_save_fields(missing, ["card_token"])


def command_create(
    *,
    account: LoanAccount,
    kind: str,
    actor: Actor,
    reason: str = "",
    requested_by: User | None = None,
    approval: ApprovalRequest | None = None,
    tranche: Tranche | None = None,
    usable_limit: Decimal | None = None,
    deliver: bool = True,
) -> CoreCommand:
    """Write down what core banking must do for this account, in the caller's transaction.

    Asking for something already on its way (a pending command of the same kind) asks once:
    the pending command is returned. ``deliver=False`` leaves the queueing to the caller (a
    job that writes many commands queues one delivery run for all of them).
    """
    existing = CoreCommand.objects.filter(account=account, kind=kind, status=CoreCommand.Status.PENDING).first()
    if existing is not None:
        return existing
    _give_tokens([account])
    command = _command(
        account, kind, actor, reason, usable_limit,
        requested_by=requested_by, approval=approval, tranche=tranche,
    )  # fmt: skip
    try:
        with transaction.atomic():
            command.save(force_insert=True)
    except IntegrityError:  # the same command written at the same moment by another transaction
        return CoreCommand.objects.get(account=account, kind=kind, status=CoreCommand.Status.PENDING)
    if deliver:
        schedule_delivery()
    return command


def commands_create_bulk(accounts: Sequence[LoanAccount], *, kind: str, actor: Actor, reason: str) -> None:
    """``command_create(deliver=False)`` for many accounts at once (a job's micro-batch), in a few queries.

    The caller holds the accounts' row locks. An account with a command of ``kind`` already on
    its way keeps that one, as with ``command_create``; if another transaction writes one at
    the same moment, the accounts are written one by one and that one is kept.
    """
    pending = set(
        CoreCommand.objects.filter(account__in=accounts, kind=kind, status=CoreCommand.Status.PENDING).values_list(
            "account_id", flat=True
        )
    )
    accounts = [account for account in accounts if account.pk not in pending]
    _give_tokens(accounts)
    try:
        with transaction.atomic():
            CoreCommand.objects.bulk_create(_command(account, kind, actor, reason) for account in accounts)
    except IntegrityError:
        for account in accounts:
            command_create(account=account, kind=kind, actor=actor, reason=reason, deliver=False)
