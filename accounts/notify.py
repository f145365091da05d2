"""Messages to customers: the pre-notification with the activation link, reminders, codes.

Every message is a ``Notification`` row first, written in the transaction of the decision that
causes it (the log on the account page), then an RQ job sends it, with retries; after the last
failed try the row says ``failed`` and why. A message whose job was lost (Redis down at the
commit, a worker killed while sending) is queued again by the sweeper, every minute.
Verification codes are sent at once, never queued: their log row keeps a masked text.

No secret is kept in a message's row: the text and parameters of a message with the personal link
show ``[link]`` where its token goes, and the delivery job makes the token again from the link
(``accounts.verification.link_token``) and puts it in the message it hands to the SMS gateway or
the mail server, each time it tries.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from rq import Retry, get_current_job

from accounts.models import ActivationLink, EmptyCause, LoanAccount, Notification, State
from accounts.policy import TIERS, Step, reminder_slot
from accounts.services import AccountActionError
from accounts.sms import SmsError, SmsMessage, get_sms_backend
from accounts.verification import LINK_MARK, LinkInvalid, code_issue, link_create, link_token, link_url
from portal.queueing import enqueue_now, enqueue_on_commit

log = logging.getLogger(__name__)
REMINDER_CHUNK = 500  # due reminders checked against the sent ones per query
RESEND_AFTER = timedelta(minutes=10)
RESENDS_PER_DAY = 5
CODE_SEND_TRIES = 3
CODE_MARK = "••••••"  # what the log keeps of a verification code
SEND_JOB = "accounts.jobs.send_notification"


# The parameters of each SMS template, as the provider's registered template names them.
SMS_PARAMS = {"activation": ("name", "days", "steps", "url"), "reminder": ("name", "steps", "url"), "code": ("code",)}


def sms_message(template: str, context: dict[str, Any], to: str) -> SmsMessage:
    """An SMS as the customer reads it (the sign name in 【】 first, as Chinese SMS rules require),
    with its template's parameters for providers that send registered templates."""
    text = settings.SMS_SIGN_NAME + render_to_string(f"notifications/{template}.sms.txt", context).strip()
    values = {**context, "name": getattr(context.get("customer"), "name", "")}
    return SmsMessage(
        to=to, text=text, template=template, params={name: str(values[name]) for name in SMS_PARAMS[template]}
    )


def _steps(account: LoanAccount) -> list[str]:
    return [str(Step(step).label) for step in account.steps_missing() if step != Step.CREDIT_REVIEW]


def _queue(
    account: LoanAccount,
    medium: str,
    template: str,
    body: str,
    *,
    subject: str = "",
    dedupe_key: str | None = None,
    params: dict[str, str] | None = None,
    link: ActivationLink | None = None,
) -> Notification | None:
    recipient = account.customer.contact_mobile if medium == Notification.Medium.SMS else account.customer.email
    if not recipient:
        return None
    # A drill's customers are synthetic: the message is logged for the team, never sent.
    status = Notification.Status.SUPPRESSED if account.is_drill else Notification.Status.QUEUED
    try:
        with transaction.atomic():
            notification = Notification.objects.create(
                account=account, medium=medium, template=template, recipient=recipient,
                subject=subject, body=body, dedupe_key=dedupe_key, status=status, params=params or {}, link=link,
            )  # fmt: skip
    except IntegrityError:
        return None  # already sent (or being sent) once: never twice
    if account.is_drill:
        return notification
    # With Redis down, the message waits for the sweeper (``notifications_requeue``).
    enqueue_on_commit(SEND_JOB, notification.pk, retry=_retry())
    return notification


def _retry() -> Retry:
    return Retry(max=len(settings.NOTIFICATION_RETRY_INTERVALS), interval=settings.NOTIFICATION_RETRY_INTERVALS)


def _link_messages(account: LoanAccount, template: str, dedupe_key: str | None) -> list[Notification]:
    """The messages with the customer's personal link, in the customer's language."""
    with translation.override(account.customer.language):
        return _link_messages_in_language(account, template, dedupe_key)


def _link_messages_in_language(account: LoanAccount, template: str, dedupe_key: str | None) -> list[Notification]:
    link, _url = link_create(account)
    steps = _steps(account)
    context = {
        "customer": account.customer,
        "steps": ", ".join(steps) or _("nothing, we are checking your file"),
        "steps_list": steps,
        "url": link_url(LINK_MARK),  # the token goes in when the message is sent
        "days": TIERS[account.tier].activation_window.days,
    }
    sent = []
    sms = sms_message(template, context, to=account.customer.contact_mobile)
    sent.append(
        _queue(account, Notification.Medium.SMS, template, sms.text, dedupe_key=dedupe_key and f"{dedupe_key}:sms",
               params=sms.params, link=link)
    )  # fmt: skip
    if template == "activation":
        subject, _newline, body = (
            render_to_string("notifications/activation.email.txt", context).strip().partition("\n")
        )
        sent.append(
            _queue(account, Notification.Medium.EMAIL, template, body.strip(), subject=subject,
                   dedupe_key=dedupe_key and f"{dedupe_key}:email", link=link)
        )  # fmt: skip
    return [notification for notification in sent if notification]


def pre_notify_messages(account: LoanAccount) -> int:
    """Once core banking holds the card: tell the customer what to do, with their personal link. Once.

    Runs in the transaction that records core's answer, so the messages are written down with it.
    """
    if account.state not in (State.ISSUED, State.VERIFYING) or account.is_drill:
        return 0
    return len(_link_messages(account, "activation", f"activation:{account.pk}"))


@transaction.atomic
def pre_notify(account_id: int) -> int:
    """The pre-notification of one account (for an account whose card core already holds)."""
    return pre_notify_messages(LoanAccount.objects.select_related("customer").get(pk=account_id))


@transaction.atomic
def activation_resend(*, account_id: int) -> int:
    """A service agent sends the activation message again (at most every 10 minutes, 5 a day)."""
    account = LoanAccount.objects.select_for_update(of=("self",)).select_related("customer").get(pk=account_id)
    if not (account.state in (State.ISSUED, State.VERIFYING) or account.empty_cause == EmptyCause.CUSTOMER_INCOMPLETE):
        raise AccountActionError(_("The activation message is for accounts still waiting for the customer."))
    now = timezone.now()
    sent = account.notifications.filter(template="activation")
    if sent.filter(created_at__gte=now - RESEND_AFTER).exists():
        raise AccountActionError(
            _("The activation message went out less than 10 minutes ago; give the customer a moment.")
        )
    # "Today" as the customer and the staff count it: since local midnight (TIME_ZONE), not 24 hours.
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if sent.filter(medium=Notification.Medium.SMS, created_at__gte=midnight).count() >= RESENDS_PER_DAY:
        raise AccountActionError(_("The activation message was sent 5 times today already; call the customer instead."))
    return len(_link_messages(account, "activation", None))


def code_send(*, link_id: int) -> str:
    """A new verification code for the customer of this link, sent by SMS now; the number it went to."""
    sent = code_issue(link_id=link_id)
    code_message(LoanAccount.objects.select_related("customer").get(activation_links__pk=link_id), sent.code)
    return sent.to


def code_message(account: LoanAccount, code: str) -> Notification:
    """Send the SMS with a verification code now, in the request, and log it masked.

    Unlike other messages a code does not go through the queue: a queued job keeps its
    arguments in Redis and the worker logs them, and a code must never be stored or logged in
    clear. The customer is waiting for it anyway, so it is tried a few times right away.
    """
    with translation.override(account.customer.language):
        message = sms_message("code", {"code": code}, to=account.customer.contact_mobile)
        logged = sms_message("code", {"code": CODE_MARK}, to=account.customer.contact_mobile)
    notification = Notification.objects.create(
        account=account,
        medium=Notification.Medium.SMS,
        template="code",
        recipient=message.to,
        body=logged.text,
        params=logged.params,
    )
    error = ""
    for attempt in range(1, CODE_SEND_TRIES + 1):
        try:
            get_sms_backend().send(message)
        except (SmsError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
            continue
        Notification.objects.filter(pk=notification.pk).update(
            status=Notification.Status.SENT, sent_at=timezone.now(), attempts=attempt, error=""
        )
        return notification
    Notification.objects.filter(pk=notification.pk).update(
        status=Notification.Status.FAILED, attempts=CODE_SEND_TRIES, error=error
    )
    raise AccountActionError(_("We could not send the SMS just now. Please try again in a minute."))


def reminders_send(now: datetime | None = None) -> int:
    """The reminders due now, one SMS each listing every step still to do; each reminder once per account.

    When they go follows from the account's activation window (``policy.reminder_offsets``: at
    1/3 and 2/3 of it and a day before its end), so every reminder goes before the monitor
    empties the account. An account gets the latest reminder it has reached and not had yet:
    after a pause of this job the missed earlier ones are not sent in a burst. Only while it is
    ``issued``/``verifying`` and inside its window, checked again under the row lock in the
    transaction that writes the message; never for drill accounts.
    """
    now = now or timezone.now()
    waiting = (
        LoanAccount.objects.filter(
            state__in=(State.ISSUED, State.VERIFYING), is_drill=False, issued_at__lte=now, activation_due_at__gt=now
        )
        .order_by("activation_due_at", "pk")
        .values_list("pk", "issued_at", "activation_due_at")
    )
    due = []  # (dedupe key, account) of the latest reminder each account has reached
    for pk, issued_at, due_at in waiting:
        slot = reminder_slot(cast(datetime, issued_at), cast(datetime, due_at), now)
        if slot is not None:
            due.append((f"reminder:{pk}:slot{slot}", pk))
    return sum(
        _reminders_queue(dict(due[start : start + REMINDER_CHUNK]), now) for start in range(0, len(due), REMINDER_CHUNK)
    )


def _reminders_queue(due: dict[str, int], now: datetime) -> int:
    """Write the reminders of ``due`` (dedupe key → account) not written before, each in its own transaction."""
    had = set(
        Notification.objects.filter(dedupe_key__in=[f"{key}:sms" for key in due]).values_list("dedupe_key", flat=True)
    )
    waiting = LoanAccount.objects.filter(state__in=(State.ISSUED, State.VERIFYING), activation_due_at__gt=now)
    if connection.features.has_select_for_update_skip_locked:
        # An account a transition holds right now is left for the next run, which sees where it went.
        waiting = waiting.select_for_update(skip_locked=True, of=("self",))
    queued = 0
    for key, pk in due.items():
        if f"{key}:sms" in had:
            continue
        with transaction.atomic():
            account = waiting.select_related("customer").filter(pk=pk).first()
            if account is None or not account.customer.contact_mobile or not _steps(account):
                continue  # moved on meanwhile, nobody to text, or nothing left for the customer to do
            queued += len(_link_messages(account, "reminder", key))
    return queued


def send_notification(notification_id: int) -> str:
    """Hand one message to its backend, once; RQ retries on failure, the last failure is logged.

    The job first claims the message (queued → being sent, in one statement): a second job for
    the same message, queued again by the sweeper, finds it claimed or sent and does nothing.
    """
    claimed = Notification.objects.filter(pk=notification_id, status=Notification.Status.QUEUED).update(
        status=Notification.Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1
    )
    if not claimed:
        return "nothing to do"
    notification = Notification.objects.select_related("link").get(pk=notification_id)
    job = get_current_job()
    last_try = job is None or not job.retries_left
    try:
        text, params = _as_sent(notification)
    except LinkInvalid:
        # The secret key that made the link is gone (not in SECRET_KEY_FALLBACKS): nobody knows its token.
        error = "LinkInvalid: the link cannot be made again; send the activation message again"
        Notification.objects.filter(pk=notification_id).update(status=Notification.Status.FAILED, error=error)
        log.warning("notification %s to account %s failed: %s", notification_id, notification.account_id, error)
        return "failed"
    try:
        if notification.medium == Notification.Medium.SMS:
            get_sms_backend().send(
                SmsMessage(to=notification.recipient, text=text, template=notification.template, params=params)
            )
        else:
            send_mail(notification.subject, text, settings.DEFAULT_FROM_EMAIL, [notification.recipient])
    except (SmsError, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
        Notification.objects.filter(pk=notification_id).update(
            error=error, status=Notification.Status.FAILED if last_try else Notification.Status.QUEUED
        )
        log.warning("notification %s to account %s failed: %s", notification_id, notification.account_id, error)
        if last_try:
            return "failed"
        raise
    Notification.objects.filter(pk=notification_id).update(
        status=Notification.Status.SENT, sent_at=timezone.now(), error=""
    )
    return "sent"


def _as_sent(notification: Notification) -> tuple[str, dict[str, str]]:
    """The text and template parameters as the customer gets them: with the link's token, made now."""
    if notification.link is None:
        return notification.body, notification.params
    mark, token = f"/{LINK_MARK}/", f"/{link_token(notification.link)}/"
    return notification.body.replace(mark, token), {
        name: str(value).replace(mark, token) for name, value in notification.params.items()
    }


def notifications_requeue(*, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """Queue delivery again for messages whose job was lost; return how many, by reason.

    A message is written down with the decision that causes it and its job queued after the
    commit; when Redis was down then, or the worker died while sending, no job is left. Such a
    message is: queued and never tried for ``NOTIFICATION_LOST_AFTER`` seconds; queued after a
    failure for longer than the last retry interval (the retry was lost); or claimed by a job
    that has not finished for ``NOTIFICATION_LOST_AFTER`` seconds (sent again: at least once).
    """
    now = now or timezone.now()
    lost_after = timedelta(seconds=settings.NOTIFICATION_LOST_AFTER)
    retry_lost_after = timedelta(seconds=max(settings.NOTIFICATION_RETRY_INTERVALS, default=0)) + lost_after
    unsent = Notification.objects.filter(status__in=(Notification.Status.QUEUED, Notification.Status.SENDING))
    reasons = {
        "never_tried": Q(status=Notification.Status.QUEUED, attempts=0, created_at__lt=now - lost_after),
        "retry_lost": Q(status=Notification.Status.QUEUED, attempts__gt=0, claimed_at__lt=now - retry_lost_after),
        "sender_died": Q(status=Notification.Status.SENDING, claimed_at__lt=now - lost_after),
    }
    counts = {}
    for reason, condition in reasons.items():
        ids = list(unsent.filter(condition).order_by("created_at").values_list("pk", flat=True)[:limit])
        if reason == "sender_died":
            Notification.objects.filter(pk__in=ids, status=Notification.Status.SENDING).update(
                status=Notification.Status.QUEUED
            )
        for notification_id in ids:
            enqueue_now(SEND_JOB, notification_id, retry=_retry())
        counts[reason] = len(ids)
    return counts
