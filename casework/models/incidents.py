"""Incidents, drills and reactivation batches: the work around many accounts at once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from accounts.models import EmptyCause, LoanAccount
from portal.models import Department


class Incident(FSMModelMixin, models.Model):
    """One systemic fault behind many empty accounts (e.g. a configuration error on a channel)."""

    class IncidentStatus(models.TextChoices):
        OPEN = "open", _("Open")
        FIXED = "fixed", _("Fixed, re-driving")
        RESOLVED = "resolved", _("Resolved")

    title = models.CharField(_("title"), max_length=200)
    cause = models.CharField(_("cause"), max_length=30, choices=EmptyCause.choices, default=EmptyCause.SYSTEM_CONFIG)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="+", default=Department.TECH)
    # Moves only through fix() and resolve() (run by casework.incidents and casework.batches).
    status = FSMField(
        _("status"), max_length=10, choices=IncidentStatus.choices, default=IncidentStatus.OPEN, protected=True
    )
    description = models.TextField(_("what is known"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by_name = models.CharField(_("opened by"), max_length=150)
    created_at = models.DateTimeField(_("opened"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    is_drill = models.BooleanField(_("drill data"), default=False)
    drill = models.ForeignKey(
        "Drill", on_delete=models.SET_NULL, null=True, blank=True, related_name="incidents", verbose_name=_("drill")
    )

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("casework:incident", kwargs={"pk": self.pk})

    @transition(field=status, source=IncidentStatus.OPEN, target=IncidentStatus.FIXED)
    def fix(self) -> None:
        """Tech has fixed the fault; its accounts are being re-driven."""

    @transition(field=status, source=[IncidentStatus.OPEN, IncidentStatus.FIXED], target=IncidentStatus.RESOLVED)
    def resolve(self) -> None:
        self.resolved_at = timezone.now()


class Drill(FSMModelMixin, models.Model):
    """A practice run: synthetic stuck accounts and their cases, worked like real ones, then reported.

    Everything a drill creates carries ``is_drill`` (and this drill), so no real figure counts
    it; the report is kept here when the drill ends, so it survives the purge of its data.
    """

    class Scenario(models.TextChoices):
        CONFIG_FAULT = "config_fault", _("Configuration fault on a channel")
        SMS_WAVE = "sms_wave", _("A wave of customers who stop at the SMS step")
        RISK_SWEEP = "risk_sweep", _("Risk-hold sweep")

    class DrillStatus(models.TextChoices):
        RUNNING = "running", _("Running")
        ENDED = "ended", _("Ended")
        PURGED = "purged", _("Ended, data purged")

    scenario = models.CharField(_("scenario"), max_length=20, choices=Scenario.choices)
    size = models.PositiveIntegerField(_("accounts"))
    channel = models.CharField(_("channel / branch"), max_length=60, blank=True)
    briefing = models.TextField(_("briefing"), blank=True)
    status = FSMField(
        _("status"), max_length=10, choices=DrillStatus.choices, default=DrillStatus.RUNNING, protected=True
    )
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    ended_at = models.DateTimeField(_("ended"), null=True, blank=True)
    purged_at = models.DateTimeField(_("data purged"), null=True, blank=True)
    report = models.JSONField(_("report"), default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("drill")
        verbose_name_plural = _("drills")
        permissions = [("run_drill", _("Can start, end and purge drills"))]
        constraints = [
            models.CheckConstraint(condition=Q(size__gte=1, size__lte=200), name="drill_size_range"),
            models.CheckConstraint(
                condition=Q(status="running", ended_at__isnull=True)
                | (~Q(status="running") & Q(ended_at__isnull=False)),
                name="drill_ended_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_scenario_display()} · {timezone.localtime(self.started_at):%Y-%m-%d %H:%M}"

    def get_absolute_url(self) -> str:
        return reverse("casework:drill", kwargs={"pk": self.pk})

    @property
    def is_running(self) -> bool:
        return self.status == self.DrillStatus.RUNNING

    @transition(field=status, source=DrillStatus.RUNNING, target=DrillStatus.ENDED)
    def end(self, by: Any, at: datetime, report: dict[str, Any]) -> None:
        """Stop the clock; the report is kept on the drill."""
        self.ended_at, self.ended_by, self.report = at, by, report

    @transition(field=status, source=DrillStatus.ENDED, target=DrillStatus.PURGED)
    def purge(self, purged: dict[str, int]) -> None:
        """Its synthetic data is deleted; the report says what went."""
        self.purged_at = timezone.now()
        self.report = {**self.report, "purged": purged}


# Reactivation batches: a group of empty accounts re-driven through core banking once a fault is fixed.


class ReactivationBatch(FSMModelMixin, models.Model):
    """Re-drive a group of empty accounts (an incident's, or a filter's) once a fault is fixed."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    title = models.CharField(_("title"), max_length=200)
    incident = models.ForeignKey(Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="batches")
    criteria = models.JSONField(_("criteria"), default=dict, blank=True)
    # Cancelled through cancel(); done by batch_items_settle's guarded update once every item has its answer.
    status = FSMField(_("status"), max_length=10, choices=Status.choices, default=Status.RUNNING, protected=True)
    total = models.PositiveIntegerField(_("accounts"), default=0)
    processed = models.PositiveIntegerField(_("processed"), default=0)
    succeeded = models.PositiveIntegerField(_("succeeded"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        db_table = "accounts_reactivationbatch"  # where the batches were first kept
        ordering = ["-created_at"]
        verbose_name = _("reactivation batch")
        verbose_name_plural = _("reactivation batches")
        constraints = [
            models.CheckConstraint(
                condition=Q(processed=F("succeeded") + F("failed")) & Q(processed__lte=F("total")),
                name="batch_counts_add_up",
            )
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("batch", kwargs={"pk": self.pk})

    @transition(field=status, source=Status.RUNNING, target=Status.CANCELLED)
    def cancel(self) -> None:
        """No more accounts are driven; those already sent to core banking still get their answer."""
        self.finished_at = timezone.now()

    @property
    def percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 100


class ReactivationItem(models.Model):
    """One account of a batch: driven at most once in that batch, finished when core banking answers."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Waiting for core banking")
        SUCCEEDED = "succeeded", _("Reactivated")
        FAILED = "failed", _("Failed")

    batch = models.ForeignKey(ReactivationBatch, on_delete=models.CASCADE, related_name="items")
    account = models.ForeignKey(LoanAccount, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    error_code = models.CharField(_("error code"), max_length=60, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    attempted_at = models.DateTimeField(_("attempted"), null=True, blank=True)

    class Meta:
        db_table = "accounts_reactivationitem"
        ordering = ["batch", "id"]
        verbose_name = _("reactivation item")
        verbose_name_plural = _("reactivation items")
        constraints = [models.UniqueConstraint(fields=["batch", "account"], name="batch_account_once")]
        indexes = [models.Index(fields=["batch", "status"], name="batch_item_status")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.account_id}"
