"""Every write to customers and loan accounts.

A state change goes through ``account_transition``: lock the row, check that the caller saw
the current version, check permission and the transition's conditions, run the transition,
save, write one audit row, and write down what core banking must do about it (the outbox).
Jobs that move many accounts at once use ``accounts_transition_bulk``: the same steps for
each account, in a constant number of queries.

Core banking is the system of record for the card. People's and the policy's decisions go
through ``account_decide``: what restricts the line (a hold, closing) or starts it (issuing)
applies at once and core is told; what makes the line usable (activation, releasing the hold
of an activated card, a further tranche) is asked of core and applied only when core confirms
it (``core_confirmation``). Four-eyes requests are here too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django_fsm import TransitionNotAllowed, can_proceed

from accounts import hooks
from accounts.models import (
    ApprovalRequest,
    AuditEntry,
    CardState,
    Channel,
    CoreCommand,
    LoanAccount,
    State,
    Tranche,
)
from accounts.models.core import release_target
from accounts.outbox import command_create, pending_kinds
from accounts.policy import (
    MANUAL_TRANSITIONS,
    SYSTEM_ONLY_TRANSITIONS,
    TIERS,
    RiskTier,
    Step,
    may_trigger,
    tranche_amounts,
)
from accounts.staff_notices import notify_approval_waiting
from portal.actors import Actor, person_name
from portal.bulk import bulk_save_fields

TRANSITIONS = (*MANUAL_TRANSITIONS, *SYSTEM_ONLY_TRANSITIONS)
# Transitions that make the line usable: applied only on core banking's word.
CONFIRMED_BY_CORE = ("activate", "release_hold")
# What core banking must carry out when the desk itself decides one of these.
COMMAND_FOR = {"issue": CoreCommand.Kind.ISSUE, "hold": CoreCommand.Kind.SUSPEND, "close": CoreCommand.Kind.TERMINATE}


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


def _check_permission(account: LoanAccount, transition_name: str, actor: Actor, reason: str, four_eyes: bool) -> None:
    """Staff need the transition's permission and a reason; system actors act as the system."""
    if actor.user is None:
        return
    if not may_trigger(actor.user, transition_name):
        raise PermissionDenied(_("Your role does not allow this action on this account."))
    if not reason.strip():
        raise AccountActionError(_("Give a reason: it goes into the account's audit trail."))
    if (
        transition_name == "release_hold"
        and account.tier == RiskTier.HIGH
        and not four_eyes
        and actor.channel in (Channel.WEB, Channel.ADMIN)
    ):
        raise AccountActionError(
            _("A high-risk line is released only with a second credit officer's approval: request the release.")
        )


def card_in_core(account: LoanAccount, pending: set[str] | None = None) -> bool:
    """Core banking holds (or is about to hold) a card for this line."""
    if account.card_state:
        return True
    return CoreCommand.Kind.ISSUE in (pending if pending is not None else pending_kinds(account))


def drive_core(account: LoanAccount, actor: Actor, *, deliver: bool = True) -> CoreCommand | None:
    """Ask core banking for what the account needs next: its card, then, once every step is done, activation.

    ``deliver=False`` leaves queueing the delivery run to the caller (see ``command_create``).
    """
    if account.state not in (State.ISSUED, State.VERIFYING):
        return None
    pending = pending_kinds(account)
    if not card_in_core(account, pending):
        return command_create(
            account=account, kind=CoreCommand.Kind.ISSUE, actor=actor, reason=_("Issue the card."), deliver=deliver
        )
    if (
        account.card_state == CardState.UNACTIVATED
        and not account.steps_missing()
        and not pending & {CoreCommand.Kind.ISSUE, CoreCommand.Kind.ACTIVATE, CoreCommand.Kind.SUSPEND}
    ):
        return command_create(
            account=account,
            kind=CoreCommand.Kind.ACTIVATE,
            actor=actor,
            reason=_("Every verification step is done: activate the card."),
            deliver=deliver,
        )
    return None


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
    core_confirmation: str = "",
    case_note: str = "",
    **kwargs: Any,
) -> LoanAccount:
    """Apply one transition to one account, audited, and tell core banking what it must do.

    Staff (``actor.user`` set) need the transition's permission and a reason; system actors
    (jobs, the webhook, imports) act as the system. ``expected_version`` is the version the
    caller saw; if the account changed since, ``AccountChanged`` says who changed it and when.

    ``core_confirmation`` says that core banking has already done this (its answer to a
    command, an event, reconciliation): then nothing is sent back to core. Without it, issuing,
    holding and closing write the matching command; activating (and releasing the hold of an
    activated card) needs it, since the desk never shows a usable line core has not confirmed:
    decisions to do so go through ``account_decide``. ``case_note`` is what the case opened by
    an account going empty says. Raises ``AccountActionError`` with a user-facing message;
    nothing is written then.
    """
    if transition_name not in TRANSITIONS:
        raise AccountActionError(_("There is no action called “%(name)s”.") % {"name": transition_name})
    account = _lock(account_id)
    # Permission before concurrency: someone who may not do this is told so, whoever changed the account.
    _check_permission(account, transition_name, actor, reason, four_eyes_checked)
    _check_version(account, expected_version)
    method = getattr(account, transition_name)
    if not can_proceed(method):
        raise AccountActionError(_describe_refusal(account, transition_name))
    if transition_name in CONFIRMED_BY_CORE and not core_confirmation:
        target = State.ACTIVE if transition_name == "activate" else release_target(account)
        if target == State.ACTIVE or card_in_core(account):
            raise ValueError(f"{transition_name} waits for core banking: decide it with account_decide")

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
    # The casework follows the account: a case per empty-card cause, resolved once usable.
    if account.state == State.EMPTY:
        hooks.cases().case_open(account=account, cause=account.empty_cause, actor=actor, note=case_note)
    elif from_state != State.ACTIVE and account.state == State.ACTIVE:
        hooks.cases().cases_resolve(account_ids=[account.pk], actor=actor, text=_("Resolved: the account is active."))
    elif account.state == State.CLOSED:
        hooks.cases().cases_resolve(account_ids=[account.pk], actor=actor, text=_("Resolved: the account was closed."))
    elif transition_name == "issue":
        hooks.cases().cases_resolve(account_ids=[account.pk], actor=actor, text=_("Resolved: the card is issued."))
    audit_details: dict[str, Any] = {}
    if kwargs.get("error_code"):
        audit_details["error_code"] = kwargs["error_code"]
    if core_confirmation:
        audit_details["core"] = core_confirmation
    if not core_confirmation:
        kind = COMMAND_FOR.get(transition_name)
        if kind == CoreCommand.Kind.ISSUE or (kind and card_in_core(account)):
            command_create(account=account, kind=kind, actor=actor, reason=reason.strip(), requested_by=requested_by)
            audit_details["core_command"] = kind
    # Written once, complete: the audit trail is append-only.
    _audit(
        account,
        action=transition_name,
        from_state=from_state,
        actor=actor,
        reason=reason.strip(),
        requested_by=requested_by,
        details=audit_details or None,
    )
    drive_core(account, actor)
    return account


@dataclass(frozen=True)
class Decision:
    """What a decision did: the account now, and the command core banking must still carry out."""

    account: LoanAccount
    command: CoreCommand | None
    applied: bool


@transaction.atomic
def account_decide(
    *,
    account_id: int,
    transition_name: str,
    actor: Actor,
    reason: str = "",
    expected_version: int | None = None,
    requested_by: User | None = None,
    four_eyes_checked: bool = False,
    approval: ApprovalRequest | None = None,
) -> Decision:
    """A person's (or the policy's) decision about an account, carried out with core banking.

    Activating, and releasing the hold of a card core banking holds, become a command
    (activate, or reinstate): the account stays as it is, the page says it waits for core
    banking, and the transition is applied when core confirms (``accounts.delivery``). An
    activation asked for a card core does not hold yet asks for the card first. Every other
    decision is ``account_transition`` (which tells core what it must do).
    """
    if transition_name not in TRANSITIONS:
        raise AccountActionError(_("There is no action called “%(name)s”.") % {"name": transition_name})
    asks_core = False
    if transition_name in CONFIRMED_BY_CORE:
        account = _lock(account_id)
        _check_permission(account, transition_name, actor, reason, four_eyes_checked)
        _check_version(account, expected_version)
        if not can_proceed(getattr(account, transition_name)):
            raise AccountActionError(_describe_refusal(account, transition_name))
        pending = pending_kinds(account)
        # A hold on a line whose card core banking does not hold is the desk's alone: released here.
        asks_core = transition_name == "activate" or card_in_core(account, pending)
        if not asks_core and release_target(account) == State.ACTIVE:
            raise AccountActionError(
                _("Core banking holds no card for this line, so there is nothing to reinstate. Re-drive the account.")
            )
    if not asks_core:
        account = account_transition(
            account_id=account_id,
            transition_name=transition_name,
            actor=actor,
            reason=reason,
            expected_version=expected_version,
            requested_by=requested_by,
            four_eyes_checked=four_eyes_checked,
        )
        command = CoreCommand.objects.filter(account=account, status=CoreCommand.Status.PENDING).order_by("-pk").first()
        return Decision(account=account, command=command, applied=True)
    if transition_name == "activate":
        kind = CoreCommand.Kind.ACTIVATE if account.card_state else CoreCommand.Kind.ISSUE
    else:
        kind = CoreCommand.Kind.REINSTATE
    if kind in pending:
        waiting = CoreCommand.objects.filter(account=account, kind=kind, status=CoreCommand.Status.PENDING).first()
        raise AccountActionError(
            _("Core banking was already asked to do this at %(when)s; the account changes when it answers.")
            % {"when": date_format(timezone.localtime(waiting.created_at), "DATETIME_FORMAT") if waiting else "—"}
        )
    command = command_create(
        account=account, kind=kind, actor=actor, reason=reason.strip(), requested_by=requested_by, approval=approval
    )
    _audit(
        account,
        action="ask_core",
        from_state=account.state,
        actor=actor,
        reason=reason.strip(),
        requested_by=requested_by,
        details={"decision": transition_name, "core_command": kind, "command": command.pk},
    )
    return Decision(account=account, command=command, applied=False)


# Transitions applied to many accounts at once when core banking confirms them (the delivery
# job's answers, reconciliation): those whose side effects are done in bulk below. Into
# ``empty`` (a case to open per account) go one account at a time through ``account_transition``.
BULK_TRANSITIONS = ("activate", "release_hold", "close")


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
    core_confirmation: Mapping[int, str],
    reason: str | Mapping[int, str] = "",
    requested_by: Mapping[int, User | None] | None = None,
) -> BulkTransition:
    """Apply what core banking confirmed to many accounts, audited, in a constant number of queries.

    What ``account_transition`` does with a ``core_confirmation``, for each account: the
    model's transition method decides and changes the fields, the version goes up, the
    account gets its tranche plan when it becomes active, its open cases resolve and one audit
    row is written; but the saves, tranches, cases and audit rows go to the database in bulk.
    The caller has locked the accounts, with their customer, in this transaction
    (``select_for_update(of=("self",)).select_related("customer")``). ``core_confirmation``
    names, per account id, what confirmed it (e.g. ``command 12``); ``reason`` is the same for
    all, or one per account id. An account the transition does not allow is left as it is and
    reported in ``refused`` with the reason.
    """
    if actor.user is not None:
        raise ValueError("accounts_transition_bulk applies core banking's answers; staff use account_decide.")
    if transition_name not in BULK_TRANSITIONS:
        raise ValueError(f"{transition_name!r} is not a bulk transition; use account_transition.")
    if any(not core_confirmation.get(account.pk) for account in accounts):
        raise ValueError("every account of a bulk transition needs core banking's confirmation")
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
        hooks.cases().cases_resolve(account_ids=activated, actor=actor, text=_("Resolved: the account is active."))
    closed = [account.pk for account in result.moved if account.state == State.CLOSED]
    if closed:
        hooks.cases().cases_resolve(account_ids=closed, actor=actor, text=_("Resolved: the account was closed."))
    AuditEntry.objects.bulk_create(
        _audit_entry(
            account,
            action=transition_name,
            from_state=from_states[account.pk],
            actor=actor,
            reason=(reason if isinstance(reason, str) else reason.get(account.pk, "")).strip(),
            requested_by=(requested_by or {}).get(account.pk),
            details={"core": core_confirmation[account.pk]},
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
    user = actor.user
    if step == Step.CREDIT_REVIEW and (user is None or not user.has_perm("accounts.review_credit")):
        raise PermissionDenied(_("Only a credit officer can approve the credit review."))
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
    drive_core(account, actor)
    return account


@transaction.atomic
def account_limit_record(
    *, account_id: int, usable_limit: Decimal, actor: Actor, reason: str, core_confirmation: str
) -> LoanAccount:
    """Core banking changed the usable limit (an event, or reconciliation): the desk follows, audited."""
    account = _lock(account_id)
    new_limit = min(account.approved_limit, max(usable_limit, Decimal(0)))
    if new_limit == account.released_limit:
        return account
    previous = account.released_limit
    account.released_limit = new_limit
    account.version += 1
    account.save()
    _audit(
        account,
        action="limit_changed",
        from_state=account.state,
        actor=actor,
        reason=reason,
        details={"from": str(previous), "to": str(new_limit), "core": core_confirmation},
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
        if CoreCommand.Kind.SET_LIMIT in pending_kinds(account):
            raise AccountActionError(
                _("The last tranche released is still waiting for core banking; ask again once it is confirmed.")
            )
        tranche = _next_planned_tranche(account)
        if tranche is None:
            raise AccountActionError(_("Every tranche of this line is already released."))
    else:
        raise AccountActionError(_("Unknown request kind."))
    try:
        with transaction.atomic():
            approval = ApprovalRequest.objects.create(
                account=account, kind=kind, tranche=tranche, requested_by=requested_by, reason=reason.strip()
            )
    except IntegrityError:
        raise AccountActionError(_("A request of this kind is already waiting for approval on this account.")) from None
    notify_approval_waiting(approval)
    return approval


def _lock_pending(request_id: int) -> ApprovalRequest:
    approval = ApprovalRequest.objects.select_for_update(of=("self",)).select_related("tranche").get(pk=request_id)
    if approval.status != ApprovalRequest.Status.PENDING:
        raise AccountActionError(
            _("This request was already %(status)s.") % {"status": approval.get_status_display().lower()}
        )
    return approval


@transaction.atomic
def approval_request_approve(*, request_id: int, approver: User, note: str = "") -> ApprovalRequest:
    """The second officer approves: core banking is asked now, with both names in the audit.

    The release (or the tranche) shows on the account once core banking confirms it.
    """
    approval = _lock_pending(request_id)
    if approval.requested_by_id == approver.pk:
        raise AccountActionError(_("You asked for this release yourself; another credit officer has to approve it."))
    if not approver.has_perm("accounts.approve_release") or not may_trigger(approver, "release_hold"):
        raise PermissionDenied(_("Only credit officers can approve releases."))
    actor = Actor.staff(approver)
    reason = _("Approved request by %(who)s: %(reason)s") % {
        "who": person_name(approval.requested_by),
        "reason": approval.reason,
    }
    if approval.kind == ApprovalRequest.Kind.RELEASE_HOLD:
        account_decide(
            account_id=approval.account_id,
            transition_name="release_hold",
            actor=actor,
            reason=reason,
            requested_by=approval.requested_by,
            four_eyes_checked=True,
            approval=approval,
        )
    else:
        _tranche_release_ask(approval, actor=actor, reason=reason)
    approval.approve(approver, note)
    approval.save()
    return approval


def _tranche_release_ask(approval: ApprovalRequest, *, actor: Actor, reason: str) -> CoreCommand:
    """Ask core banking to raise the usable limit by the approved tranche."""
    account = _lock(approval.account_id)
    tranche = approval.tranche
    if account.state != State.ACTIVE or tranche is None or tranche.status != Tranche.Status.PLANNED:
        raise AccountActionError(_("This tranche can no longer be released: the account changed since the request."))
    command = command_create(
        account=account,
        kind=CoreCommand.Kind.SET_LIMIT,
        actor=actor,
        reason=reason,
        requested_by=approval.requested_by,
        approval=approval,
        tranche=tranche,
        usable_limit=min(account.approved_limit, account.released_limit + tranche.amount),
    )
    _audit(
        account,
        action="ask_core",
        from_state=account.state,
        actor=actor,
        reason=reason,
        requested_by=approval.requested_by,
        details={"decision": "release_tranche", "core_command": command.kind, "command": command.pk},
    )
    return command


def tranche_release_confirmed(
    *, account: LoanAccount, tranche: Tranche | None, usable_limit: Decimal, command: CoreCommand, actor: Actor
) -> None:
    """Core banking set the new usable limit: the tranche is released here too (account locked by the caller)."""
    if tranche is not None and tranche.status == Tranche.Status.PLANNED:
        tranche.status = Tranche.Status.RELEASED
        tranche.released_at = timezone.now()
        tranche.save()
    account.released_limit = min(account.approved_limit, usable_limit)
    account.version += 1
    account.save()
    _audit(
        account,
        action="release_tranche",
        from_state=account.state,
        actor=actor,
        reason=command.reason,
        requested_by=command.requested_by,
        details={
            "tranche": tranche.sequence if tranche else None,
            "amount": str(tranche.amount) if tranche else None,
            "core": f"command {command.pk}",
        },
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
    if own:
        approval.withdraw(note)
    else:
        approval.reject(decider, note)
    approval.save()
    return approval
