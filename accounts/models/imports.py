"""A CSV import run: the uploaded file, its progress, and what it did or why it did nothing."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ImportRun(models.Model):
    """One uploaded file, checked and imported by a background job (``accounts.ingest.import_run``).

    The file is kept in the database, so any worker on any machine can run it; the status and
    ``rows_checked`` are written as the job goes, for the progress page.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting for a worker")
        CHECKING = "checking", _("Checking and importing")
        DONE = "done", _("Imported")
        CHECKED = "checked", _("Checked: nothing saved (dry run)")
        REFUSED = "refused", _("Nothing imported: the file has errors")
        FAILED = "failed", _("Failed")

    RUNNING = (Status.QUEUED, Status.CHECKING)

    file_name = models.CharField(_("file"), max_length=200)
    content = models.BinaryField(_("content"))
    dry_run = models.BooleanField(_("dry run"), default=False)
    # The uploader's language: the run's report (row errors, summary) is written in it by the job.
    language = models.CharField(_("language"), max_length=10, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    rows_checked = models.PositiveIntegerField(_("rows checked"), default=0)
    customers_created = models.PositiveIntegerField(default=0)
    customers_updated = models.PositiveIntegerField(default=0)
    accounts_created = models.PositiveIntegerField(default=0)
    accounts_updated = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(_("errors"), default=0)
    # The bad rows as CSV (line, column-prefixed reason), for the error report download.
    errors_csv = models.TextField(blank=True)
    summary = models.TextField(_("result"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, related_name="+", verbose_name=_("uploaded by")
    )
    created_at = models.DateTimeField(_("uploaded"), default=timezone.now)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("import run")
        verbose_name_plural = _("import runs")

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_status_display()})"

    def get_absolute_url(self) -> str:
        return reverse("accounts:import_run", kwargs={"pk": self.pk})

    @property
    def running(self) -> bool:
        return self.status in self.RUNNING

    @property
    def percent(self) -> int:
        if self.status in (self.Status.DONE, self.Status.CHECKED):
            return 100
        return min(99, self.rows_checked * 100 // self.rows) if self.rows else 0
