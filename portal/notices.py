"""Staff notifications (通知): the inbox, the bell, each person's preferences, and the emails.

The apps decide who hears of what (``casework.notices``, ``accounts.services``) and call
``notices_send`` inside the transaction of the change: the notice rows are written with it, and
an RQ job emails those who asked for email once the transaction commits. A notice is unique per
event and person (``Notice.dedupe_key``), so an event noticed twice (a job run twice, an
escalation run twice) writes nothing new and emails no one again. A notice whose email job was
lost (Redis down at the commit) is emailed by the sweeper (``email_lost_notices``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from rq import Retry

from portal.heartbeat import heartbeat
from portal.models import Notice, NoticePreference
from portal.queueing import enqueue_now, enqueue_on_commit

EMAIL_JOB = "portal.notices.send_notice_emails"
Delivery = NoticePreference.Delivery
# What a person gets before they choose: breaches by email too, everything else in the portal.
DEFAULT_DELIVERY: dict[str, str] = {kind: Delivery.INBOX for kind in Notice.Kind.values}
DEFAULT_DELIVERY[Notice.Kind.SLA_BREACH] = Delivery.EMAIL
CANNOT_BE_OFF = frozenset({Notice.Kind.SLA_BREACH})
EMAIL_LOST_AFTER = timedelta(minutes=2)


class NoticeError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def deliveries_for(user_ids: Collection[int], kind: str) -> dict[int, str]:
    """How each of these people wants notices of ``kind`` (their choice, else the default)."""
    chosen = dict(NoticePreference.objects.filter(user_id__in=user_ids, kind=kind).values_list("user_id", "delivery"))
    return {user_id: chosen.get(user_id, DEFAULT_DELIVERY[kind]) for user_id in user_ids}


def notices_send(
    *, kind: str, recipient_ids: Iterable[int], dedupe_key: str, params: dict[str, Any], url: str = ""
) -> int:
    """Tell each recipient of one event, as each of them chose; once per event and person.

    Call it inside the transaction of the change: the rows commit with it, the emails are
    queued after the commit. Returns how many recipients the event reaches (new or not).
    """
    return notices_send_many(kind=kind, events=[(set(recipient_ids), dedupe_key, params, url)])


def notices_send_many(*, kind: str, events: Iterable[tuple[Collection[int], str, dict[str, Any], str]]) -> int:
    """``notices_send`` for many events of one kind at once (the escalation job): three queries."""
    events = [event for event in events if event[0]]
    if not events:
        return 0
    deliveries = deliveries_for({user_id for recipients, *_rest in events for user_id in recipients}, kind)
    rows = [
        Notice(
            recipient_id=user_id,
            kind=kind,
            params=params,
            url=url,
            dedupe_key=dedupe_key,
            email_wanted=deliveries[user_id] == Delivery.EMAIL,
        )
        for recipients, dedupe_key, params, url in events
        for user_id in sorted(recipients)
        if deliveries[user_id] != Delivery.OFF or kind in CANNOT_BE_OFF
    ]
    if not rows:
        return 0
    Notice.objects.bulk_create(rows, ignore_conflicts=True)  # told once: a second run writes nothing
    keys = {row.dedupe_key for row in rows if row.email_wanted}
    if keys:
        to_email = list(
            Notice.objects.filter(
                dedupe_key__in=keys, email_wanted=True, emailed_at__isnull=True, kind=kind
            ).values_list("pk", flat=True)
        )
        if to_email:
            enqueue_on_commit(EMAIL_JOB, to_email, retry=_retry())
    return len(rows)


def _retry() -> Retry:
    return Retry(max=len(settings.NOTIFICATION_RETRY_INTERVALS), interval=settings.NOTIFICATION_RETRY_INTERVALS)


def send_notice_emails(notice_ids: list[int]) -> int:
    """RQ job: email these notices to their recipients, each once (a notice already emailed, or
    being emailed by another worker, is skipped). A failure raises, and RQ tries again."""
    sent = 0
    for notice_id in notice_ids:
        with transaction.atomic():
            notice = (
                Notice.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("recipient__staff_profile")
                .filter(pk=notice_id, email_wanted=True, emailed_at__isnull=True)
                .first()
            )
            if notice is None:
                continue
            if notice.recipient.email and notice.recipient.is_active:
                _email(notice)
                sent += 1
            notice.emailed_at = timezone.now()
            notice.save(update_fields=["emailed_at"])
    return sent


def _email(notice: Notice) -> None:
    profile = getattr(notice.recipient, "staff_profile", None)
    with translation.override((profile and profile.language) or settings.LANGUAGE_CODE):
        text = notice.text
        link = f"{settings.PORTAL_BASE_URL}{notice.url}" if notice.url else ""
        body = "\n\n".join(part for part in (text, link, _("Your notifications: %(url)s") % {
            "url": f"{settings.PORTAL_BASE_URL}{reverse('notices')}"}) if part)  # fmt: skip
        subject = (_("Activation Desk: %(text)s") % {"text": text})[:150]
        send_mail(subject, body, None, [notice.recipient.email])


def email_lost_notices() -> dict[str, int]:
    """Every few minutes: queue again the emails whose job was lost (Redis down at the commit)."""
    with heartbeat("email_lost_notices") as counts:
        lost = list(
            Notice.objects.filter(
                email_wanted=True, emailed_at__isnull=True, created_at__lt=timezone.now() - EMAIL_LOST_AFTER
            ).values_list("pk", flat=True)[:500]
        )
        if lost:
            enqueue_now(EMAIL_JOB, lost, retry=_retry())
        counts["requeued"] = len(lost)
    return counts


# --- the inbox ---------------------------------------------------------------------------


def notices_for(user: User) -> QuerySet[Notice]:
    """A person's notices, newest first."""
    return Notice.objects.filter(recipient=user).order_by("-created_at", "-id")


def unread_count(user: User) -> int:
    """The bell's number: one query."""
    return Notice.objects.filter(recipient=user, read_at__isnull=True).count()


def notice_mark_read(*, user: User, notice_id: int) -> Notice:
    """Mark one of the person's notices read; another's is "not found", like a missing one."""
    notice = Notice.objects.filter(recipient=user, pk=notice_id).first()
    if notice is None:
        raise Notice.DoesNotExist
    if notice.read_at is None:
        notice.read_at = timezone.now()
        notice.save(update_fields=["read_at"])
    return notice


def notices_mark_all_read(*, user: User) -> int:
    return Notice.objects.filter(recipient=user, read_at__isnull=True).update(read_at=timezone.now())


# --- preferences -------------------------------------------------------------------------


def preferences_of(user: User) -> list[tuple[str, str, str, bool]]:
    """Each kind, its label, the person's delivery, and whether "off" may be chosen."""
    chosen = dict(NoticePreference.objects.filter(user=user).values_list("kind", "delivery"))
    return [
        (kind, str(label), chosen.get(kind, DEFAULT_DELIVERY[kind]), kind not in CANNOT_BE_OFF)
        for kind, label in Notice.Kind.choices
    ]


@transaction.atomic
def preferences_set(*, user: User, choices: dict[str, str]) -> None:
    """Save a person's choices, kind by kind; refused whole if one is not allowed."""
    for kind, delivery in choices.items():
        if kind not in Notice.Kind.values or delivery not in Delivery.values:
            raise NoticeError(_("Choose one of the offered options for each kind of notification."))
        if kind in CANNOT_BE_OFF and delivery == Delivery.OFF:
            raise NoticeError(_("Breached SLAs cannot be switched off: they always reach you in the portal."))
    for kind, delivery in choices.items():
        NoticePreference.objects.update_or_create(user=user, kind=kind, defaults={"delivery": delivery})
