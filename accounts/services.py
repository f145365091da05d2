"""Every write to customers and loan accounts.

A state change goes through ``account_transition``: lock the row, check that the caller saw
the current version, check permission and the transition's conditions, run the transition,
save, write one audit row. Jobs that move many accounts at once (reactivation batches) use
``accounts_transition_bulk``: the same steps for each account, in a constant number of
queries. Four-eyes requests and tranche releases are here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django_fsm import TransitionNotAllowed, can_proceed
from rq import Retry

from accounts.models import (
    ApprovalRequest,
    AuditEntry,
    Channel,
    LoanAccount,
    State,
    Tranche,
)
from accounts.policy import (
    MANUAL_TRANSITIONS,
    SYSTEM_ONLY_TRANSITIONS,
    TIERS,
    RiskTier,
    Step,
    may_trigger,
    tranche_amounts,
)
from casework.services import case_open_for_account, cases_resolve_for_account, cases_resolve_for_accounts
from portal.actors import Actor
from portal.bulk import bulk_save_fields
from portal.queueing import enqueue_on_commit

TRANSITIONS = (*MANUAL_TRANSITIONS, *SYSTEM_ONLY_TRANSITIONS)


class AccountActionError(Exception):
    """A refused action, with a message written for the person who tried it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class AccountChanged(AccountActionError):
    """Someone else changed the account after the caller last read it."""

    def __init__(self, account: LoanAccount) -> None:
        last = account.audit_entries.order_by("-created_at", "-id").first()
        if last:
            message = _(
                "%(who)s changed this account (%(action)s) at %(when)s, after you opened it. "
                "Nothing was saved: look at the account as it is now and try again if still needed."
            ) % {
                "who": last.actor_name,
                "action": last.transition.replace("_", " "),
                "when": date_format(timezone.localtime(last.created_at), "DATETIME_FORMAT"),
            }
        else:
            message = _("This account changed after you opened it. Nothing was saved; reload and try again.")
        super().__init__(message)
        self.last_change = last


def _describe_refusal(account: LoanAccount, transition_name: str) -> str:
    label = str(MANUAL_TRANSITIONS[transition_name].label) if transition_name in MANUAL_TRANSITIONS else transition_name
    state = account.get_state_display()
    if transition_name in ("activate", "release_hold") and account.state in (
        State.ISSUED,
        State.VERIFYING,
        State.EMPTY,
    ):
        missing = account.steps_missing()
        if transition_name == "activate" and account.on_hold:
            return _("%(action)s is not possible: the line is on risk hold; credit must release it first.") % {
                "action": label
            }
        if transition_name == "activate" and missing:
            return _("%(action)s is not possible yet: still missing %(steps)s.") % {
                "action": label,
                "steps": ", ".join(str(Step(step).label) for step in missing),
            }
    if account.state == State.EMPTY:
        state = f"{state} ({account.get_empty_cause_display()})"
    return _("%(action)s is not possible while the account is %(state)s.") % {"action": label, "state": state}


def activation_job_id(account_id: int) -> str:
    return f"activate-account-{account_id}"


def enqueue_activation(account_id: int) -> None:
    """Automated activation runs once the card is issued (and the issue is committed)."""
    enqueue_on_commit(
        "accounts.jobs.activate_account",
        account_id,
        job_id=activation_job_id(account_id),
        retry=Retry(max=len(settings.ACTIVATION_RETRY_INTERVALS), interval=settings.ACTIVATION_RETRY_INTERVALS),
    )


def _lock(account_id: int) -> LoanAccount:
    # Lock the account row only; the customer is read along but not locked.
    return LoanAccount.objects.select_for_update(of=("self",)).select_related("customer").get(pk=account_id)


def _audit_entry(
    account: LoanAccount,
    *,
    action: str,
    from_state: str,
    actor: Actor,
    reason: str,
    requested_by: User | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    return AuditEntry(
        account=account,
        transition=action,
        from_state=from_state,
        to_state=account.state,
        actor=actor.user,
        actor_name=actor.name,
        requested_by=requested_by,
        channel=actor.channel,
        reason=reason,
        details=details or {},
    )


def _audit(
    account: LoanAccount,
    *,
    action: str,
    from_state: str,
    actor: Actor,
    reason: str,
    requested_by: User | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = _audit_entry(
        account,
        action=action,
        from_state=from_state,
        actor=actor,
        reason=reason,
        requested_by=requested_by,
        details=details,
    )
    entry.save(force_insert=True)
    return entry


def _check_version(account: LoanAccount, expected_version: int | None) -> None:
    if expected_version is not None and account.version != expected_version:
        raise AccountChanged(account)


def _tranche_plan(account: LoanAccount, now: datetime) -> list[Tranche]:
    return [
        Tranche(
            account=account,
            sequence=index,
            amount=amount,
            status=Tranche.Status.RELEASED if index == 1 else Tranche.Status.PLANNED,
            released_at=now if index == 1 else None,
        )
        for index, amount in enumerate(tranche_amounts(account.approved_limit, account.tier), start=1)
    ]


def _ensure_tranches(account: LoanAccount) -> None:
    """Lay out the tranche plan once the line becomes usable; the first is released with it."""
    if account.tranches.exists():
        return
    Tranche.objects.bulk_create(_tranche_plan(account, timezone.now()))


def _ensure_tranches_bulk(accounts: Sequence[LoanAccount]) -> None:
    """``_ensure_tranches`` for many accounts: one query for who has a plan, one insert for the rest."""
    if not accounts:
        return
    planned = set(
        Tranche.objects.filter(account__in=accounts).order_by().values_list("account_id", flat=True).distinct()
    )
    now = timezone.now()
    Tranche.objects.bulk_create(
        tranche for account in accounts if account.pk not in planned for tranche in _tranche_plan(account, now)
    )


@transaction.atomic
def account_transition(
    *,
    account_id: int,
    transition_name: str,
    actor: Actor,
    reason: str = "",
    expected_version: int | None = None,
    requested_by: User | None = None,
    four_eyes_checked: bool = False,
    **kwargs: Any,
) -> LoanAccount:
    """Apply one transition to one account, audited.

    Staff (``actor.user`` set) need the transition's permission and a reason; system actors
    (jobs, the webhook, imports) act as the system. ``expected_version`` is the version the
    caller saw; if the account changed since, ``AccountChanged`` says who changed it and when.
    Raises ``AccountActionError`` with a user-facing message; nothing is written then.
    """
    if transition_name not in TRANSITIONS:
        raise AccountActionError(_("There is no action called “%(name)s”.") % {"name": transition_name})
    account = _lock(account_id)
    _check_version(account, expected_version)
    method = getattr(account, transition_name)
    if actor.user is not None:
        if not may_trigger(actor.user, transition_name):
            raise PermissionDenied(_("Your role does not allow this action on this account."))
        if not reason.strip():
            raise AccountActionError(_("Give a reason: it goes into the account's audit trail."))
        if (
            transition_name == "release_hold"
            and account.tier == RiskTier.HIGH
            and not four_eyes_checked
            and actor.channel in (Channel.WEB, Channel.ADMIN)
        ):
            raise AccountActionError(
                _("A high-risk line is released only with a second credit officer's approval: request the release.")
            )
    if not can_proceed(method):
        raise AccountActionError(_describe_refusal(account, transition_name))

    from_state = account.state
    try:
        method(**kwargs)
    except TransitionNotAllowed:  # the state moved under us despite the lock: refuse cleanly
        raise AccountActionError(_describe_refusal(account, transition_name)) from None
    account.version += 1
    account.state_changed_at = timezone.now()
    account.full_clean(exclude=["state", "customer", "credit_reviewed_by"], validate_unique=False)
    account.save()
    if account.state == State.ACTIVE:
        _ensure_tranches(account)
    if transition_name == "issue":
        enqueue_activation(account.pk)
        enqueue_on_commit("accounts.jobs.pre_notify_account", account.pk)
    # The casework follows the account: a case per empty-card cause, resolved once usable.
    if account.state == State.EMPTY:
        case_open_for_account(account=account, cause=account.empty_cause, actor=actor)
    elif from_state != State.ACTIVE and account.state == State.ACTIVE:
        cases_resolve_for_account(account=account, actor=actor, text=_("Resolved: the account is active."))
    elif account.state == State.CLOSED:
        cases_resolve_for_account(account=account, actor=actor, text=_("Resolved: the account was closed."))
    _audit(
        account,
        action=transition_name,
        from_state=from_state,
        actor=actor,
        reason=reason.strip(),
        requested_by=requested_by,
        details={"error_code": kwargs["error_code"]} if kwargs.get("error_code") else None,
    )
    return account


# Transitions a job may apply to many accounts at once: those whose side effects are done in
# bulk below. Into ``empty`` (a case to open per account) and ``issue`` (jobs to queue) go
# one account at a time through ``account_transition``.
BULK_TRANSITIONS = ("activate", "begin_verification", "release_hold", "close")


@dataclass
class BulkTransition:
    """What ``accounts_transition_bulk`` did: the accounts it moved, and why it left the others."""

    moved: list[LoanAccount]
    refused: dict[int, str]


def _account_values(account: LoanAccount) -> dict[str, Any]:
    return {field.attname: getattr(account, field.attname) for field in LoanAccount._meta.concrete_fields}


@transaction.atomic
def accounts_transition_bulk(
    *,
    accounts: Sequence[LoanAccount],
    transition_name: str,
    actor: Actor,
    reason: str | Mapping[int, str] = "",
) -> BulkTransition:
    """Apply one transition to many accounts for a job, audited, in a constant number of queries.

    What ``account_transition`` does for a system actor, for each account: the model's
    transition method decides and changes the fields, the version goes up, the account gets
    its tranche plan when it becomes active, its open cases resolve and one audit row is
    written; but the saves, tranches, cases and audit rows go to the database in bulk. The
    caller has locked the accounts, with their customer, in this transaction
    (``select_for_update(of=("self",)).select_related("customer")``). ``reason`` is the same
    for all, or one per account id. An account the transition does not allow is left as it
    is and reported in ``refused`` with the reason.
    """
    if actor.user is not None:
        raise ValueError("accounts_transition_bulk is for jobs; staff go through account_transition.")
    if transition_name not in BULK_TRANSITIONS:
        raise ValueError(f"{transition_name!r} is not a bulk transition; use account_transition.")
    result = BulkTransition(moved=[], refused={})
    from_states: dict[int, str] = {}
    changed = {"state", "version", "state_changed_at"}
    now = timezone.now()
    for account in accounts:
        method = getattr(account, transition_name)
        if not can_proceed(method):
            result.refused[account.pk] = _describe_refusal(account, transition_name)
            continue
        before, from_state = _account_values(account), account.state
        try:
            method()
        except TransitionNotAllowed:
            result.refused[account.pk] = _describe_refusal(account, transition_name)
            continue
        account.version += 1
        account.state_changed_at = now
        changed.update(name for name, value in _account_values(account).items() if before[name] != value)
        from_states[account.pk] = from_state
        result.moved.append(account)
    if not result.moved:
        return result

    # The database checks the account's constraints on this update; no full_clean() per account.
    bulk_save_fields(result.moved, sorted(changed))
    for account in result.moved:  # saved: a later save() of these instances is not a concurrent change
        account._update_initial_state()
    _ensure_tranches_bulk([account for account in result.moved if account.state == State.ACTIVE])
    activated = [
        account.pk
        for account in result.moved
        if account.state == State.ACTIVE and from_states[account.pk] != State.ACTIVE
    ]
    if activated:
        cases_resolve_for_accounts(account_ids=activated, actor=actor, text=_("Resolved: the account is active."))
    closed = [account.pk for account in result.moved if account.state == State.CLOSED]
    if closed:
        cases_resolve_for_accounts(account_ids=closed, actor=actor, text=_("Resolved: the account was closed."))
    AuditEntry.objects.bulk_create(
        _audit_entry(
            account,
            action=transition_name,
            from_state=from_states[account.pk],
            actor=actor,
            reason=(reason if isinstance(reason, str) else reason.get(account.pk, "")).strip(),
        )
        for account in result.moved
    )
    return result


@transaction.atomic
def account_step_record(
    *,
    account_id: int,
    step: str,
    actor: Actor,
    reason: str = "",
    at: datetime | None = None,
    expected_version: int | None = None,
) -> LoanAccount:
    """Record a verification step as done (the SMS code, the password, or the credit review).

    The credit review is a credit officer's decision; the other steps are the customer's and
    arrive from the activation page or core banking. Recording a step twice keeps the first.
    """
    account = _lock(account_id)
    _check_version(account, expected_version)
    if account.state in (State.ACTIVE, State.CLOSED, State.APPROVED):
        raise AccountActionError(
            _("Verification steps are recorded while the card is issued and not yet active; this account is %(state)s.")
            % {"state": account.get_state_display()}
        )
    when = at or timezone.now()
    if step == Step.SMS_CODE:
        account.sms_verified_at = account.sms_verified_at or when
    elif step == Step.PASSWORD:
        account.password_set_at = account.password_set_at or when
    elif step == Step.CREDIT_REVIEW:
        user = actor.user
        if user is None or not user.has_perm("accounts.review_credit"):
            raise PermissionDenied(_("Only a credit officer can approve the credit review."))
        if account.tier != RiskTier.HIGH:
            raise AccountActionError(_("Only high-risk accounts need a credit review."))
        if not account.credit_reviewed_at:
            account.credit_reviewed_at = when
            account.credit_reviewed_by = user
    else:
        raise AccountActionError(_("Unknown verification step “%(step)s”.") % {"step": step})
    account.version += 1
    account.save()
    _audit(
        account,
        action="record_step",
        from_state=account.state,
        actor=actor,
        reason=reason.strip() or str(Step(step).label),
        details={"step": step},
    )
    return account


# --- four-eyes --------------------------------------------------------------------------


def _next_planned_tranche(account: LoanAccount) -> Tranche | None:
    return account.tranches.filter(status=Tranche.Status.PLANNED).order_by("sequence").first()


@transaction.atomic
def approval_request_create(
    *, account_id: int, kind: str, requested_by: User, reason: str, expected_version: int | None = None
) -> ApprovalRequest:
    """A credit officer asks for a hold release (high risk) or the next tranche; another must approve."""
    if not may_trigger(requested_by, "release_hold"):
        raise PermissionDenied(_("Only credit officers can request a release."))
    if not reason.strip():
        raise AccountActionError(_("Give a reason: the approving officer reads it."))
    account = _lock(account_id)
    _check_version(account, expected_version)
    tranche = None
    if kind == ApprovalRequest.Kind.RELEASE_HOLD:
        if not account.on_hold:
            raise AccountActionError(_("This account is not on risk hold, so there is nothing to release."))
    elif kind == ApprovalRequest.Kind.RELEASE_TRANCHE:
        if account.state != State.ACTIVE or not TIERS[account.tier].staged:
            raise AccountActionError(_("Further tranches are released only on active accounts with a staged line."))
        tranche = _next_planned_tranche(account)
        if tranche is None:
            raise AccountActionError(_("Every tranche of this line is already released."))
    else:
        raise AccountActionError(_("Unknown request kind."))
    try:
        with transaction.atomic():
            return ApprovalRequest.objects.create(
                account=account, kind=kind, tranche=tranche, requested_by=requested_by, reason=reason.strip()
            )
    except IntegrityError:
        raise AccountActionError(_("A request of this kind is already waiting for approval on this account.")) from None


def _lock_pending(request_id: int) -> ApprovalRequest:
    approval = ApprovalRequest.objects.select_for_update(of=("self",)).select_related("tranche").get(pk=request_id)
    if approval.status != ApprovalRequest.Status.PENDING:
        raise AccountActionError(
            _("This request was already %(status)s.") % {"status": approval.get_status_display().lower()}
        )
    return approval


@transaction.atomic
def approval_request_approve(*, request_id: int, approver: User, note: str = "") -> ApprovalRequest:
    """The second officer approves: the release happens now, with both names in the audit."""
    approval = _lock_pending(request_id)
    if approval.requested_by_id == approver.pk:
        raise AccountActionError(_("You asked for this release yourself; another credit officer has to approve it."))
    if not approver.has_perm("accounts.approve_release") or not may_trigger(approver, "release_hold"):
        raise PermissionDenied(_("Only credit officers can approve releases."))
    actor = Actor.staff(approver)
    reason = _("Approved request by %(who)s: %(reason)s") % {
        "who": approval.requested_by.get_full_name() or approval.requested_by.get_username(),
        "reason": approval.reason,
    }
    if approval.kind == ApprovalRequest.Kind.RELEASE_HOLD:
        account_transition(
            account_id=approval.account_id,
            transition_name="release_hold",
            actor=actor,
            reason=reason,
            requested_by=approval.requested_by,
            four_eyes_checked=True,
        )
    else:
        _tranche_release(approval, actor=actor, reason=reason)
    approval.status = ApprovalRequest.Status.APPROVED
    approval.decided_by = approver
    approval.decided_at = timezone.now()
    approval.decision_note = note.strip()
    approval.save()
    return approval


def _tranche_release(approval: ApprovalRequest, *, actor: Actor, reason: str) -> None:
    account = _lock(approval.account_id)
    tranche = approval.tranche
    if account.state != State.ACTIVE or tranche is None or tranche.status != Tranche.Status.PLANNED:
        raise AccountActionError(_("This tranche can no longer be released: the account changed since the request."))
    tranche.status = Tranche.Status.RELEASED
    tranche.released_at = timezone.now()
    tranche.save()
    account.released_limit = min(account.approved_limit, account.released_limit + tranche.amount)
    account.version += 1
    account.save()
    _audit(
        account,
        action="release_tranche",
        from_state=account.state,
        actor=actor,
        reason=reason,
        requested_by=approval.requested_by,
        details={"tranche": tranche.sequence, "amount": str(tranche.amount)},
    )


@transaction.atomic
def approval_request_reject(*, request_id: int, decider: User, note: str) -> ApprovalRequest:
    """Another officer turns the request down (the requester may withdraw their own)."""
    approval = _lock_pending(request_id)
    own = approval.requested_by_id == decider.pk
    if not own and not decider.has_perm("accounts.approve_release"):
        raise PermissionDenied(_("Only credit officers can turn down releases."))
    if not own and not note.strip():
        raise AccountActionError(_("Say why you turn the request down; the requester reads it."))
    approval.status = ApprovalRequest.Status.WITHDRAWN if own else ApprovalRequest.Status.REJECTED
    if not own:
        approval.decided_by = decider
    approval.decided_at = timezone.now()
    approval.decision_note = note.strip()
    approval.save()
    return approval
