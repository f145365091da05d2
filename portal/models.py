from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.utils import timezone
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
        permissions = [
            ("view_jobs", _("Can see the background jobs page")),
            ("reveal_personal_data", _("Can reveal the personal data of the customers of their cases")),
            ("reveal_any_personal_data", _("Can reveal any customer's personal data and export it")),
        ]

    def __str__(self) -> str:
        return str(self.user)


class StaffSession(AbstractBaseSession):
    """A browser's session: Django's database session, plus whose it is (``portal.sessions``).

    Knowing the person behind each session lets them end their other sign-ins ("sign out
    everywhere"), and ends someone's sessions when an admin resets their second factor, with one
    indexed delete instead of decoding every session. A plain id, not a foreign key: a session
    outlives nothing, and saving one must never fail on a user deleted meanwhile.
    """

    user_id = models.BigIntegerField(_("user id"), null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("signed-in session")
        verbose_name_plural = _("signed-in sessions")

    @classmethod
    def get_session_store_class(cls) -> Any:
        from portal.sessions import SessionStore

        return SessionStore


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


class SecurityEvent(models.Model):
    """Who signed in, who looked at whose personal data and why, what was exported: the access log.

    Append-only: sealed into the audit chain (``portal.audit``) and, on PostgreSQL, refused any
    UPDATE or DELETE by a trigger.
    """

    class Kind(models.TextChoices):
        SIGN_IN = "sign_in", _("Signed in")
        SIGN_IN_FAILED = "sign_in_failed", _("Sign-in refused")
        SIGN_OUT = "sign_out", _("Signed out")
        SIGN_OUT_EVERYWHERE = "sign_out_all", _("Signed out everywhere")
        SESSION_EXPIRED = "session_expired", _("Session ended (idle)")
        SECOND_FACTOR_FAILED = "otp_failed", _("Wrong second-factor code")
        DEVICE_ENROLLED = "device_enrolled", _("Second factor set up")
        DEVICES_RESET = "devices_reset", _("Second factor reset")
        REAUTH = "reauth", _("Identity confirmed")
        REVEAL = "reveal", _("Personal data revealed")
        EXPORT = "export", _("Export")
        ANONYMISED = "anonymised", _("Personal data anonymised")

    kind = models.CharField(_("event"), max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("by"),
    )
    actor_name = models.CharField(_("by (name)"), max_length=150)
    target_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("staff member concerned"),
    )
    # Whose data: a customer (by id and a label that is not itself personal, e.g. the account number).
    subject_id = models.PositiveBigIntegerField(_("customer id"), null=True, blank=True, db_index=True)
    subject_label = models.CharField(_("whose data"), max_length=200, blank=True)
    field = models.CharField(_("field"), max_length=60, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("access record")
        verbose_name_plural = _("access records")
        indexes = [models.Index(fields=["kind", "-created_at"], name="security_event_kind_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.actor_name} {self.subject_label}".strip()


class AuditSeal(models.Model):
    """One link of the audit chain: the hash of one audit row, chained to the link before it.

    ``seq`` orders the chain; ``row_hash`` is SHA-256 over the previous link's hash, the table and
    the row's content, so changing or removing any sealed row (or any link) breaks the chain from
    there on: ``manage.py verify_audit`` names it.
    """

    seq = models.PositiveBigIntegerField(_("link"), primary_key=True)
    table = models.CharField(_("table"), max_length=60)
    row_id = models.PositiveBigIntegerField(_("row"))
    prev_hash = models.CharField(_("previous hash"), max_length=64)
    row_hash = models.CharField(_("hash"), max_length=64, unique=True)
    sealed_at = models.DateTimeField(_("sealed"), default=timezone.now)

    class Meta:
        ordering = ["seq"]
        verbose_name = _("audit seal")
        verbose_name_plural = _("audit seals")
        constraints = [models.UniqueConstraint(fields=["table", "row_id"], name="audit_seal_one_per_row")]

    def __str__(self) -> str:
        return f"{self.seq} {self.table}#{self.row_id}"
