"""RQ entry points for accounts. Each takes ids (or nothing), re-reads the database and is safe to run twice."""

from __future__ import annotations

from accounts.credit_review import credit_review_run
from accounts.delivery import commands_deliver, commands_sweep
from accounts.imports import import_run, imports_requeue
from accounts.models import ReconciliationRun
from accounts.monitor import monitor_scan
from accounts.notify import notifications_requeue, pre_notify, reminders_send
from accounts.notify import send_notification as notification_send
from accounts.reconcile import reconcile
from accounts.retention import anonymise_closed
from portal.heartbeat import heartbeat


def deliver_core_commands() -> dict[str, int]:
    """Send the due commands of the outbox to core banking and apply its answers."""
    return commands_deliver().as_dict()


def sweep_core_commands() -> dict[str, int]:
    """Every minute: re-queue commands whose delivery job was lost; flag those core has not confirmed."""
    with heartbeat("sweep_core_commands") as counts:
        counts.update(commands_sweep())
    return counts


def reconcile_core() -> dict[str, int]:
    """Every 5 minutes: read the cards core banking changed since the last run and compare them with ours."""
    with heartbeat("reconcile_core") as counts:
        counts.update(reconcile(mode=ReconciliationRun.Mode.CHANGES).counts())
    return counts


def reconcile_core_full() -> dict[str, int]:
    """Nightly: every card of core banking, compared with ours."""
    with heartbeat("reconcile_core_full") as counts:
        counts.update(reconcile(mode=ReconciliationRun.Mode.FULL).counts())
    return counts


def scan_accounts() -> dict[str, int]:
    """Every 5 minutes: the activation monitor."""
    with heartbeat("scan_accounts") as counts:
        counts.update(monitor_scan().as_dict())
    return counts


def credit_review() -> dict[str, int]:
    """Nightly: re-score active and held accounts and propose tranches or holds to credit."""
    with heartbeat("credit_review") as counts:
        counts.update(credit_review_run())
    return counts


def pre_notify_account(account_id: int) -> int:
    """The activation SMS and email with the personal link (once per account)."""
    return pre_notify(account_id)


def send_notification(notification_id: int) -> str:
    return notification_send(notification_id)


def requeue_notifications() -> dict[str, int]:
    """Every minute: queue again the customer messages and the import runs whose job was lost."""
    with heartbeat("requeue_notifications") as counts:
        counts.update(notifications_requeue())
        counts.update({f"imports_{name}": count for name, count in imports_requeue().items()})
    return counts


def run_import(import_id: int) -> str:
    """An uploaded CSV file: checked, then imported (all rows or none)."""
    return import_run(import_id)


def send_reminders() -> dict[str, int]:
    """Hourly: the reminders of the steps still to do, inside each account's activation window."""
    with heartbeat("send_reminders") as counts:
        counts["queued"] = reminders_send()
    return counts


def anonymise_closed_customers() -> dict[str, int]:
    """Nightly: the personal data of customers whose accounts have all been closed for the retention period."""
    with heartbeat("anonymise_closed_customers") as counts:
        counts.update(anonymise_closed())
    return counts
