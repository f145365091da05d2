from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class Department(models.Model):
    """One of the three teams that own empty-card accounts: credit, tech, service.

    The code is the primary key so that a case's department reads as ``"tech"`` in
    queries, URLs and filters without a join.
    """

    CREDIT = "credit"
    TECH = "tech"
    SERVICE = "service"

    code = models.SlugField(_("code"), max_length=20, primary_key=True)
    name = models.CharField(_("name"), max_length=80, unique=True)
    description = models.CharField(_("what it owns"), max_length=200, blank=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self) -> str:
        """The name in the reader's language: the three departments' names are in the catalogue."""
        return gettext(self.name)


class StaffProfile(models.Model):
    """Links a login to the departments its holder works for (a lead may have several)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="staff_profile",
        verbose_name=_("user"),
    )
    departments = models.ManyToManyField(Department, blank=True, related_name="members", verbose_name=_("departments"))
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("The language of the portal's pages for this person; empty: the browser's."),
    )

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")
        permissions = [("view_jobs", _("Can see the background jobs page"))]

    def __str__(self) -> str:
        return str(self.user)


class JobHeartbeat(models.Model):
    """The last run of one periodic job: when it started, whether and when it last succeeded."""

    name = models.CharField(_("job"), max_length=100, unique=True)
    interval_seconds = models.PositiveIntegerField(_("runs every (s)"))
    last_started_at = models.DateTimeField(_("last start"), null=True, blank=True)
    last_succeeded_at = models.DateTimeField(_("last success"), null=True, blank=True)
    last_duration_ms = models.PositiveIntegerField(_("last duration (ms)"), null=True, blank=True)
    last_counts = models.JSONField(_("last counts"), default=dict, blank=True)
    last_error = models.TextField(_("last error"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("job heartbeat")
        verbose_name_plural = _("job heartbeats")

    def __str__(self) -> str:
        return self.name

    def is_late(self, now: Any = None) -> bool:
        """No success within two intervals (and a grace minute) of when one was due."""
        from datetime import timedelta

        from django.utils import timezone

        reference = self.last_succeeded_at
        if reference is None:
            return self.last_started_at is not None and bool(self.last_error)
        grace = timedelta(seconds=2 * self.interval_seconds + 60)
        return (now or timezone.now()) - reference > grace
