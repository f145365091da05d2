"""Risk-tier policy and who may act on an account: one place for both.

Per tier: the verification steps that must be done before activation, how long an account
may stay ``issued``/``verifying`` before the monitor marks it stalled (and, from that window,
when the customer is reminded), the tranche plan (the
shares of the approved limit released on activation and then one approval at a time), and
whether a line core banking approves gets its card at once.
Per manual transition: the permission and the department whose members may trigger it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from django.db import models
from django.utils.translation import gettext_lazy as _

from portal.selectors import department_codes

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User


class RiskTier(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class Step(models.TextChoices):
    SMS_CODE = "sms_code", _("SMS code verified")
    PASSWORD = "password", _("Password set")
    CREDIT_REVIEW = "credit_review", _("Credit officer review approved")


@dataclass(frozen=True)
class TierPolicy:
    required_steps: tuple[Step, ...]
    activation_window: timedelta
    tranche_shares: tuple[Decimal, ...]  # adds up to 1; the first is released on activation
    # A line approved by core banking gets its card at once; otherwise a credit officer issues it.
    auto_issue: bool = True

    @property
    def staged(self) -> bool:
        return len(self.tranche_shares) > 1

    @property
    def reminders(self) -> tuple[timedelta, ...]:
        """When the customer is reminded, counted from the card's issue (``reminder_offsets``)."""
        return reminder_offsets(self.activation_window)


TIERS: dict[str, TierPolicy] = {
    RiskTier.LOW: TierPolicy((Step.SMS_CODE,), timedelta(days=3), (Decimal("1"),)),
    RiskTier.MEDIUM: TierPolicy((Step.SMS_CODE, Step.PASSWORD), timedelta(days=5), (Decimal("1"),)),
    RiskTier.HIGH: TierPolicy(
        (Step.SMS_CODE, Step.PASSWORD, Step.CREDIT_REVIEW),
        timedelta(days=7),
        (Decimal("0.3"), Decimal("0.3"), Decimal("0.4")),
        auto_issue=False,
    ),
}


def tranche_amounts(approved_limit: Decimal, tier: str) -> list[Decimal]:
    """The approved limit split by the tier's plan, in fen; the last tranche takes the rounding rest.

    A line too small to split (a share that rounds to less than one fen) has fewer tranches: a
    tranche of ¥0.00 would be nothing to release.
    """
    shares = TIERS[tier].tranche_shares
    amounts = [(approved_limit * share).quantize(Decimal("0.01"), rounding=ROUND_DOWN) for share in shares[:-1]]
    amounts.append(approved_limit - sum(amounts, Decimal(0)))
    return [amount for amount in amounts if amount > 0]


@dataclass(frozen=True)
class ManualTransition:
    """A transition staff may trigger by hand: who, and how the button reads."""

    permission: str
    department: str
    label: Any
    help_text: Any


MANUAL_TRANSITIONS: dict[str, ManualTransition] = {
    "issue": ManualTransition(
        "accounts.issue_loanaccount", "credit", _("Issue card"), _("Issue the card so that activation can start.")
    ),
    "begin_verification": ManualTransition(
        "accounts.verify_loanaccount",
        "service",
        _("Restart verification"),
        _("The customer is ready to finish their verification steps."),
    ),
    "activate": ManualTransition(
        "accounts.activate_loanaccount",
        "tech",
        _("Activate"),
        _("Activate the card now; every required verification step must be done."),
    ),
    "fail_activation": ManualTransition(
        "accounts.fail_loanaccount",
        "tech",
        _("Mark activation failed"),
        _("Activation failed in a system; the account goes to the empty-card state for tech."),
    ),
    "hold": ManualTransition(
        "accounts.hold_loanaccount",
        "credit",
        _("Put on risk hold"),
        _("Freeze the line on purpose; it stays unusable until credit releases it."),
    ),
    "release_hold": ManualTransition(
        "accounts.release_loanaccount",
        "credit",
        _("Release hold"),
        _("Unfreeze the line. High-risk accounts need a second credit officer's approval."),
    ),
    "close": ManualTransition(
        "accounts.close_loanaccount", "credit", _("Close account"), _("Close the account for good. This is final.")
    ),
}
SYSTEM_ONLY_TRANSITIONS = ("mark_stalled", "await_verification")
# Decisions that end a line or open it to spending again: only with the password (and code) given
# within REAUTH_MINUTES (portal.reauth), on the account page and in the admin alike.
REAUTH_TRANSITIONS = frozenset({"close", "release_hold"})

# How each audited action reads in the account's history.
ACTION_LABELS: dict[str, Any] = {
    "issue": _("Card issued"),
    "begin_verification": _("Verification started"),
    "activate": _("Activated"),
    "fail_activation": _("Activation failed"),
    "mark_stalled": _("Marked stalled (verification window passed)"),
    "hold": _("Put on risk hold"),
    "release_hold": _("Risk hold released"),
    "close": _("Closed"),
    "release_tranche": _("Tranche released"),
    "record_step": _("Verification step done"),
    "await_verification": _("Card ready in core banking; waiting for the verification steps"),
    "ask_core": _("Asked core banking"),
    "limit_changed": _("Usable limit changed by core banking"),
}


def may_trigger(user: User | AnonymousUser, transition_name: str) -> bool:
    """Whether this user may trigger the transition by hand (ignoring the account's state)."""
    manual = MANUAL_TRANSITIONS.get(transition_name)
    if manual is None or not user.is_authenticated or not user.is_active:
        return False
    if getattr(user, "is_superuser", False):
        return True
    return user.has_perm(manual.permission) and manual.department in department_codes(user)


def activation_due(issued_at: datetime, tier: str) -> datetime:
    """When the activation window of a card issued at ``issued_at`` to a customer of ``tier`` ends."""
    return issued_at + TIERS[tier].activation_window


# Reminders to the customer, inside the activation window: at a third and two thirds of it, and a
# day before it ends (the monitor empties the account at the end, so nothing may be planned later).
REMINDER_SHARES = (1 / 3, 2 / 3)
REMINDER_LAST_CALL = timedelta(days=1)
# Two reminders closer than this are one: a short window gets fewer, never two in a morning.
REMINDER_MIN_GAP = timedelta(hours=12)


def reminder_offsets(window: timedelta) -> tuple[timedelta, ...]:
    """When the reminders of an activation window go, counted from its start, earliest first.

    At 1/3 and 2/3 of the window and ``REMINDER_LAST_CALL`` before its end. Of two that come
    within ``REMINDER_MIN_GAP`` of each other the later one stays (it is nearer the deadline), and
    none is planned at the start or before it: 3 days give day 1 and day 2; 5 days give 1 d 16 h,
    3 d 8 h and day 4; 7 days give 2 d 8 h, 4 d 16 h and day 6.
    """
    planned = sorted({window - REMINDER_LAST_CALL, *(window * share for share in REMINDER_SHARES)}, reverse=True)
    kept: list[timedelta] = []
    for offset in planned:
        if offset > timedelta(0) and (not kept or kept[-1] - offset >= REMINDER_MIN_GAP):
            kept.append(offset)
    return tuple(reversed(kept))


def reminder_slot(issued_at: datetime, due_at: datetime, now: datetime) -> int | None:
    """The latest reminder (1, 2, ...) an account issued at ``issued_at`` and due at ``due_at`` has reached.

    None before the first and from the end of the window on. The window is the account's own
    (``activation_due_at`` minus ``issued_at``), so the reminders keep to the deadline the monitor uses.
    """
    if now >= due_at:
        return None
    reached = [slot for slot, offset in enumerate(reminder_offsets(due_at - issued_at), 1) if issued_at + offset <= now]
    return reached[-1] if reached else None
