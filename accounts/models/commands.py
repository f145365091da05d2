"""What the portal asks of core banking (the outbox) and what reconciliation found.

A ``CoreCommand`` is written in the same transaction as the decision behind it (an issue, a
hold, a release...) and delivered afterwards by a job, with the request body and idempotency
key fixed at creation: every retry sends exactly the same request, and core applies it once.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models.core import ApprovalRequest, LoanAccount, Tranche


def _idempotency_key() -> str:
    return uuid.uuid4().hex


class CoreCommand(models.Model):
    """One request to core banking, from the decision that needs it to core's answer."""

    class Kind(models.TextChoices):
        ISSUE = "issue", _("Issue the card")
        ACTIVATE = "activate", _("Activate the card")
        SUSPEND = "suspend", _("Suspend the card (risk hold)")
        REINSTATE = "reinstate", _("Reinstate the card (release the hold)")
        TERMINATE = "terminate", _("Terminate the card (close)")
        SET_LIMIT = "set_limit", _("Set the usable limit")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for core banking")
        DONE = "done", _("Done in core banking")
        REFUSED = "refused", _("Refused by core banking")
        NOT_SENT = "not_sent", _("Not sent: drill account")

    account = models.ForeignKey(LoanAccount, on_delete=models.CASCADE, related_name="core_commands")
    kind = models.CharField(_("command"), max_length=12, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    idempotency_key = models.CharField(_("idempotency key"), max_length=64, unique=True, default=_idempotency_key)
    # The request exactly as it is sent, every time: method, path and JSON body.
    method = models.CharField(max_length=6)
    path = models.CharField(max_length=120)
    body = models.JSONField(default=dict)

    # Who decided, and why: the confirmation is audited with them.
    reason = models.TextField(_("reason"), blank=True)
    actor_name = models.CharField(_("decided by"), max_length=150)
    actor_channel = models.CharField(max_length=10)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approval = models.ForeignKey(ApprovalRequest, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    tranche = models.ForeignKey(Tranche, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")

    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    last_error_code = models.CharField(_("last error code"), max_length=60, blank=True)
    last_error = models.CharField(_("last error"), max_length=300, blank=True)
    response_status = models.PositiveSmallIntegerField(_("core's HTTP status"), null=True, blank=True)
    response = models.JSONField(_("core's answer"), null=True, blank=True)
    created_at = models.DateTimeField(_("decided"), default=timezone.now)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    # When the command was flagged as waiting too long (a tech case is opened once).
    flagged_at = models.DateTimeField(_("flagged as late"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("core banking command")
        verbose_name_plural = _("core banking commands")
        constraints = [
            # Asking twice for the same thing while the first is on its way asks once.
            models.UniqueConstraint(
                fields=["account", "kind"], condition=Q(status="pending"), name="command_one_pending_per_kind"
            ),
            models.CheckConstraint(
                condition=Q(status="pending", completed_at__isnull=True)
                | (~Q(status="pending") & Q(completed_at__isnull=False)),
                name="command_completed_has_time",
            ),
        ]
        indexes = [
            # The delivery job's claim: due commands, oldest first.
            models.Index(fields=["next_attempt_at", "id"], name="command_due", condition=Q(status="pending")),
            # "Waiting for core banking" on pages, and the per-account ordering.
            models.Index(fields=["account", "id"], name="command_pending_account", condition=Q(status="pending")),
            models.Index(fields=["account", "-created_at"], name="command_account_time"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_kind_display()} · {self.account_id}"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING


class ReconciliationRun(models.Model):
    """One pass of reconciliation: core's card statuses read back and compared with ours."""

    class Mode(models.TextChoices):
        CHANGES = "changes", _("Changes since the last run")
        FULL = "full", _("Full sweep")

    mode = models.CharField(_("mode"), max_length=10, choices=Mode.choices)
    cursor_from = models.CharField(_("from cursor"), max_length=20)
    cursor_to = models.CharField(_("to cursor"), max_length=20, blank=True)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    cards_read = models.PositiveIntegerField(_("cards read"), default=0)
    in_flight = models.PositiveIntegerField(_("skipped: command in flight"), default=0)
    unknown = models.PositiveIntegerField(_("cards of lines we do not hold"), default=0)
    mismatches = models.PositiveIntegerField(_("mismatches"), default=0)
    fixed = models.PositiveIntegerField(_("applied from core"), default=0)
    cased = models.PositiveIntegerField(_("cases opened"), default=0)
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("reconciliation run")
        verbose_name_plural = _("reconciliation runs")

    def __str__(self) -> str:
        return f"{self.get_mode_display()} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def succeeded(self) -> bool:
        return self.finished_at is not None and not self.error

    def counts(self) -> dict[str, int]:
        """What the run found, for its job's heartbeat."""
        return {
            "cards_read": self.cards_read,
            "mismatches": self.mismatches,
            "fixed": self.fixed,
            "cased": self.cased,
            "in_flight": self.in_flight,
            "unknown": self.unknown,
        }
