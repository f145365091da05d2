"""Customers, loan accounts and their state machine, tranches, four-eyes requests, the audit."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django_fsm import GET_STATE, ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition

from accounts.policy import ACTION_LABELS, TIERS, RiskTier, Step, activation_due, may_trigger, tranche_amounts
from accounts.validators import validate_credit_code, validate_mobile


class Product(models.TextChoices):
    WORKING_CAPITAL = "working_capital", _("Working capital")
    PROJECT_FINANCE = "project_finance", _("Project finance")
    EQUIPMENT_PURCHASE = "equipment_purchase", _("Equipment purchase")


class State(models.TextChoices):
    APPROVED = "approved", _("Approved")
    ISSUED = "issued", _("Issued")
    VERIFYING = "verifying", _("Verifying")
    EMPTY = "empty", _("Empty card")
    ACTIVE = "active", _("Active")
    CLOSED = "closed", pgettext_lazy("account state", "Closed")  # 已销户: not a case's 已关闭


class EmptyCause(models.TextChoices):
    SYSTEM_CONFIG = "system_config", _("System configuration")
    CUSTOMER_INCOMPLETE = "customer_incomplete", _("Customer steps incomplete")
    RISK_HOLD = "risk_hold", _("Risk hold")


class Channel(models.TextChoices):
    """How a change reached the account (for the audit trail)."""

    WEB = "web", _("Web")
    ADMIN = "admin", _("Admin")
    JOB = "job", _("Background job")
    WEBHOOK = "webhook", _("Core banking webhook")
    CORE = "core", _("Core banking")
    IMPORT = "import", _("Import")


class CardState(models.TextChoices):
    """The card's state as core banking holds it (the contract's ``CardState``)."""

    UNACTIVATED = "UNACTIVATED", _("Issued, not activated")
    ACTIVE = "ACTIVE", _("Active")
    SUSPENDED = "SUSPENDED", _("Suspended")
    TERMINATED = "TERMINATED", _("Terminated")


class Customer(models.Model):
    """An enterprise borrower."""

    name = models.CharField(_("name"), max_length=200, db_index=True)
    credit_code = models.CharField(
        _("unified social credit code"), max_length=18, unique=True, validators=[validate_credit_code]
    )
    contact_name = models.CharField(_("contact name"), max_length=100)
    contact_mobile = models.CharField(_("contact mobile"), max_length=11, validators=[validate_mobile])
    email = models.EmailField(_("email"), blank=True)
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        default="zh-hans",
        db_default="zh-hans",  # also for rows loaded in bulk (COPY) without the column
        help_text=_("The language of the customer's SMS, emails and activation page."),
    )
    risk_tier = models.CharField(_("risk tier"), max_length=10, choices=RiskTier.choices, db_index=True)
    credit_score = models.PositiveSmallIntegerField(
        _("credit score"), validators=[MinValueValidator(300), MaxValueValidator(900)]
    )
    is_drill = models.BooleanField(_("drill data"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    # Set when the retention job removed the personal data (every account closed for RETENTION_YEARS).
    anonymised_at = models.DateTimeField(_("anonymised"), null=True, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.CheckConstraint(
                condition=Q(credit_score__gte=300, credit_score__lte=900), name="customer_credit_score_range"
            ),
        ]

    def __str__(self) -> str:
        return self.name


# Transition conditions: plain functions of the account, so that they read as rules.
def _required_steps_done(account: Any) -> bool:
    return not account.steps_missing()


def _not_on_hold(account: Any) -> bool:
    return not account.on_hold


def _on_hold(account: Any) -> bool:
    return bool(account.on_hold)


def _empty_only_for(*causes: str) -> Any:
    """Leaving ``empty`` by this transition is allowed only for these causes."""

    def condition(account: Any) -> bool:
        return account.state != State.EMPTY or account.empty_cause in causes

    condition.__name__ = f"empty_only_for_{'_'.join(causes)}"
    return condition


def _may(transition_name: str) -> Any:
    return lambda account, user: may_trigger(user, transition_name)


def _steps_missing(account: Any) -> bool:
    return bool(account.steps_missing())


def release_target(account: LoanAccount, **kwargs: Any) -> str:
    """Back to active if the card was active before the hold; else back to issued, to be activated."""
    return State.ACTIVE if account.activated_at else State.ISSUED


class LoanAccount(ConcurrentTransitionMixin, models.Model):
    """A credit line and the card/account behind it. ``state`` changes only through transitions.

    The transition methods change fields on ``self`` and nothing else; ``accounts.services``
    locks the row, checks the version, runs them, saves and writes the audit row.
    """

    number = models.CharField(_("account number"), max_length=20, unique=True)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("customer")
    )
    product = models.CharField(_("product"), max_length=30, choices=Product.choices)
    channel = models.CharField(_("channel / branch"), max_length=60)
    approved_limit = models.DecimalField(_("approved limit"), max_digits=14, decimal_places=2)
    released_limit = models.DecimalField(_("released limit"), max_digits=14, decimal_places=2, default=Decimal("0"))

    state = FSMField(_("state"), default=State.APPROVED, choices=State.choices, protected=True)
    empty_cause = models.CharField(_("empty cause"), max_length=30, choices=EmptyCause.choices, blank=True)
    empty_since = models.DateTimeField(_("empty since"), null=True, blank=True)
    state_changed_at = models.DateTimeField(_("in this state since"), default=timezone.now)
    version = models.PositiveIntegerField(_("version"), default=1)

    issued_at = models.DateTimeField(_("issued"), null=True, blank=True)
    # The end of the activation window, set when it starts (the card is issued): issued_at plus
    # the customer's tier's window. The monitor reads it without looking at the customer.
    activation_due_at = models.DateTimeField(_("activation due"), null=True, blank=True)
    activated_at = models.DateTimeField(_("activated"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    last_error_code = models.CharField(_("last activation error"), max_length=60, blank=True)

    # The card in core banking: its token (chosen here when the card is asked for) and the
    # state core last reported (blank: core holds no card for this line yet).
    card_token = models.CharField(_("card token"), max_length=36, unique=True, null=True, blank=True)
    card_state = models.CharField(_("card in core banking"), max_length=12, choices=CardState.choices, blank=True)
    card_state_at = models.DateTimeField(_("card state reported"), null=True, blank=True)

    sms_verified_at = models.DateTimeField(_("SMS code verified"), null=True, blank=True)
    password_set_at = models.DateTimeField(_("password set"), null=True, blank=True)
    credit_reviewed_at = models.DateTimeField(_("credit review approved"), null=True, blank=True)
    credit_reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("credit review approved by"),
    )

    is_drill = models.BooleanField(_("drill data"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)

    class Meta:
        ordering = ["-state_changed_at", "-id"]
        verbose_name = _("loan account")
        verbose_name_plural = _("loan accounts")
        permissions = [
            ("issue_loanaccount", _("Can issue the card of a loan account")),
            ("verify_loanaccount", _("Can restart a customer's verification")),
            ("activate_loanaccount", _("Can activate a loan account by hand")),
            ("fail_loanaccount", _("Can mark an activation as failed")),
            ("hold_loanaccount", _("Can put a loan account on risk hold")),
            ("release_loanaccount", _("Can release a risk hold and request tranches")),
            ("close_loanaccount", _("Can close a loan account")),
            ("approve_release", _("Can approve another officer's release request")),
            ("review_credit", _("Can approve the credit review of a high-risk activation")),
            ("import_accounts", _("Can import customers and accounts from a file")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(approved_limit__gt=0), name="account_approved_limit_positive"),
            models.CheckConstraint(
                condition=Q(released_limit__gte=0, released_limit__lte=F("approved_limit")),
                name="account_released_within_approved",
            ),
            models.CheckConstraint(
                condition=(Q(state=State.EMPTY) & ~Q(empty_cause="") & Q(empty_since__isnull=False))
                | (~Q(state=State.EMPTY) & Q(empty_cause="") & Q(empty_since__isnull=True)),
                name="account_empty_has_cause",
            ),
        ]
        # The hot filters and sorts at a million accounts; docs/performance.md shows each plan.
        indexes = [
            # The account list (newest change first) and its deep pages, read from the index alone.
            models.Index(
                F("state_changed_at").desc(), F("id").desc(), name="account_recent", condition=Q(is_drill=False)
            ),
            # Lists filtered by state and cause, and the dashboard's counts of empty accounts.
            models.Index(
                "state",
                "empty_cause",
                F("state_changed_at").desc(),
                F("id").desc(),
                name="account_state_recent",
                condition=Q(is_drill=False),
            ),
            # The monitor: issued or verifying accounts by the end of their window (its overdue ones).
            models.Index(
                fields=["activation_due_at", "id"],
                name="account_waiting",
                condition=Q(state__in=["issued", "verifying"]),
            ),
            models.Index(fields=["product", "channel"], name="account_product_channel"),
        ]

    def __str__(self) -> str:
        return self.number

    def get_absolute_url(self) -> str:
        return reverse("accounts:detail", kwargs={"number": self.number})

    # --- reading the account -----------------------------------------------------------

    @property
    def tier(self) -> str:
        return self.customer.risk_tier

    def steps_done(self) -> dict[str, Any]:
        return {
            Step.SMS_CODE: self.sms_verified_at,
            Step.PASSWORD: self.password_set_at,
            Step.CREDIT_REVIEW: self.credit_reviewed_at,
        }

    def steps_missing(self) -> list[Step]:
        done = self.steps_done()
        return [step for step in TIERS[self.tier].required_steps if not done[step]]

    @property
    def on_hold(self) -> bool:
        return self.state == State.EMPTY and self.empty_cause == EmptyCause.RISK_HOLD

    # --- transitions -------------------------------------------------------------------

    def _leave_empty(self) -> None:
        self.empty_cause = ""
        self.empty_since = None

    def _enter_empty(self, cause: str) -> None:
        self.empty_cause = cause
        self.empty_since = timezone.now()

    @transition(field=state, source=State.APPROVED, target=State.ISSUED, permission=_may("issue"))
    def issue(self) -> None:
        self.issued_at = timezone.now()
        self.activation_due_at = activation_due(self.issued_at, self.tier)

    @transition(
        field=state,
        source=[State.ISSUED, State.EMPTY],
        target=State.VERIFYING,
        conditions=[_empty_only_for(EmptyCause.CUSTOMER_INCOMPLETE)],
        permission=_may("begin_verification"),
    )
    def begin_verification(self) -> None:
        self._leave_empty()

    @transition(
        field=state,
        source=[State.ISSUED, State.VERIFYING, State.EMPTY],
        target=State.ACTIVE,
        conditions=[_empty_only_for(EmptyCause.SYSTEM_CONFIG), _not_on_hold, _required_steps_done],
        permission=_may("activate"),
    )
    def activate(self) -> None:
        self._leave_empty()
        self.last_error_code = ""
        self.activated_at = timezone.now()
        self.released_limit = tranche_amounts(self.approved_limit, self.tier)[0]

    @transition(
        field=state,
        source=[State.ISSUED, State.VERIFYING],
        target=State.EMPTY,
        permission=_may("fail_activation"),
    )
    def fail_activation(self, *, error_code: str = "") -> None:
        self._enter_empty(EmptyCause.SYSTEM_CONFIG)
        self.last_error_code = error_code

    @transition(
        field=state,
        source=[State.ISSUED, State.VERIFYING],
        target=State.EMPTY,
        permission=lambda account, user: False,  # only the monitor decides that a window has passed
    )
    def mark_stalled(self) -> None:
        self._enter_empty(EmptyCause.CUSTOMER_INCOMPLETE)

    @transition(
        field=state,
        source=State.EMPTY,
        target=State.VERIFYING,
        conditions=[_empty_only_for(EmptyCause.SYSTEM_CONFIG), _steps_missing],
        permission=lambda account, user: False,  # only core banking's answer to a re-drive decides it
    )
    def await_verification(self) -> None:
        """The system fault is fixed (core holds the card now); verification steps are still to do."""
        self._leave_empty()
        self.last_error_code = ""

    @transition(
        field=state,
        source=[State.ISSUED, State.VERIFYING, State.ACTIVE, State.EMPTY],
        target=State.EMPTY,
        conditions=[_not_on_hold],
        permission=_may("hold"),
    )
    def hold(self) -> None:
        self._enter_empty(EmptyCause.RISK_HOLD)

    @transition(
        field=state,
        source=State.EMPTY,
        target=GET_STATE(release_target, states=[State.ACTIVE, State.ISSUED]),
        conditions=[_on_hold],
        permission=_may("release_hold"),
    )
    def release_hold(self) -> None:
        target = release_target(self)
        self._leave_empty()
        if target == State.ACTIVE and not self.activated_at:
            self.activated_at = timezone.now()
            self.released_limit = tranche_amounts(self.approved_limit, self.tier)[0]

    @transition(
        field=state,
        source=[State.APPROVED, State.ISSUED, State.VERIFYING, State.EMPTY, State.ACTIVE],
        target=State.CLOSED,
        permission=_may("close"),
    )
    def close(self) -> None:
        self._leave_empty()
        self.closed_at = timezone.now()


class Tranche(models.Model):
    """One slice of a staged credit line (high risk): released on activation or by approval."""

    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        RELEASED = "released", _("Released")

    account = models.ForeignKey(LoanAccount, on_delete=models.CASCADE, related_name="tranches")
    sequence = models.PositiveSmallIntegerField(_("tranche"))
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PLANNED)
    released_at = models.DateTimeField(_("released"), null=True, blank=True)

    class Meta:
        ordering = ["account", "sequence"]
        verbose_name = _("tranche")
        verbose_name_plural = _("tranches")
        constraints = [
            models.UniqueConstraint(fields=["account", "sequence"], name="tranche_unique_sequence"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="tranche_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.account} #{self.sequence}"


class ApprovalRequest(FSMModelMixin, models.Model):
    """Four-eyes: one credit officer asks, another decides."""

    class Kind(models.TextChoices):
        RELEASE_HOLD = "release_hold", _("Release risk hold")
        RELEASE_TRANCHE = "release_tranche", _("Release next tranche")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    account = models.ForeignKey(LoanAccount, on_delete=models.CASCADE, related_name="approval_requests")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    tranche = models.ForeignKey(Tranche, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    status = FSMField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING, protected=True)
    reason = models.TextField(_("reason"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(_("requested"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)

    class Meta:
        ordering = ["-requested_at"]
        verbose_name = _("approval request")
        verbose_name_plural = _("approval requests")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind"],
                condition=Q(status="pending"),
                name="approval_one_pending_per_account_kind",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="approval_four_eyes",
            ),
        ]
        indexes = [models.Index(fields=["status", "requested_at"], name="approval_status_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.account}"

    def _decided(self, by: User | None, note: str) -> None:
        self.decided_by = by
        self.decided_at = timezone.now()
        self.decision_note = note.strip()

    @transition(field=status, source=Status.PENDING, target=Status.APPROVED)
    def approve(self, by: User, note: str) -> None:
        self._decided(by, note)

    @transition(field=status, source=Status.PENDING, target=Status.REJECTED)
    def reject(self, by: User, note: str) -> None:
        self._decided(by, note)

    @transition(field=status, source=Status.PENDING, target=Status.WITHDRAWN)
    def withdraw(self, note: str) -> None:
        """The requester takes their own request back."""
        self._decided(None, note)


class AuditEntry(models.Model):
    """One change of an account: a transition, or a tranche release. Never edited."""

    account = models.ForeignKey(LoanAccount, on_delete=models.CASCADE, related_name="audit_entries")
    transition = models.CharField(_("action"), max_length=40)
    from_state = models.CharField(_("from"), max_length=20, choices=State.choices)
    to_state = models.CharField(_("to"), max_length=20, choices=State.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    actor_name = models.CharField(_("by (name)"), max_length=150)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    reason = models.TextField(_("reason"), blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        indexes = [models.Index(fields=["account", "-created_at"], name="audit_account_time")]

    def __str__(self) -> str:
        return f"{self.account} {self.transition} {self.from_state}→{self.to_state}"

    @property
    def action_label(self) -> str:
        return str(ACTION_LABELS.get(self.transition, self.transition))


class CoreEvent(models.Model):
    """A card event reported by core banking through the webhook; applied once per event id."""

    event_id = models.CharField(_("event id"), max_length=100, unique=True)
    event_type = models.CharField(_("type"), max_length=50)
    account = models.ForeignKey(LoanAccount, on_delete=models.CASCADE, related_name="core_events")
    payload = models.JSONField(_("payload"))
    outcome = models.CharField(_("outcome"), max_length=300)
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("core banking event")
        verbose_name_plural = _("core banking events")

    def __str__(self) -> str:
        return self.event_id
