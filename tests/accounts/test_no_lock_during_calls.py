"""No call to core banking is made while the portal holds a transaction, so none holds a row lock.

The gateway is wrapped: at every call it checks that the portal's database connection has no
transaction open, and, from a second connection, that the account's row can be locked at once
(``FOR UPDATE NOWAIT``). Every kind of command is sent, and reconciliation reads core's pages.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.db import connection

from accounts import delivery, reconcile
from accounts.gateway import CardPage, CoreAnswer, CoreCard, CoreRequest, SimulatedGateway
from accounts.models import ApprovalRequest, EmptyCause, LoanAccount, ReconciliationRun, State
from accounts.services import (
    Actor,
    account_decide,
    account_step_record,
    account_transition,
    approval_request_approve,
    approval_request_create,
)
from casework.batches import batch_run_chunk, batch_start
from tests.factories import make_account

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="row locks are PostgreSQL's to check (CI runs it on PostgreSQL)"
    ),
    pytest.mark.django_db(transaction=True),
]
SYSTEM = Actor.system("test", "job")


class WatchingGateway(SimulatedGateway):
    """The in-process core banking, which first checks that nothing of the portal is locked."""

    calls: list[str] = []
    problems: list[str] = []

    def _check(self, what: str, number: str | None) -> None:
        self.calls.append(what)
        status = connection.connection.info.transaction_status if connection.connection else None
        if status not in (None, psycopg.pq.TransactionStatus.IDLE):
            self.problems.append(f"{what}: the portal's connection is inside a transaction ({status.name})")
        if number:
            settings = connection.settings_dict
            with psycopg.connect(
                host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname=settings["NAME"]
            ) as other:
                try:
                    other.execute(
                        "SELECT id FROM accounts_loanaccount WHERE number = %s FOR UPDATE NOWAIT", [number]
                    ).fetchall()
                except psycopg.errors.LockNotAvailable:
                    self.problems.append(f"{what}: account {number} was locked during the call")

    def send(self, request: CoreRequest) -> CoreAnswer:
        body: dict[str, Any] = dict(request.body or {})
        token = body.get("card_token") or body.get("token") or request.path.split("/")[3]
        number = self.core.cards[token]["account_number"] if token in self.core.cards else body.get("account_number")
        self._check(f"{request.method} {request.path}", number)
        return super().send(request)

    def changed_cards(self, cursor: str, count: int) -> CardPage:
        self._check("GET /v1/cards", None)
        return super().changed_cards(cursor, count)

    def card(self, token: str) -> CoreCard | None:
        self._check(f"GET /v1/cards/{token}", None)
        return super().card(token)


def test_every_call_to_core_banking_is_made_with_no_lock_held(monkeypatch, credit, credit2, tech) -> None:
    monkeypatch.setattr(delivery, "get_gateway", WatchingGateway)
    monkeypatch.setattr(reconcile, "get_gateway", WatchingGateway)
    WatchingGateway.calls, WatchingGateway.problems = [], []

    issued = make_account(State.APPROVED, tier="high", steps=["sms_code", "password"])
    account_transition(account_id=issued.pk, transition_name="issue", actor=SYSTEM)
    delivery.commands_deliver()
    account_step_record(account_id=issued.pk, step="credit_review", actor=Actor.staff(credit), reason="ok")
    delivery.commands_deliver()  # activation
    tranche = approval_request_create(account_id=issued.pk, kind="release_tranche", requested_by=credit, reason="x")
    approval_request_approve(request_id=tranche.pk, approver=credit2)
    delivery.commands_deliver()  # the new limit
    account_transition(account_id=issued.pk, transition_name="hold", actor=Actor.staff(credit), reason="alert")
    delivery.commands_deliver()
    release = approval_request_create(
        account_id=issued.pk, kind=ApprovalRequest.Kind.RELEASE_HOLD, requested_by=credit, reason="cleared"
    )
    approval_request_approve(request_id=release.pk, approver=credit2)
    delivery.commands_deliver()  # reinstated
    account_transition(account_id=issued.pk, transition_name="close", actor=Actor.staff(credit), reason="repaid")
    delivery.commands_deliver()

    broken = make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG, steps=["sms_code"], card_state="")
    batch = batch_start(title="after the fix", account_ids=[broken.pk], user=tech)
    batch_run_chunk(batch.pk)
    delivery.commands_deliver()
    fixed_by_hand = make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG, steps=["sms_code"])
    account_decide(account_id=fixed_by_hand.pk, transition_name="activate", actor=Actor.staff(tech), reason="fixed")
    delivery.commands_deliver()
    reconcile.reconcile(mode=ReconciliationRun.Mode.FULL)

    assert LoanAccount.objects.get(pk=issued.pk).state == State.CLOSED
    assert LoanAccount.objects.get(pk=broken.pk).state == State.ACTIVE
    assert LoanAccount.objects.get(pk=fixed_by_hand.pk).state == State.ACTIVE
    kinds = {call.split(" ")[1] for call in WatchingGateway.calls}
    assert kinds >= {"/v1/cards", "/v1/cardtransitions", f"/v1/cards/CARD-{issued.number}/limit"}
    assert len(WatchingGateway.calls) >= 10
    assert WatchingGateway.problems == []
