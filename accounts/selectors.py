"""Reads of customers and loan accounts for views and jobs, with their joins."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from accounts.models import (
    ActivationAttempt,
    ApprovalRequest,
    AuditEntry,
    LoanAccount,
    Notification,
    ReactivationBatch,
    State,
    Tranche,
)
from accounts.policy import MANUAL_TRANSITIONS, TIERS, RiskTier, Step, may_trigger


def account_list() -> QuerySet[LoanAccount]:
    """Accounts with their customer, for tables and exports (one query per page)."""
    return LoanAccount.objects.select_related("customer")


def get_account_for_user(request: HttpRequest, number: str) -> tuple[LoanAccount, bool]:
    """The account and whether this user may act on it at all; 404 if they may not see it."""
    user = request.user
    if not user.has_perm("accounts.view_loanaccount"):
        raise Http404
    try:
        account = LoanAccount.objects.select_related("customer", "credit_reviewed_by").get(number=number)
    except LoanAccount.DoesNotExist:
        raise Http404 from None
    can_edit = any(may_trigger(user, name) for name in MANUAL_TRANSITIONS)
    return account, can_edit


@dataclass(frozen=True)
class AccountAction:
    """A button on the account page: what it does and where it posts."""

    name: str
    label: str
    help_text: str
    needs_approval: bool = False
    danger: bool = False


def account_actions(account: LoanAccount, user: User | AnonymousUser) -> list[AccountAction]:
    """Exactly the actions this user may take on this account now."""
    actions: list[AccountAction] = []
    for name, manual in MANUAL_TRANSITIONS.items():
        if not may_trigger(user, name) or not can_proceed(getattr(account, name)):
            continue
        if name == "release_hold" and account.tier == RiskTier.HIGH:
            actions.append(
                AccountAction(
                    "request_release",
                    str(manual.label),
                    _("High-risk line: a second credit officer approves the release."),
                    needs_approval=True,
                )
            )
            continue
        actions.append(AccountAction(name, str(manual.label), str(manual.help_text), danger=name in ("close", "hold")))
    if (
        account.tier == RiskTier.HIGH
        and account.state in (State.ISSUED, State.VERIFYING, State.EMPTY)
        and not account.credit_reviewed_at
        and user.has_perm("accounts.review_credit")
        and may_trigger(user, "release_hold")
    ):
        actions.append(
            AccountAction(
                "credit_review", _("Approve credit review"), _("The high-risk tier's last verification step.")
            )
        )
    if (
        account.state in (State.ISSUED, State.VERIFYING)
        or (account.state == State.EMPTY and account.empty_cause == "customer_incomplete")
    ) and may_trigger(user, "begin_verification"):
        actions.append(
            AccountAction(
                "resend_activation",
                _("Resend the activation message"),
                _("SMS and email with a new personal link (at most every 10 minutes)."),
            )
        )
    if account.state == State.ACTIVE and TIERS[account.tier].staged and may_trigger(user, "release_hold"):
        actions.append(
            AccountAction(
                "request_tranche",
                _("Request next tranche"),
                _("Release the next slice of the line; a second credit officer approves."),
                needs_approval=True,
            )
        )
    return actions


@dataclass(frozen=True)
class VerificationStep:
    step: Step
    label: str
    required: bool
    done_at: Any
    done_by: Any


def verification_steps(account: LoanAccount) -> list[VerificationStep]:
    required = set(TIERS[account.tier].required_steps)
    done = account.steps_done()
    return [
        VerificationStep(
            step=step,
            label=str(step.label),
            required=step in required,
            done_at=done[step],
            done_by=account.credit_reviewed_by if step == Step.CREDIT_REVIEW else None,
        )
        for step in Step
    ]


def account_timeline(account: LoanAccount) -> QuerySet[AuditEntry]:
    return account.audit_entries.select_related("actor", "requested_by").order_by("-created_at", "-id")


def account_tranches(account: LoanAccount) -> QuerySet[Tranche]:
    return account.tranches.order_by("sequence")


def account_pending_requests(account: LoanAccount) -> QuerySet[ApprovalRequest]:
    return account.approval_requests.filter(status=ApprovalRequest.Status.PENDING).select_related(
        "requested_by", "tranche"
    )


def pending_approvals() -> QuerySet[ApprovalRequest]:
    """Every request waiting for a second officer, oldest first."""
    return (
        ApprovalRequest.objects.filter(status=ApprovalRequest.Status.PENDING)
        .select_related("account__customer", "requested_by", "tranche")
        .order_by("requested_at")
    )


def account_attempts(account: LoanAccount) -> QuerySet[ActivationAttempt]:
    return account.activation_attempts.order_by("-created_at", "-id")[:20]


def account_notifications(account: LoanAccount) -> QuerySet[Notification]:
    return account.notifications.order_by("-created_at", "-id")[:20]


def recent_batches(limit: int = 10) -> QuerySet[ReactivationBatch]:
    return ReactivationBatch.objects.select_related("created_by").order_by("-created_at")[:limit]
