from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop
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


# What each kind of staff notification says; %(…)s are filled from the notice's ``params``.
NOTICE_TEXTS: dict[str, str] = {
    "case_assigned": gettext_noop("Case #%(case)s is assigned to you."),
    "case_handed": gettext_noop("Case #%(case)s came to %(department)s and waits for someone to take it."),
    "approval_waiting": gettext_noop(
        "%(who)s asks a second credit officer to approve: %(what)s on account %(account)s."
    ),
    "sla_warning": gettext_noop("Case #%(case)s: the %(sla)s is due at %(due)s."),
    "sla_breach": gettext_noop("Case #%(case)s is overdue: the %(sla)s was due at %(due)s."),
    "incident_opened": gettext_noop("Incident #%(incident)s opened in %(department)s: %(title)s"),
    "batch_finished": gettext_noop("Your batch “%(title)s” finished: %(succeeded)s of %(total)s re-driven."),
    "playbook_proposed": gettext_noop("%(who)s proposes a change to the playbook “%(playbook)s”: accept or reject it."),
    "playbook_decided": gettext_noop("%(who)s %(decision)s your change to the playbook “%(playbook)s”."),
}
# The notice parameters kept in English and read in the reader's language (a playbook's title is
# reference data in English until a lead rewrites it).
TRANSLATED_PARAMS = frozenset({"department", "sla", "what", "decision", "playbook"})
# How a decision on a proposed playbook change reads in a notice (stored in English, read in the reader's language).
PLAYBOOK_DECISIONS = {"accepted": gettext_noop("accepted"), "rejected": gettext_noop("rejected")}
# The two SLAs a warning or breach names (stored in English, read in the reader's language).
SLA_NAMES = {"assign": gettext_noop("assignment SLA"), "resolve": gettext_noop("resolution SLA")}


class Notice(models.Model):
    """A staff notification (通知): one event told to one person, in the inbox and maybe by email.

    Not ``accounts.Notification``, which holds the messages to customers. ``dedupe_key`` names the
    event (``case_assigned:12:3``); with the recipient it is unique, so an event is told to a
    person once however often the code that notices it runs. The text is written when it is read,
    from ``kind`` and ``params``, so each person reads it in their own language.
    """

    class Kind(models.TextChoices):
        CASE_ASSIGNED = "case_assigned", _("A case is assigned to you")
        CASE_HANDED = "case_handed", _("A case comes to your department")
        APPROVAL_WAITING = "approval_waiting", _("A four-eyes request waits for you")
        SLA_WARNING = "sla_warning", _("An SLA is about to breach")
        SLA_BREACH = "sla_breach", _("An SLA is breached")
        INCIDENT_OPENED = "incident_opened", _("An incident opens in your department")
        BATCH_FINISHED = "batch_finished", _("A batch you started finished")
        PLAYBOOK_PROPOSED = "playbook_proposed", _("A playbook change waits for a lead's decision")
        PLAYBOOK_DECIDED = "playbook_decided", _("A playbook change you proposed is decided")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices", verbose_name=_("recipient")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    params = models.JSONField(_("parameters"), default=dict, blank=True)
    url = models.CharField(_("link"), max_length=300, blank=True)
    dedupe_key = models.CharField(_("event"), max_length=200)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    email_wanted = models.BooleanField(_("by email too"), default=False)
    emailed_at = models.DateTimeField(_("emailed"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("staff notification")
        verbose_name_plural = _("staff notifications")
        constraints = [
            models.UniqueConstraint(fields=["recipient", "dedupe_key"], name="notice_once_per_event_and_person")
        ]
        indexes = [
            models.Index(fields=["recipient", "-created_at"], name="notice_inbox"),
            models.Index(fields=["recipient"], condition=models.Q(read_at__isnull=True), name="notice_unread"),
        ]

    def __str__(self) -> str:
        return self.text

    @property
    def text(self) -> str:
        """What happened, in the reader's language (``params`` keep names in English, the source text
        of the catalogue: a department's, an SLA's, a request's kind)."""
        values = {key: gettext(value) if key in TRANSLATED_PARAMS else value for key, value in self.params.items()}
        try:
            return gettext(NOTICE_TEXTS[self.kind]) % values
        except (KeyError, TypeError, ValueError):
            return str(self.get_kind_display())


class NoticePreference(models.Model):
    """How one person wants one kind of staff notification: off, in the inbox, or also by email."""

    class Delivery(models.TextChoices):
        OFF = "off", _("Off")
        INBOX = "inbox", _("In the portal")
        EMAIL = "email", _("In the portal and by email")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notice_preferences", verbose_name=_("user")
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Notice.Kind.choices)
    delivery = models.CharField(_("delivery"), max_length=10, choices=Delivery.choices)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="notice_preference_unique"),
            # A breached SLA always reaches its people: it cannot be switched off.
            models.CheckConstraint(
                condition=~models.Q(kind="sla_breach", delivery="off"), name="notice_breach_not_off"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.kind}: {self.delivery}"
