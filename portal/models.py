from __future__ import annotations

from django.conf import settings
from django.db import models
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
        return self.name


class StaffProfile(models.Model):
    """Links a login to the departments its holder works for (a lead may have several)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="staff_profile",
        verbose_name=_("user"),
    )
    departments = models.ManyToManyField(Department, blank=True, related_name="members", verbose_name=_("departments"))

    class Meta:
        verbose_name = _("staff profile")
        verbose_name_plural = _("staff profiles")
        permissions = [("view_jobs", _("Can see the background jobs page"))]

    def __str__(self) -> str:
        return str(self.user)
