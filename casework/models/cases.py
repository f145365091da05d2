"""Cases and their timeline, checklist and customer feedback; the statuses, causes, priorities and SLA."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from accounts import hooks
from accounts.models import EmptyCause, LoanAccount, State
from casework.models.incidents import Drill, Incident
from portal.models import Department
from portal.selectors import department_codes


class Status(models.TextChoices):
    NEW = "new", _("New")
    ASSIGNED = "assigned", _("Assigned")
    IN_PROGRESS = "in_progress", _("In progress")
    WAITING_CUSTOMER = "waiting_customer", _("Waiting for customer")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")


class CaseCause(models.TextChoices):
    """Why a case exists: the three empty-card causes, and two problems around them."""

    SYSTEM_CONFIG = EmptyCause.SYSTEM_CONFIG.value, EmptyCause.SYSTEM_CONFIG.label
    CUSTOMER_INCOMPLETE = EmptyCause.CUSTOMER_INCOMPLETE.value, EmptyCause.CUSTOMER_INCOMPLETE.label
    RISK_HOLD = EmptyCause.RISK_HOLD.value, EmptyCause.RISK_HOLD.label
    # Core banking and the desk disagree: a refused or late command, or a reconciliation mismatch.
    CORE_SYNC = hooks.CORE_SYNC, _("Out of step with core banking")
    # An approved line whose card was not issued in time.
    NOT_ISSUED = hooks.NOT_ISSUED, _("Approved, card not issued")
    # A customer's complaint about an account with no empty-card problem the desk knows of.
    COMPLAINT = "complaint", _("Customer complaint")


OPEN_STATUSES = (Status.NEW, Status.ASSIGNED, Status.IN_PROGRESS, Status.WAITING_CUSTOMER)
BOARD_STATUSES = (*OPEN_STATUSES, Status.RESOLVED)
# The causes that are the account's empty-card state itself: such a case is fixed only once the account leaves it.
EMPTY_CAUSES = tuple(cause.value for cause in EmptyCause)


class Resolution(models.TextChoices):
    """How a case ended: fixed (the account left the empty-card state), or won't fix, with a reason."""

    FIXED = "fixed", _("Fixed")
    WONT_FIX = "wont_fix", _("Won't fix")


class WontFixReason(models.TextChoices):
    CUSTOMER_DECLINED = "customer_declined", _("The customer declined the line")
    ACCOUNT_CLOSING = "account_closing", _("The account is closed or being closed")
    DUPLICATE = "duplicate", _("Duplicate of another case")
    OTHER = "other", _("Other")


class Priority(models.IntegerChoices):
    P1 = 1, _("P1 · critical")
    P2 = 2, _("P2 · high")
    P3 = 3, _("P3 · normal")
    P4 = 4, _("P4 · low")


class SlaPolicy(models.Model):
    """How fast a case of each priority must be picked up and resolved. Edited in the admin."""

    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices, unique=True)
    time_to_assign = models.DurationField(_("time to first assignment"))
    time_to_resolve = models.DurationField(_("time to resolution"))

    class Meta:
        ordering = ["priority"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return str(self.get_priority_display())


class WipLimit(models.Model):
    """Work-in-progress limit for one department's column on the board."""

    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="wip_limits")
    status = models.CharField(_("status"), max_length=20, choices=Status.choices)
    limit = models.PositiveIntegerField(_("limit"))

    class Meta:
        ordering = ["department", "status"]
        verbose_name = _("WIP limit")
        verbose_name_plural = _("WIP limits")
        constraints = [models.UniqueConstraint(fields=["department", "status"], name="wip_limit_unique")]

    def __str__(self) -> str:
        return f"{self.department} · {self.get_status_display()} ≤ {self.limit}"


class CaseQuerySet(models.QuerySet["Case"]):
    def open(self) -> CaseQuerySet:
        return self.filter(status__in=OPEN_STATUSES)

    def visible_to(self, user: Any) -> CaseQuerySet:
        """Leads, agents and engineers see their departments' cases and their own; auditors all."""
        if not user.is_authenticated or not user.has_perm("casework.view_case"):
            return self.none()
        if user.is_superuser or user.has_perm("casework.view_all_cases"):
            return self
        return self.filter(Q(department_id__in=department_codes(user)) | Q(assignee=user))


class Case(ConcurrentTransitionMixin, models.Model):
    """One problem on one account, owned by one department.

    Status changes only through the transition methods; ``casework.services`` runs them with
    the version check, the SLA clock and the timeline entry.
    """

    account = models.ForeignKey(LoanAccount, on_delete=models.PROTECT, related_name="cases")
    cause = models.CharField(_("cause"), max_length=30, choices=CaseCause.choices)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="cases")
    status = FSMField(_("status"), default=Status.NEW, choices=Status.choices, protected=True)
    priority = models.PositiveSmallIntegerField(_("priority"), choices=Priority.choices, default=Priority.P3)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_cases",
        verbose_name=_("assignee"),
    )
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="cases", verbose_name=_("incident")
    )
    version = models.PositiveIntegerField(_("version"), default=1)
    opened_at = models.DateTimeField(_("opened"), default=timezone.now)
    first_assigned_at = models.DateTimeField(_("first assigned"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    assign_due_at = models.DateTimeField(_("assignment due"))
    resolve_due_at = models.DateTimeField(_("resolution due"))
    sla_paused_at = models.DateTimeField(_("SLA clock paused since"), null=True, blank=True)
    escalated_at = models.DateTimeField(_("escalated as overdue"), null=True, blank=True)
    # How the last resolution ended (blank while open): set by resolve(), cleared by reopen().
    resolution = models.CharField(_("outcome"), max_length=10, choices=Resolution.choices, blank=True)
    resolution_reason = models.CharField(
        _("why it won't be fixed"), max_length=20, choices=WontFixReason.choices, blank=True
    )
    resolution_note = models.TextField(_("outcome note"), blank=True)
    is_drill = models.BooleanField(_("drill data"), default=False)
    drill = models.ForeignKey(
        Drill, on_delete=models.SET_NULL, null=True, blank=True, related_name="cases", verbose_name=_("drill")
    )
    # The version of its cause's playbook the checklist was copied from (none: no playbook then).
    playbook_version = models.PositiveIntegerField(_("playbook version"), null=True, blank=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["priority", "resolve_due_at", "id"]
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        permissions = [
            ("work_case", _("Can work the cases of their departments")),
            ("assign_case", _("Can assign the cases of their departments to their members")),
            ("view_all_cases", _("Can see the cases of every department")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "cause"],
                condition=Q(status__in=["new", "assigned", "in_progress", "waiting_customer"]),
                name="case_one_open_per_account_cause",
            ),
            # An outcome only on a resolved or closed case; "won't fix" always says why.
            models.CheckConstraint(
                condition=Q(resolution="") | Q(status__in=["resolved", "closed"]), name="case_outcome_when_resolved"
            ),
            models.CheckConstraint(
                condition=Q(resolution__in=["", "fixed"], resolution_reason="", resolution_note="")
                | (Q(resolution="wont_fix") & ~Q(resolution_reason="") & ~Q(resolution_note="")),
                name="case_wont_fix_has_reason",
            ),
        ]
        indexes = [
            # The board's cells (real cases; drill cases are few and scanned): their first cards in
            # card order, and their counts from the index alone (resolved_at is there for the
            # "resolved" column's last week).
            models.Index(
                fields=["department", "status", "priority", "resolve_due_at", "id", "resolved_at"],
                name="case_board_cards",
                condition=Q(is_drill=False),
            ),
            models.Index(fields=["assignee", "status"], name="case_assignee"),
            models.Index(fields=["status", "resolve_due_at"], name="case_due"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.account.number} · {self.get_cause_display()}"

    def get_absolute_url(self) -> str:
        return reverse("casework:detail", kwargs={"pk": self.pk})

    # --- SLA ---------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def sla_remaining(self, now: datetime | None = None) -> timedelta:
        """Time left to resolve; frozen while the clock is paused. Negative when overdue."""
        reference = self.sla_paused_at or now or timezone.now()
        return self.resolve_due_at - reference

    @property
    def account_still_empty(self) -> bool:
        """An empty-card case whose account is still in that state: it cannot be resolved as fixed."""
        return self.cause in EMPTY_CAUSES and self.account.state == State.EMPTY

    def is_overdue(self, now: datetime | None = None) -> bool:
        if not self.is_open:
            return bool(self.resolved_at and self.resolved_at > self.resolve_due_at)
        return self.sla_remaining(now) < timedelta(0)

    def _pause_clock(self) -> None:
        self.sla_paused_at = timezone.now()

    def _resume_clock(self) -> None:
        if self.sla_paused_at:
            self.resolve_due_at += timezone.now() - self.sla_paused_at
            self.sla_paused_at = None

    # --- transitions -------------------------------------------------------------------

    @transition(field=status, source=Status.NEW, target=Status.ASSIGNED)
    def mark_assigned(self) -> None:
        self.first_assigned_at = self.first_assigned_at or timezone.now()

    @transition(field=status, source=Status.ASSIGNED, target=Status.IN_PROGRESS)
    def start(self) -> None:
        pass

    @transition(field=status, source=Status.IN_PROGRESS, target=Status.WAITING_CUSTOMER)
    def wait_for_customer(self) -> None:
        self._pause_clock()

    @transition(field=status, source=Status.WAITING_CUSTOMER, target=Status.IN_PROGRESS)
    def resume(self) -> None:
        self._resume_clock()

    @transition(field=status, source=list(OPEN_STATUSES), target=Status.RESOLVED)
    def resolve(self, resolution: str = Resolution.FIXED, reason: str = "", note: str = "") -> None:
        """Fixed, or won't fix with a reason and a note (the service checks the account first)."""
        self._resume_clock()
        self.resolved_at = timezone.now()
        wont_fix = resolution == Resolution.WONT_FIX
        self.resolution = Resolution.WONT_FIX if wont_fix else Resolution.FIXED
        self.resolution_reason, self.resolution_note = (reason, note) if wont_fix else ("", "")

    @transition(field=status, source=Status.RESOLVED, target=Status.CLOSED)
    def close(self) -> None:
        self.closed_at = timezone.now()

    @transition(field=status, source=Status.RESOLVED, target=Status.IN_PROGRESS)
    def reopen(self) -> None:
        self.resolved_at = None
        self.resolution, self.resolution_reason, self.resolution_note = "", "", ""

    @transition(field=status, source=list(OPEN_STATUSES), target=Status.NEW)
    def hand_off(self) -> None:
        """To another department: it starts unassigned there, the SLA clock keeps running."""
        self._resume_clock()
        self.assignee = None


class ChecklistItem(models.Model):
    """A case's copy of one playbook step, ticked by someone."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="checklist")
    position = models.PositiveSmallIntegerField(_("position"))
    text = models.CharField(_("step"), max_length=300)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["case", "position"]
        verbose_name = _("checklist item")
        verbose_name_plural = _("checklist items")

    def __str__(self) -> str:
        return self.text


class CaseEvent(models.Model):
    """One line of a case's timeline. Never edited."""

    class Kind(models.TextChoices):
        OPENED = "opened", _("Opened")
        COMMENT = "comment", _("Comment")
        CONTACT = "contact", _("Contact with the customer")
        ASSIGNMENT = "assignment", _("Assignment")
        STATUS = "status", _("Status change")
        HANDOFF = "handoff", _("Handoff")
        CHECKLIST = "checklist", _("Checklist")
        SYSTEM = "system", _("System")
        INCIDENT = "incident", _("Incident")
        FEEDBACK = "feedback", _("Customer feedback")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_name = models.CharField(_("by"), max_length=150)
    text = models.TextField(_("text"), blank=True)
    from_status = models.CharField(_("from"), max_length=20, choices=Status.choices, blank=True)
    to_status = models.CharField(_("to"), max_length=20, choices=Status.choices, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("case event")
        verbose_name_plural = _("case events")
        indexes = [models.Index(fields=["case", "created_at"], name="case_event_time")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.kind}"


class CustomerFeedback(models.Model):
    """A complaint or feedback a customer gave about an account, recorded by staff; never edited.

    Recording it opens the account's case or joins the open one (``casework.feedback``);
    ``first_response_at`` is the first contact with the customer recorded on that case after it.
    """

    class Channel(models.TextChoices):
        PHONE = "phone", _("Phone (customer hotline)")
        BRANCH = "branch", _("At a branch")
        ONLINE = "online", _("Online banking or app")
        SMS_REPLY = "sms_reply", _("Reply to an SMS")
        OTHER = "other", _("Other")

    class Category(models.TextChoices):
        ACTIVATION_NOT_RECEIVED = "activation_not_received", _("Activation SMS or code not received")
        CANNOT_SET_PASSWORD = "cannot_set_password", _("Cannot set the card password")
        CREDIT_FROZEN = "credit_frozen", _("Credit line frozen")
        CARD_NOT_USABLE = "card_not_usable", _("Card cannot be used")
        OTHER = "other", _("Other")

    class Severity(models.TextChoices):
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High: raises the case's priority")

    # Cascades only with drill data (a drill's purge deletes its accounts and cases); real ones are never deleted.
    account = models.ForeignKey(LoanAccount, on_delete=models.CASCADE, related_name="feedback")
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="feedback", verbose_name=_("case"))
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    category = models.CharField(_("about"), max_length=30, choices=Category.choices)
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices)
    text = models.TextField(_("what the customer said"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    recorded_by_name = models.CharField(_("recorded by"), max_length=150)
    recorded_at = models.DateTimeField(_("recorded"), default=timezone.now)
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    is_drill = models.BooleanField(_("drill data"), default=False)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        verbose_name = _("customer feedback")
        verbose_name_plural = _("customer feedback")
        constraints = [
            models.CheckConstraint(
                condition=Q(first_response_at__isnull=True) | Q(first_response_at__gte=F("recorded_at")),
                name="feedback_response_after_recording",
            )
        ]
        indexes = [
            # The figures and the list: real feedback by time.
            models.Index(fields=["recorded_at"], name="feedback_recorded", condition=Q(is_drill=False)),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()} · {self.account_id}"

    @property
    def response_time(self) -> timedelta | None:
        return self.first_response_at - self.recorded_at if self.first_response_at else None
