"""RQ entry points for accounts. Each takes ids, re-reads the database and is safe to run twice."""

from __future__ import annotations

from rq import get_current_job

from accounts.activation import account_activation_attempt
from accounts.gateway import TransientGatewayError
from accounts.models import ActivationAttempt, Channel
from portal.actors import Actor

ACTIVATION_JOB = Actor.system("activation-job", Channel.JOB)


def activate_account(account_id: int) -> str:
    """Automated activation after the card is issued; transient errors retry with backoff."""
    job = get_current_job()
    final = job is None or not job.retries_left
    attempt = account_activation_attempt(account_id=account_id, actor=ACTIVATION_JOB, final=final)
    if attempt is None:
        return "nothing to do"
    if attempt.result == ActivationAttempt.Result.TRANSIENT_ERROR and not final:
        # Raising makes RQ schedule the next try; the attempt itself is already recorded.
        raise TransientGatewayError(attempt.error_code, attempt.error)
    return attempt.result


def scan_accounts() -> dict[str, int]:
    """Every 5 minutes: the activation monitor."""
    from accounts.monitor import monitor_scan
    from portal.heartbeat import heartbeat

    with heartbeat("scan_accounts") as counts:
        counts.update(monitor_scan().as_dict())
    return counts


def run_batch_chunk(batch_id: int) -> int:
    """One chunk of a reactivation batch."""
    from accounts.batches import batch_run_chunk

    return batch_run_chunk(batch_id)


def resume_batches() -> dict[str, int]:
    """Every 2 minutes: keep running batches going, whatever happened to their workers."""
    from accounts.batches import batches_resume
    from portal.heartbeat import heartbeat

    with heartbeat("resume_batches") as counts:
        counts["running"] = batches_resume()
    return counts


def credit_review() -> dict[str, int]:
    """Nightly: re-score active and held accounts and propose tranches or holds to credit."""
    from accounts.credit_review import credit_review_run
    from portal.heartbeat import heartbeat

    with heartbeat("credit_review") as counts:
        counts.update(credit_review_run())
    return counts


def pre_notify_account(account_id: int) -> int:
    """After issue: the activation SMS and email with the personal link (once per account)."""
    from accounts.notify import pre_notify

    return pre_notify(account_id)


def send_notification(notification_id: int) -> str:
    from accounts.notify import send_notification as send

    return send(notification_id)


def send_reminders() -> dict[str, int]:
    """Hourly: day 1, 3 and 7 reminders of the steps still to do."""
    from accounts.notify import reminders_send
    from portal.heartbeat import heartbeat

    with heartbeat("send_reminders") as counts:
        counts["queued"] = reminders_send()
    return counts
