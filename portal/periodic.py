"""The catalogue of periodic jobs: what runs, how often, and what it is for.

``portal/schedules.py`` registers them with RQ's cron; the jobs page shows their heartbeats.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    title: Promise  # what the dashboard and the jobs page call it
    path: str
    interval_seconds: int  # how often it runs (for a job at a set time, the period: what "late" means)
    description: Promise
    at: str = ""  # "HH:MM" local time (TIME_ZONE) for a job that runs once a day at a set time

    @property
    def cron(self) -> str | None:
        """The cron line of a job at a set time ("0 2 * * *"), in the scheduler's local time (TIME_ZONE)."""
        if not self.at:
            return None
        hours, minutes = (int(part) for part in self.at.split(":"))
        return f"{minutes} {hours} * * *"

    @property
    def every(self) -> str:
        if self.at:
            return gettext("daily at %(time)s") % {"time": self.at}
        minutes = self.interval_seconds // 60
        if minutes >= 24 * 60 and minutes % (24 * 60) == 0:
            return str(_("daily")) if minutes == 24 * 60 else gettext("%(days)d d") % {"days": minutes // (24 * 60)}
        if minutes < 120:
            return gettext("%(minutes)d min") % {"minutes": minutes}
        return gettext("%(hours)d h") % {"hours": minutes // 60}


PERIODIC_JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob(
        "refresh_dashboard",
        _("Dashboard figures"),
        "portal.pages.jobs.refresh_dashboard",
        60,
        _("Dashboard figures: computed once a minute for everyone, so that opening the dashboard costs nothing."),
    ),
    PeriodicJob(
        "sweep_core_commands",
        _("Core banking outbox"),
        "accounts.jobs.sweep_core_commands",
        60,
        _(
            "Core banking outbox: re-queues commands whose delivery was lost (Redis down, a worker killed) "
            "and opens a tech case for those core banking has not confirmed in time."
        ),
    ),
    PeriodicJob(
        "requeue_notifications",
        _("Lost messages and imports"),
        "accounts.jobs.requeue_notifications",
        60,
        _(
            "Lost work: queues again the SMS and emails whose delivery job was lost (Redis down when they were "
            "written, a worker killed while sending), and the CSV imports whose run was lost."
        ),
    ),
    PeriodicJob(
        "email_lost_notices",
        _("Lost staff emails"),
        "portal.notices.email_lost_notices",
        5 * 60,
        _("Lost staff emails: emails again the staff notifications whose email job was lost (Redis down)."),
    ),
    PeriodicJob(
        "reconcile_core",
        _("Reconciliation"),
        "accounts.jobs.reconcile_core",
        5 * 60,
        _("Reconciliation: the cards core banking changed since the last run, compared with the accounts here."),
    ),
    PeriodicJob(
        "reconcile_core_full",
        _("Nightly full reconciliation"),
        "accounts.jobs.reconcile_core_full",
        24 * 60 * 60,
        _("Nightly full reconciliation: every card of core banking compared with the accounts here."),
    ),
    PeriodicJob(
        "scan_accounts",
        _("Empty-card monitor"),
        "accounts.jobs.scan_accounts",
        5 * 60,
        _(
            "Activation monitor: overdue accounts go empty with their cause; approved lines not issued in time "
            "are flagged to credit."
        ),
    ),
    PeriodicJob(
        "escalate_overdue_cases",
        _("Overdue cases"),
        "casework.jobs.escalate_overdue_cases",
        5 * 60,
        _(
            "SLA escalation: cases near or past their assignment or resolution time are flagged; their "
            "assignee and lead are notified."
        ),
    ),
    PeriodicJob(
        "detect_anomalies",
        _("Anomaly detection"),
        "casework.jobs.detect_anomalies",
        15 * 60,
        _("Anomaly detection: spikes of empty accounts per product and channel open an incident."),
    ),
    PeriodicJob(
        "send_reminders",
        _("Customer reminders"),
        "accounts.jobs.send_reminders",
        60 * 60,
        _(
            "Reminders to customers who have not finished their verification steps: at a third and two thirds "
            "of their activation window and a day before it ends, one message listing every step still to do."
        ),
    ),
    PeriodicJob(
        "credit_review",
        _("Nightly credit review"),
        "accounts.jobs.credit_review",
        24 * 60 * 60,
        _("Nightly credit review: re-scores active and held accounts and proposes tranches or holds to credit."),
        at=settings.CREDIT_REVIEW_AT,
    ),
    PeriodicJob(
        "resume_batches",
        _("Reactivation batches"),
        "casework.jobs.resume_batches",
        2 * 60,
        _("Keeps reactivation batches going after a worker dies."),
    ),
    PeriodicJob(
        "anonymise_closed_customers",
        _("Data retention"),
        "accounts.jobs.anonymise_closed_customers",
        24 * 60 * 60,
        _(
            "Data retention: anonymises the personal data of customers whose accounts have all been closed "
            "for the retention period; the financial and audit facts stay."
        ),
        at=settings.RETENTION_AT,
    ),
    PeriodicJob(
        "clear_sessions",
        _("Expired sessions"),
        "portal.sessions.clear_expired_sessions",
        24 * 60 * 60,
        _("Expired sessions: deletes the sign-in sessions past their expiry."),
    ),
    PeriodicJob(
        "seal_audit",
        _("Audit seals"),
        "portal.audit.seal_job",
        60,
        _("Audit seals: chains each new line of the audit trail to the one before, so no one can rewrite it."),
    ),
    PeriodicJob(
        "verify_audit",
        _("Audit chain check"),
        "portal.audit.verify_job",
        24 * 60 * 60,
        _("Audit chain check: walks the whole audit chain and fails, naming the line, if anything was changed."),
        at=settings.AUDIT_VERIFY_AT,
    ),
)
