"""Playbooks, their steps, revisions and versions, and the case studies the revisions are drawn from."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from casework.models.cases import Case, CaseCause
from casework.models.incidents import Incident


class Playbook(models.Model):
    """The ordered checklist for one empty-card cause."""

    cause = models.CharField(_("cause"), max_length=30, choices=CaseCause.choices, unique=True)
    title = models.CharField(_("title"), max_length=200)
    # Bumped by each accepted revision (``casework.playbooks``); its steps are that version's.
    version = models.PositiveIntegerField(_("version"), default=1)

    class Meta:
        ordering = ["cause"]
        verbose_name = _("playbook")
        verbose_name_plural = _("playbooks")

    def __str__(self) -> str:
        return self.title


class PlaybookStep(models.Model):
    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("position"))
    text = models.CharField(_("step"), max_length=300)

    class Meta:
        ordering = ["playbook", "position"]
        verbose_name = _("playbook step")
        verbose_name_plural = _("playbook steps")
        constraints = [models.UniqueConstraint(fields=["playbook", "position"], name="playbook_step_position")]

    def __str__(self) -> str:
        return self.text


class PlaybookRevision(FSMModelMixin, models.Model):
    """A proposed new list of steps for a playbook, drawn from a case study; accepted by another lead."""

    class RevisionStatus(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="revisions")
    study = models.ForeignKey(
        "CaseStudy",
        on_delete=models.PROTECT,
        related_name="playbook_revisions",
        verbose_name=_("case study"),
    )
    # The playbook version the steps were written against: accepted only while it is still current.
    base_version = models.PositiveIntegerField(_("written against version"))
    steps = models.JSONField(_("proposed steps"), default=list)
    note = models.TextField(_("why"))
    proposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    proposed_by_name = models.CharField(_("proposed by"), max_length=150)
    proposed_at = models.DateTimeField(_("proposed"), default=timezone.now)
    # Moves only through accept() and reject(), run by casework.playbooks.
    status = FSMField(
        _("status"),
        max_length=10,
        choices=RevisionStatus.choices,
        default=RevisionStatus.PROPOSED,
        protected=True,
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by_name = models.CharField(_("decided by"), max_length=150, blank=True)
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_note = models.TextField(_("decision note"), blank=True)
    resulting_version = models.PositiveIntegerField(_("became version"), null=True, blank=True)

    class Meta:
        ordering = ["-proposed_at", "-id"]
        verbose_name = _("playbook revision")
        verbose_name_plural = _("playbook revisions")
        permissions = [("accept_playbookrevision", _("Can accept or reject proposed playbook changes"))]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="proposed", decided_at__isnull=True, resulting_version__isnull=True)
                | Q(status="accepted", decided_at__isnull=False, resulting_version__isnull=False)
                | Q(status="rejected", decided_at__isnull=False, resulting_version__isnull=True),
                name="playbook_revision_decided",
            )
        ]

    def __str__(self) -> str:
        return f"{self.playbook} · #{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("casework:playbook_revision", kwargs={"pk": self.pk})

    @property
    def is_open(self) -> bool:
        return self.status == self.RevisionStatus.PROPOSED

    def _decide(self, by: Any, by_name: str, note: str) -> None:
        self.decided_by, self.decided_by_name, self.decided_at, self.decision_note = by, by_name, timezone.now(), note

    @transition(field=status, source=RevisionStatus.PROPOSED, target=RevisionStatus.ACCEPTED)
    def accept(self, by: Any, by_name: str, note: str, version: int) -> None:
        self._decide(by, by_name, note)
        self.resulting_version = version

    @transition(field=status, source=RevisionStatus.PROPOSED, target=RevisionStatus.REJECTED)
    def reject(self, by: Any, by_name: str, note: str) -> None:
        self._decide(by, by_name, note)


class PlaybookVersion(models.Model):
    """A playbook's steps as they were from one version on, and what changed from the version before. Never edited."""

    playbook = models.ForeignKey(Playbook, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("version"))
    steps = models.JSONField(_("steps"), default=list)
    # {"added": [...], "changed": [[old, new], ...], "removed": [...]} against the version before (empty for 1).
    diff = models.JSONField(_("changes"), default=dict, blank=True)
    created_at = models.DateTimeField(_("since"), default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_by_name = models.CharField(_("accepted by"), max_length=150)
    revision = models.OneToOneField(
        PlaybookRevision,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="playbook_version",
        verbose_name=_("revision"),
    )

    class Meta:
        ordering = ["playbook", "-number"]
        verbose_name = _("playbook version")
        verbose_name_plural = _("playbook versions")
        constraints = [models.UniqueConstraint(fields=["playbook", "number"], name="playbook_version_number")]

    def __str__(self) -> str:
        return f"{self.playbook} · v{self.number}"


class CaseStudy(models.Model):
    """What the organisation learnt from one resolved case or incident, written by a lead."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("Success: do it again")
        PROBLEM = "problem", _("Problem: change something")

    title = models.CharField(_("title"), max_length=200)
    cause = models.CharField(_("cause"), max_length=30, choices=CaseCause.choices)
    outcome = models.CharField(_("classified as"), max_length=10, choices=Outcome.choices)
    case = models.ForeignKey(
        Case, on_delete=models.SET_NULL, null=True, blank=True, related_name="studies", verbose_name=_("case")
    )
    incident = models.ForeignKey(
        Incident, on_delete=models.SET_NULL, null=True, blank=True, related_name="studies", verbose_name=_("incident")
    )
    source_label = models.CharField(_("written from"), max_length=200)
    summary = models.TextField(_("summary"))
    root_cause = models.TextField(_("root cause"))
    what_worked = models.TextField(_("what worked"))
    what_to_change = models.TextField(_("what to change"))
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    author_name = models.CharField(_("written by"), max_length=150)
    created_at = models.DateTimeField(_("written"), default=timezone.now)
    updated_at = models.DateTimeField(_("last changed"), default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("case study")
        verbose_name_plural = _("case studies")
        indexes = [models.Index(fields=["cause", "-created_at"], name="case_study_cause")]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("studies:detail", kwargs={"pk": self.pk})
