"""Four-eyes: one credit officer asks for a release, another approves; both are on record."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.delivery import commands_deliver
from accounts.models import ApprovalRequest, AuditEntry, CoreCommand, EmptyCause, LoanAccount, State
from accounts.services import (
    AccountActionError,
    Actor,
    account_decide,
    account_step_record,
    approval_request_approve,
    approval_request_create,
    approval_request_reject,
)
from tests.factories import make_account

pytestmark = pytest.mark.django_db
HIGH_STEPS = ["sms_code", "password", "credit_review"]


def held_high_risk_account() -> LoanAccount:
    return make_account(State.EMPTY, EmptyCause.RISK_HOLD, tier="high", steps=HIGH_STEPS, activated=True)


def test_a_high_risk_hold_cannot_be_released_by_one_officer(credit) -> None:
    account = held_high_risk_account()
    with pytest.raises(AccountActionError, match="second credit officer"):
        account_decide(account_id=account.pk, transition_name="release_hold", actor=Actor.staff(credit), reason="ok")
    assert LoanAccount.objects.get(pk=account.pk).on_hold
    assert not CoreCommand.objects.exists()


def test_the_requester_cannot_approve_their_own_request(credit) -> None:
    account = held_high_risk_account()
    request = approval_request_create(
        account_id=account.pk, kind=ApprovalRequest.Kind.RELEASE_HOLD, requested_by=credit, reason="cleared"
    )
    with pytest.raises(AccountActionError, match="You asked for this release yourself"):
        approval_request_approve(request_id=request.pk, approver=credit)
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.PENDING
    assert LoanAccount.objects.get(pk=account.pk).on_hold


def test_a_second_officer_approves_and_both_names_are_recorded(credit, credit2) -> None:
    account = held_high_risk_account()
    request = approval_request_create(
        account_id=account.pk, kind=ApprovalRequest.Kind.RELEASE_HOLD, requested_by=credit, reason="fraud cleared"
    )
    approval_request_approve(request_id=request.pk, approver=credit2, note="checked the file")

    # The decision is on record with both names; the line stays held until core banking reinstates the card.
    account.refresh_from_db()
    assert account.on_hold
    decision = AuditEntry.objects.get(account=account)
    assert (decision.transition, decision.actor, decision.requested_by) == ("ask_core", credit2, credit)
    assert "fraud cleared" in decision.reason
    request.refresh_from_db()
    assert (request.status, request.decided_by, request.decision_note) == ("approved", credit2, "checked the file")
    command = CoreCommand.objects.get(account=account)
    assert (command.kind, command.body["state"], command.approval) == ("reinstate", "ACTIVE", request)

    commands_deliver()
    account.refresh_from_db()
    assert (account.state, account.card_state) == (State.ACTIVE, "ACTIVE")
    released = AuditEntry.objects.get(account=account, transition="release_hold")
    assert (released.actor_name, released.channel, released.requested_by) == ("core banking", "core", credit2)
    assert released.details == {"core": f"command {command.pk}"}
    assert "fraud cleared" in released.reason


def test_the_database_refuses_a_self_approval_even_past_the_service(credit) -> None:
    from django.db import IntegrityError, transaction

    account = held_high_risk_account()
    request = approval_request_create(
        account_id=account.pk, kind=ApprovalRequest.Kind.RELEASE_HOLD, requested_by=credit, reason="x"
    )
    request.decided_by = credit
    with pytest.raises(IntegrityError), transaction.atomic():
        request.save()


def test_only_one_request_of_a_kind_waits_per_account(credit, credit2) -> None:
    account = held_high_risk_account()
    approval_request_create(account_id=account.pk, kind="release_hold", requested_by=credit, reason="one")
    with pytest.raises(AccountActionError, match="already waiting"):
        approval_request_create(account_id=account.pk, kind="release_hold", requested_by=credit2, reason="two")


def test_other_roles_cannot_request_or_approve(credit, service, tech, auditor) -> None:
    from django.core.exceptions import PermissionDenied

    account = held_high_risk_account()
    for outsider in (service, tech, auditor):
        with pytest.raises(PermissionDenied):
            approval_request_create(account_id=account.pk, kind="release_hold", requested_by=outsider, reason="x")
    request = approval_request_create(account_id=account.pk, kind="release_hold", requested_by=credit, reason="x")
    for outsider in (service, tech, auditor):
        with pytest.raises(PermissionDenied):
            approval_request_approve(request_id=request.pk, approver=outsider)


def test_the_next_tranche_is_released_once_core_banking_sets_the_limit(credit, credit2) -> None:
    account = make_account(State.VERIFYING, tier="high", steps=["sms_code", "password"])
    account_step_record(account_id=account.pk, step="credit_review", actor=Actor.staff(credit), reason="file ok")
    commands_deliver()  # the activation core banking was asked for, with the first tranche usable
    account.refresh_from_db()
    assert account.state == State.ACTIVE
    first = account.released_limit

    request = approval_request_create(account_id=account.pk, kind="release_tranche", requested_by=credit, reason="good")
    assert request.tranche is not None and request.tranche.sequence == 2
    approval_request_approve(request_id=request.pk, approver=credit2)
    account.refresh_from_db()
    assert account.released_limit == first  # not before core banking has it
    with pytest.raises(AccountActionError, match="still waiting for core banking"):
        approval_request_create(account_id=account.pk, kind="release_tranche", requested_by=credit, reason="more")
    commands_deliver()
    account.refresh_from_db()
    assert account.released_limit == first + request.tranche.amount
    entry = account.audit_entries.filter(transition="release_tranche").get()
    assert (entry.actor_name, entry.requested_by, entry.details["tranche"]) == ("core banking", credit, 2)
    assert entry.details["core"].startswith("command ")

    last = approval_request_create(account_id=account.pk, kind="release_tranche", requested_by=credit2, reason="3")
    approval_request_approve(request_id=last.pk, approver=credit)
    commands_deliver()
    account.refresh_from_db()
    assert account.released_limit == account.approved_limit
    with pytest.raises(AccountActionError, match="already released"):
        approval_request_create(account_id=account.pk, kind="release_tranche", requested_by=credit, reason="4")


def test_a_rejection_needs_a_note_and_leaves_the_hold(credit, credit2) -> None:
    account = held_high_risk_account()
    request = approval_request_create(account_id=account.pk, kind="release_hold", requested_by=credit, reason="x")
    with pytest.raises(AccountActionError, match="Say why"):
        approval_request_reject(request_id=request.pk, decider=credit2, note="")
    approval_request_reject(request_id=request.pk, decider=credit2, note="still under review")
    request.refresh_from_db()
    assert (request.status, request.decided_by) == ("rejected", credit2)
    assert LoanAccount.objects.get(pk=account.pk).on_hold
    with pytest.raises(AccountActionError, match="already rejected"):
        approval_request_approve(request_id=request.pk, approver=credit2)


def test_the_pending_page_lists_requests_and_lets_the_other_officer_approve(client: Client, credit, credit2) -> None:
    account = held_high_risk_account()
    client.force_login(credit)
    client.post(
        reverse("accounts:action", args=[account.number, "request_release"]),
        {"reason": "cleared by compliance", "version": account.version},
    )
    request = ApprovalRequest.objects.get(account=account)

    page = client.get(reverse("accounts:approvals")).content.decode()
    assert "cleared by compliance" in page
    assert "Withdraw" in page and reverse("accounts:approval_decide", args=[request.pk, "approve"]) not in page

    client.force_login(credit2)
    page = client.get(reverse("accounts:approvals")).content.decode()
    assert reverse("accounts:approval_decide", args=[request.pk, "approve"]) in page
    client.post(reverse("accounts:approval_decide", args=[request.pk, "approve"]))
    waiting = client.get(account.get_absolute_url()).content.decode()
    assert "Waiting for core banking" in waiting and "Reinstate the card" in waiting
    commands_deliver()
    assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE


def test_the_pending_page_pins_its_query_count(client: Client, credit, credit2, django_assert_num_queries) -> None:
    def add_requests(count: int) -> None:
        for _ in range(count):
            account = held_high_risk_account()
            approval_request_create(account_id=account.pk, kind="release_hold", requested_by=credit, reason="x")

    client.force_login(credit2)
    add_requests(2)
    client.get(reverse("accounts:approvals"))
    with django_assert_num_queries(7) as few:
        client.get(reverse("accounts:approvals"))
    add_requests(20)
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get(reverse("accounts:approvals")).status_code == 200
