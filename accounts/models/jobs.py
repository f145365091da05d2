"""What the background work records: simulated faults, activation attempts, reactivation batches."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models.core import LoanAccount, Product


class SimulatorFaultQuerySet(models.QuerySet["SimulatorFault"]):
    def active_for(self, *, product: str, channel: str) -> SimulatorFaultQuerySet:
        return self.filter(active=True).filter(Q(product="") | Q(product=product), Q(channel="") | Q(channel=channel))


class SimulatorFault(models.Model):
    """A fault the simulated core banking injects: for demos, tests and drills."""

    class Scenario(models.TextChoices):
        RANDOM = "random", _("Random failures and timeouts")
        CONFIGURATION_FAULT = "configuration_fault", _("Configuration fault: every activation fails")

    name = models.CharField(_("name"), max_length=100)
    scenario = models.CharField(_("scenario"), max_length=30, choices=Scenario.choices, default=Scenario.RANDOM)
    product = models.CharField(
        _("product"), max_length=30, choices=Product.choices, blank=True, help_text=_("Empty: every product.")
    )
    channel = models.CharField(_("channel"), max_length=60, blank=True, help_text=_("Empty: every channel."))
    failure_rate = models.FloatField(
        _("failure rate"), default=0, validators=[MinValueValidator(0), MaxValueValidator(1)], help_text=_("0 to 1")
    )
    timeout_rate = models.FloatField(
        _("timeout rate"), default=0, validators=[MinValueValidator(0), MaxValueValidator(1)], help_text=_("0 to 1")
    )
    latency_ms = models.PositiveIntegerField(_("extra latency (ms)"), default=0)
    active = models.BooleanField(_("active"), default=True)

    objects = SimulatorFaultQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = _("simulator fault")
        verbose_name_plural = _("simulator faults")

    def __str__(self) -> str:
        return self.name


class ActivationAttempt(models.Model):
    """One call to core banking to activate an account's card, and how it went."""

    class Result(models.TextChoices):
        SUCCEEDED = "succeeded", _("Succeeded")
        TRANSIENT_ERROR = "transient_error", _("Transient error (retried)")
        PERMANENT_ERROR = "permanent_error", _("Failed")

    account = models.ForeignKey(LoanAccount, on_delete=models.CASCADE, related_name="activation_attempts")
    number = models.PositiveIntegerField(_("attempt"))
    result = models.CharField(_("result"), max_length=20, choices=Result.choices)
    error_code = models.CharField(_("error code"), max_length=60, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"))
    batch = models.ForeignKey(
        "accounts.ReactivationBatch", on_delete=models.SET_NULL, null=True, blank=True, related_name="attempts"
    )
    created_at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("activation attempt")
        verbose_name_plural = _("activation attempts")
        indexes = [models.Index(fields=["account", "-created_at"], name="attempt_account_time")]

    def __str__(self) -> str:
        return f"{self.account} #{self.number} {self.result}"


class ReactivationBatch(models.Model):
    """Re-drive a group of empty accounts (an incident's, or a filter's) once a fault is fixed."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    title = models.CharField(_("title"), max_length=200)
    incident = models.ForeignKey(
        "casework.Incident", on_delete=models.SET_NULL, null=True, blank=True, related_name="batches"
    )
    criteria = models.JSONField(_("criteria"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RUNNING)
    total = models.PositiveIntegerField(_("accounts"), default=0)
    processed = models.PositiveIntegerField(_("processed"), default=0)
    succeeded = models.PositiveIntegerField(_("succeeded"), default=0)
    failed = models.PositiveIntegerField(_("failed"), default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
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

    @property
    def percent(self) -> int:
        return int(100 * self.processed / self.total) if self.total else 100


class ReactivationItem(models.Model):
    """One account of a batch: attempted at most once in that batch."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Reactivated")
        FAILED = "failed", _("Failed")

    batch = models.ForeignKey(ReactivationBatch, on_delete=models.CASCADE, related_name="items")
    account = models.ForeignKey(LoanAccount, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    error_code = models.CharField(_("error code"), max_length=60, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    attempted_at = models.DateTimeField(_("attempted"), null=True, blank=True)

    class Meta:
        ordering = ["batch", "id"]
        verbose_name = _("reactivation item")
        verbose_name_plural = _("reactivation items")
        constraints = [models.UniqueConstraint(fields=["batch", "account"], name="batch_account_once")]
        indexes = [models.Index(fields=["batch", "status"], name="batch_item_status")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.account_id}"
