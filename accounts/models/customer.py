"""The customer's side: activation links, messages sent, and the credit review's proposals."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import FSMField, FSMModelMixin, transition

from accounts.models.core import LoanAccount


class CreditReviewProposal(FSMModelMixin, models.Model):
    """What the nightly credit review suggests for one account. It never changes the account:
    a credit officer acts on it (through the usual four-eyes requests) or dismisses it."""

    class Kind(models.TextChoices):
        RELEASE_NEXT_TRANCHE = "release_next_tranche", _("Release the next tranche")
        HOLD = "hold", _("Put the line on risk hold")
        RELEASE_HOLD = "release_hold", _("Consider releasing the hold")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Acted on")
        DISMISSED = "dismissed", _("Dismissed")

    account = models.ForeignKey(LoanAccount, on_delete=models.CASCADE, related_name="review_proposals")
    kind = models.CharField(_("proposal"), max_length=30, choices=Kind.choices)
    score = models.SmallIntegerField(_("review score"))
    reason = models.CharField(_("why"), max_length=300)
    status = FSMField(_("status"), max_length=10, choices=Status.choices, default=Status.OPEN, protected=True)
    created_at = models.DateTimeField(_("proposed"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("credit review proposal")
        verbose_name_plural = _("credit review proposals")
        constraints = [
            models.UniqueConstraint(fields=["account"], condition=Q(status="open"), name="review_one_open_per_account")
        ]

    def __str__(self) -> str:
        return f"{self.account}: {self.get_kind_display()}"

    @transition(field=status, source=Status.OPEN, target=Status.DONE)
    def act_on(self, by: User) -> None:
        self.decided_by, self.decided_at = by, timezone.now()

    @transition(field=status, source=Status.OPEN, target=Status.DISMISSED)
    def dismiss(self, by: User) -> None:
        self.decided_by, self.decided_at = by, timezone.now()


class ActivationLink(models.Model):
    """The customer's personal activation link. Neither its secret nor its token is kept: the
    secret is derived from ``nonce`` with the server's secret key (so that a message's delivery job
    can make the link again), and only a hash of it, to find the link, is stored."""

    account = models.ForeignKey(LoanAccount, on_delete=models.CASCADE, related_name="activation_links")
    secret_hash = models.CharField(max_length=64, unique=True)
    # Random; useless without the secret key. Empty for links made before secrets were derived.
    nonce = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # The current SMS code, stored as a keyed hash; never in clear.
    code_hash = models.CharField(max_length=64, blank=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    wrong_codes = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    codes_sent_today = models.PositiveSmallIntegerField(default=0)
    last_code_sent_at = models.DateTimeField(null=True, blank=True)
    password_hash = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("activation link")
        verbose_name_plural = _("activation links")

    def __str__(self) -> str:
        return f"{self.account} link {self.pk}"


class Notification(models.Model):
    """Every message to a customer: what, to whom, and whether it went out."""

    class Medium(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("Email")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Being sent")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SUPPRESSED = "suppressed", _("Not sent: drill account")

    account = models.ForeignKey(LoanAccount, on_delete=models.CASCADE, related_name="notifications")
    medium = models.CharField(_("channel"), max_length=10, choices=Medium.choices)
    template = models.CharField(_("template"), max_length=60)
    recipient = models.CharField(_("recipient"), max_length=200)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("text"))
    # An SMS's template parameters, as Chinese SMS providers take them (the text above is for the log).
    params = models.JSONField(_("template parameters"), default=dict, blank=True)
    # The activation link the message carries. The text and the parameters keep ``[link]`` where its
    # token goes (a code keeps ``••••••``): the delivery job puts the token in, made again from the link.
    link = models.ForeignKey(
        ActivationLink, on_delete=models.SET_NULL, null=True, blank=True, related_name="notifications"
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    error = models.CharField(_("error"), max_length=300, blank=True)
    dedupe_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    # When a delivery job last took the message: the sweeper finds those whose job was lost.
    claimed_at = models.DateTimeField(_("last attempt"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            models.Index(fields=["account", "-created_at"], name="notification_account_time"),
            # The sweeper's scan: messages not sent yet, oldest first.
            models.Index(
                fields=["created_at"], name="notification_unsent", condition=Q(status__in=["queued", "sending"])
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_medium_display()} {self.template} → {self.account}"
