"""Reads of customers and loan accounts for views and jobs, with their joins."""

from __future__ import annotations

import csv
import io
import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.http import Http404, HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from accounts import hooks
from accounts.hooks import AccountCase
from accounts.models import (
    ApprovalRequest,
    AuditEntry,
    CoreCommand,
    ImportRun,
    LoanAccount,
    Notification,
    ReconciliationRun,
    State,
    Tranche,
)
from accounts.policy import MANUAL_TRANSITIONS, TIERS, RiskTier, Step, may_trigger


def with_core_waiting[Q_: QuerySet[Any]](queryset: Q_, account: str = "pk") -> Q_:
    """Annotate each row with the command its account waits for from core banking (kind, since when).

    ``account`` names the account's key in the queryset (``pk`` for accounts, ``account_id``
    for cases): the same query, however many rows.
    """
    oldest = CoreCommand.objects.filter(account=OuterRef(account), status=CoreCommand.Status.PENDING).order_by("pk")
    annotated: Q_ = queryset.annotate(
        core_waiting=Subquery(oldest.values("kind")[:1]),
        core_waiting_since=Subquery(oldest.values("created_at")[:1]),
    )
    return annotated


def account_list() -> QuerySet[LoanAccount]:
    """Accounts with their customer and what they wait for from core banking (one query per page)."""
    return with_core_waiting(LoanAccount.objects.select_related("customer"))


def account_cases(account: LoanAccount, user: Any) -> list[AccountCase]:
    """The account's cases this user may see (casework answers, through the hooks), open ones first."""
    return hooks.cases().cases_of_account(user, account.pk)


def freed_q(start: datetime, end: datetime) -> Exists:
    """Accounts whose line was freed in ``[start, end)``: activated then, after having been empty.

    Active is reached from the empty state directly (a system fault fixed, a hold released) or
    through verification (a customer who finished the missing steps), so "empty at some time
    before the activation" rather than "from empty to active": both free a line that was stuck.
    Only a first activation can come from anywhere but ``empty``, so this adds no other accounts.
    """
    was_empty = AuditEntry.objects.filter(
        account=OuterRef("account"), to_state=State.EMPTY, created_at__lt=OuterRef("created_at")
    )
    activations = (
        AuditEntry.objects.filter(account=OuterRef("pk"), to_state=State.ACTIVE, created_at__gte=start)
        .filter(created_at__lt=end)
        .exclude(from_state=State.ACTIVE)
        .filter(Exists(was_empty))
    )
    return Exists(activations)


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


def account_commands(account: LoanAccount) -> list[CoreCommand]:
    """The account's latest commands to core banking, those still waiting first."""
    commands = list(account.core_commands.select_related("decided_by").order_by("-created_at", "-id")[:20])
    return sorted(commands, key=lambda command: not command.is_pending)


def account_notifications(account: LoanAccount) -> QuerySet[Notification]:
    return account.notifications.order_by("-created_at", "-id")[:20]


@dataclass(frozen=True)
class OutboxSummary:
    """How the commands to core banking stand, for the jobs page."""

    pending: int
    late: int
    refused_today: int
    oldest: CoreCommand | None
    late_commands: list[CoreCommand]
    stale_after_minutes: int


def outbox_summary() -> OutboxSummary:
    """Pending and late commands, today's refusals and the oldest ones waiting (two queries)."""
    now = timezone.now()
    stale = settings.CORE_COMMAND_STALE_MINUTES
    cutoff = now - timedelta(minutes=stale)
    pending = Q(status=CoreCommand.Status.PENDING)
    refused_today = Q(status=CoreCommand.Status.REFUSED, completed_at__gte=now - timedelta(days=1))
    counts = CoreCommand.objects.filter(pending | refused_today).aggregate(
        pending=Count("pk", filter=pending),
        late=Count("pk", filter=pending & Q(created_at__lt=cutoff)),
        refused_today=Count("pk", filter=refused_today),
    )
    oldest = list(CoreCommand.objects.filter(pending).select_related("account").order_by("created_at", "pk")[:10])
    return OutboxSummary(
        pending=counts["pending"],
        late=counts["late"],
        refused_today=counts["refused_today"],
        oldest=oldest[0] if oldest else None,
        late_commands=[command for command in oldest if command.created_at < cutoff],
        stale_after_minutes=stale,
    )


def last_reconciliations() -> list[ReconciliationRun]:
    """The latest run of each mode (changes since the last run, and the nightly full sweep), in one query."""
    latest = Q()
    for mode in ReconciliationRun.Mode:
        newest = ReconciliationRun.objects.filter(mode=mode).order_by("-started_at", "-pk").values("pk")[:1]
        latest |= Q(pk=Subquery(newest))
    return list(ReconciliationRun.objects.filter(latest).order_by("mode"))


def import_runs(limit: int = 10) -> QuerySet[ImportRun]:
    """The latest import runs, without their files, for the upload page."""
    return ImportRun.objects.defer("content", "errors_csv").select_related("created_by")[:limit]


def import_run(pk: int) -> ImportRun:
    run = ImportRun.objects.defer("content").select_related("created_by").filter(pk=pk).first()
    if run is None:
        raise Http404(_("There is no such import."))
    return run


def import_errors(run: ImportRun, limit: int = 200) -> list[tuple[str, str]]:
    """The first ``limit`` problems of a refused run, (line, reason); the report has them all."""
    rows = csv.reader(io.StringIO(run.errors_csv))
    next(rows, None)  # the header
    return [(line, problem) for line, problem in itertools.islice(rows, limit)]
