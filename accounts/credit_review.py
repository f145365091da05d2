"""The nightly credit review: re-score active and held accounts and propose, never decide.

Review score = the customer's credit score
  - 60 if the line was put on risk hold in the last 180 days,
  - 30 for each failed activation attempt in the last 30 days (at most - 90).

Proposals (one open proposal per account at a time):
  * active, staged line with a tranche still planned, usable for 90 days or more, score ≥ 700
    → release the next tranche (a credit officer requests it; a second one approves);
  * active and score < 550 → put the line on risk hold;
  * on risk hold for 30 days or more and score ≥ 700 → consider releasing the hold.

Limits never change here: every proposal waits for a credit officer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from accounts.models import (
    AuditEntry,
    CoreCommand,
    CreditReviewProposal,
    EmptyCause,
    LoanAccount,
    State,
    Tranche,
)
from accounts.services import AccountActionError

GOOD_SCORE = 700
POOR_SCORE = 550
HOLD_PENALTY = 60
FAILED_ATTEMPT_PENALTY = 30
BATCH_SIZE = 2000


def review_score(credit_score: int, recent_hold: bool, failed_attempts: int) -> int:
    return credit_score - (HOLD_PENALTY if recent_hold else 0) - FAILED_ATTEMPT_PENALTY * min(failed_attempts, 3)


def _proposal(account: LoanAccount, score: int, now: datetime) -> tuple[str, str] | None:
    if account.state == State.ACTIVE:
        if score < POOR_SCORE:
            return CreditReviewProposal.Kind.HOLD, f"Review score {score} is below {POOR_SCORE}."
        usable_since = account.activated_at
        if (
            account.has_planned_tranche  # type: ignore[attr-defined]
            and usable_since
            and now - usable_since >= timedelta(days=90)
            and score >= GOOD_SCORE
        ):
            return (
                CreditReviewProposal.Kind.RELEASE_NEXT_TRANCHE,
                f"Usable for {(now - usable_since).days} days in good standing; review score {score}.",
            )
    elif (
        account.on_hold
        and account.empty_since
        and now - account.empty_since >= timedelta(days=30)
        and score >= GOOD_SCORE
    ):
        return (
            CreditReviewProposal.Kind.RELEASE_HOLD,
            f"On hold for {(now - account.empty_since).days} days; review score {score}.",
        )
    return None


def credit_review_run(*, now: datetime | None = None) -> dict[str, int]:
    """Review every active or held account in batches; add the proposals that are new."""
    now = now or timezone.now()
    counts = {"reviewed": 0, "proposed": 0}
    reviewed = (
        LoanAccount.objects.filter(Q(state=State.ACTIVE) | Q(state=State.EMPTY, empty_cause=EmptyCause.RISK_HOLD))
        .filter(is_drill=False)
        .select_related("customer")
        .annotate(
            recent_hold=Exists(
                AuditEntry.objects.filter(
                    account=OuterRef("pk"), transition="hold", created_at__gte=now - timedelta(days=180)
                )
            ),
            failed_attempts=Count(
                "core_commands",
                filter=Q(
                    core_commands__status=CoreCommand.Status.REFUSED,
                    core_commands__kind__in=(CoreCommand.Kind.ISSUE, CoreCommand.Kind.ACTIVATE),
                    core_commands__created_at__gte=now - timedelta(days=30),
                ),
            ),
            has_planned_tranche=Exists(Tranche.objects.filter(account=OuterRef("pk"), status=Tranche.Status.PLANNED)),
            has_open_proposal=Exists(
                CreditReviewProposal.objects.filter(account=OuterRef("pk"), status=CreditReviewProposal.Status.OPEN)
            ),
        )
        .order_by("pk")
    )
    after = 0
    while True:
        batch = list(reviewed.filter(pk__gt=after)[:BATCH_SIZE])
        if not batch:
            return counts
        proposals = []
        for account in batch:
            counts["reviewed"] += 1
            if account.has_open_proposal:
                continue  # one open proposal per account: it keeps the one it has
            score = review_score(account.customer.credit_score, account.recent_hold, account.failed_attempts)
            proposal = _proposal(account, score, now)
            if proposal:
                proposals.append(
                    CreditReviewProposal(account=account, kind=proposal[0], score=score, reason=proposal[1])
                )
        # ignore_conflicts: a concurrent run may have proposed the same a moment ago.
        CreditReviewProposal.objects.bulk_create(proposals, ignore_conflicts=True)
        counts["proposed"] += len(proposals)
        after = batch[-1].pk


@transaction.atomic
def proposal_decide(*, proposal_id: int, user: User, done: bool) -> CreditReviewProposal:
    """A credit officer marks a proposal acted on, or dismisses it."""
    if not user.has_perm("accounts.review_credit"):
        raise PermissionDenied(_("Only credit officers decide on credit review proposals."))
    proposal = CreditReviewProposal.objects.select_for_update().get(pk=proposal_id)
    decide = proposal.act_on if done else proposal.dismiss
    if not can_proceed(decide):
        raise AccountActionError(_("This proposal was already decided."))
    decide(user)
    proposal.save()
    return proposal
