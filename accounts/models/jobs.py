"""Reactivation batches: a group of empty accounts re-driven through core banking once a fault is fixed."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models.core import LoanAccount


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
        ordering = ["batch", "id"]
        verbose_name = _("reactivation item")
        verbose_name_plural = _("reactivation items")
        constraints = [models.UniqueConstraint(fields=["batch", "account"], name="batch_account_once")]
        indexes = [models.Index(fields=["batch", "status"], name="batch_item_status")]

    def __str__(self) -> str:
        return f"{self.batch_id}:{self.account_id}"
