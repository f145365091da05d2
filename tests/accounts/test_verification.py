"""The customer's activation page: link, SMS code, password, and the messages behind them."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import django_rq
import pytest
import time_machine
from django.core import mail, signing
from django.test import Client
from django.utils import timezone

from accounts import sms
from accounts.delivery import commands_deliver
from accounts.models import ActivationLink, CoreCommand, EmptyCause, LoanAccount, Notification, State
from accounts.notify import activation_resend, reminders_send
from accounts.services import AccountActionError, account_transition
from accounts.verification import (
    CODES_PER_DAY,
    LinkInvalid,
    code_hash,
    code_issue,
    code_verify,
    link_create,
    link_from_token,
    link_usable,
)
from casework.models import Case, Status
from casework.services import case_open_for_account
from portal.actors import Actor
from tests.factories import make_account
from tests.jobs import work

pytestmark = pytest.mark.django_db
JOB = Actor.system("test", "job")


def token_of(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[1]


def test_issuing_sends_the_activation_sms_and_email_once(django_capture_on_commit_callbacks) -> None:
    account = make_account(State.APPROVED, tier="medium", customer=None)
    with django_capture_on_commit_callbacks(execute=True):
        account_transition(account_id=account.pk, transition_name="issue", actor=JOB)
    work(django_capture_on_commit_callbacks)
    from accounts.notify import pre_notify

    assert pre_notify(account.pk) == 0  # a second run sends nothing
    (text,) = [m.text for m in sms.outbox if m.to == account.customer.contact_mobile]
    assert "SMS code verified, Password set" in text and "/activate/" in text
    assert account.number not in text.split("/activate/")[1]  # no account data in the link
    (email,) = mail.outbox
    assert email.to == [account.customer.email] and "5 days" in email.body
    assert set(Notification.objects.values_list("medium", "status")) == {("sms", "sent"), ("email", "sent")}


def test_a_tampered_expired_or_used_token_reveals_nothing(client: Client) -> None:
    account = make_account(State.ISSUED)
    _link, url = link_create(account)
    token = token_of(url)
    assert link_from_token(token).account == account
    for bad in (token[:-2] + "xx", "not-a-token", token + "a"):
        with pytest.raises(LinkInvalid):
            link_from_token(bad)
        page = client.get(f"/activate/{bad}/")
        assert page.status_code == 404
        assert account.number not in page.content.decode() and account.customer.name not in page.content.decode()
    with time_machine.travel(timezone.now() + timedelta(days=61)), pytest.raises(LinkInvalid):
        link_from_token(token)
    # A used link only shows where the activation stands; it takes no more steps.
    ActivationLink.objects.update(used_at=timezone.now())
    with pytest.raises(AccountActionError, match="Your part is done"):
        link_usable(link_from_token(token))
    LoanAccount.objects.filter(pk=account.pk).update(state=State.CLOSED)
    with pytest.raises(LinkInvalid):
        link_from_token(token)


def test_the_link_stores_only_a_hash_of_its_secret() -> None:
    account = make_account(State.ISSUED)
    link, url = link_create(account)
    secret = signing.TimestampSigner(salt="accounts.activation-link").unsign(token_of(url))
    assert secret not in link.secret_hash and len(link.secret_hash) == 64


def test_a_code_expires_after_ten_minutes() -> None:
    account = make_account(State.ISSUED)
    link, _url = link_create(account)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        sent = code_issue(link_id=link.pk)
        clock.shift(timedelta(minutes=11))
        with pytest.raises(AccountActionError, match="This code has expired"):
            code_verify(link_id=link.pk, code=sent.code)


def test_five_wrong_codes_lock_the_link(caplog) -> None:
    account = make_account(State.ISSUED)
    link, _url = link_create(account)
    sent = code_issue(link_id=link.pk)
    wrong = f"{(int(sent.code) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1):
        with pytest.raises(AccountActionError, match=f"You have {left} more tries"):
            code_verify(link_id=link.pk, code=wrong)
    with pytest.raises(AccountActionError, match="Too many wrong codes"):
        code_verify(link_id=link.pk, code=wrong)
    with pytest.raises(AccountActionError, match="Too many wrong codes"):
        code_verify(link_id=link.pk, code=sent.code)  # even the right one, while locked
    with pytest.raises(AccountActionError, match="Too many wrong codes"):
        code_issue(link_id=link.pk)
    assert LoanAccount.objects.get(pk=account.pk).sms_verified_at is None


def test_resending_a_code_is_limited() -> None:
    account = make_account(State.ISSUED)
    link, _url = link_create(account)
    with time_machine.travel("2026-11-10 09:00 +08:00", tick=False) as clock:
        code_issue(link_id=link.pk)
        with pytest.raises(AccountActionError, match="less than a minute ago"):
            code_issue(link_id=link.pk)
        for _ in range(CODES_PER_DAY - 1):
            clock.shift(timedelta(minutes=2))
            code_issue(link_id=link.pk)
        clock.shift(timedelta(minutes=2))
        with pytest.raises(AccountActionError, match="codes today"):
            code_issue(link_id=link.pk)
        clock.shift(timedelta(days=1))
        code_issue(link_id=link.pk)


def test_codes_are_stored_keyed_and_compared_in_constant_time(monkeypatch, caplog) -> None:
    account = make_account(State.ISSUED)
    link, _url = link_create(account)
    caplog.set_level(logging.DEBUG)
    sent = code_issue(link_id=link.pk)
    link.refresh_from_db()
    assert sent.code not in link.code_hash and link.code_hash == code_hash(link.pk, sent.code)
    compared: list[tuple[str, str]] = []
    import hmac as hmac_module

    real = hmac_module.compare_digest

    def spy(a: str, b: str) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("accounts.verification.hmac.compare_digest", spy)
    code_verify(link_id=link.pk, code=sent.code)
    assert compared == [(code_hash(link.pk, sent.code), code_hash(link.pk, sent.code))]
    from accounts.notify import code_message

    notification = code_message(account, sent.code)
    assert sent.code not in notification.body and sent.code in sms.outbox[-1].text
    assert sent.code not in caplog.text
    assert not django_rq.get_queue("default").count  # never parked in Redis


def test_a_failing_sms_backend_is_retried_then_logged_failed(settings, django_capture_on_commit_callbacks) -> None:
    settings.SMS_BACKEND = "accounts.sms.HttpSmsBackend"
    settings.SMS_GATEWAY_URL = "http://127.0.0.1:9/sms"
    settings.NOTIFICATION_RETRY_INTERVALS = [0, 0]
    account = make_account(State.APPROVED)
    with django_capture_on_commit_callbacks(execute=True):
        account_transition(account_id=account.pk, transition_name="issue", actor=JOB)
    work(django_capture_on_commit_callbacks)
    failed = Notification.objects.get(medium="sms")
    assert (failed.status, failed.attempts) == ("failed", 3)
    assert "SMS gateway" in failed.error
    assert Notification.objects.get(medium="email").status == "sent"  # nothing else broke
    assert LoanAccount.objects.get(pk=account.pk).state in (State.ACTIVE, State.VERIFYING, State.ISSUED)


def test_reminders_go_once_and_stop_after_activation(django_capture_on_commit_callbacks) -> None:
    """Medium tier, a 5-day window: reminders at 1 d 16 h, 3 d 8 h and day 4 (a day before the end)."""
    with time_machine.travel("2026-11-10 09:00 +08:00", tick=False) as clock:
        waiting = make_account(State.VERIFYING, tier="medium", steps=["sms_code"])
        done = make_account(State.VERIFYING, tier="medium", steps=["sms_code"])
        clock.shift(timedelta(days=1, hours=15))
        assert reminders_send() == 0  # not yet: a third of the window is 1 d 16 h
        clock.shift(timedelta(hours=1))
        with django_capture_on_commit_callbacks(execute=True):
            assert reminders_send() == 2
            assert reminders_send() == 0  # the same reminder never twice
        LoanAccount.objects.filter(pk=done.pk).update(password_set_at=timezone.now())  # the password came in
        account_transition(account_id=done.pk, transition_name="activate", actor=JOB, core_confirmation="event 1")
        clock.shift(timedelta(days=1, hours=16))  # 3 d 8 h: two thirds
        with django_capture_on_commit_callbacks(execute=True):
            assert reminders_send() == 1
        clock.shift(timedelta(hours=16))  # day 4: a day before the deadline
        with django_capture_on_commit_callbacks(execute=True):
            assert reminders_send() == 1
            assert reminders_send() == 0
        clock.shift(timedelta(hours=23))
        assert reminders_send() == 0  # the last day: nothing more is planned
    keys = set(Notification.objects.values_list("dedupe_key", flat=True))
    assert keys == {
        f"reminder:{waiting.pk}:slot1:sms",
        f"reminder:{done.pk}:slot1:sms",
        f"reminder:{waiting.pk}:slot2:sms",
        f"reminder:{waiting.pk}:slot3:sms",
    }


def test_the_customer_finishes_and_the_case_resolves(client: Client, django_capture_on_commit_callbacks) -> None:
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE, tier="medium")
    case_open_for_account(account=account, cause="customer_incomplete", actor=JOB)
    _link, url = link_create(account)
    path = url.split("8000", 1)[1]
    page = client.get(path)
    assert page.status_code == 200 and "138****" in page.content.decode()
    assert "Still to do: SMS code verified, Password set." in page.content.decode()
    client.post(path + "code/")
    code = re.search(r"code is (\d{6})", sms.outbox[-1].text).group(1)  # type: ignore[union-attr]
    response = client.post(path + "verify/", {"code": "000000" if code != "000000" else "111111"})
    assert "That code is not right. You have 4 more tries." in response.content.decode()
    client.post(path + "verify/", {"code": code})
    assert LoanAccount.objects.get(pk=account.pk).state == State.VERIFYING
    weak = client.post(path + "password/", {"password": "123", "password2": "123"})
    assert "too short" in weak.content.decode()
    done = client.post(
        path + "password/",
        {"password": "Harbour-Crane-2026", "password2": "Harbour-Crane-2026"},
        follow=True,
    )
    # The steps are done: core banking is asked to activate the card, and the page says so until it has.
    activating = done.content.decode()
    assert "Your card is being activated" in activating and 'hx-trigger="every 2s"' in activating
    assert LoanAccount.objects.get(pk=account.pk).state == State.VERIFYING
    assert CoreCommand.objects.get(account=account).kind == "activate"
    fragment = client.get(path, headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<section id="activation-progress"') and "<html" not in fragment

    commands_deliver()
    assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE
    assert Case.objects.get(account=account).status == Status.RESOLVED
    active = client.get(path, headers={"HX-Request": "true"}).content.decode()
    assert "Done: your credit line is active" in active and "hx-trigger" not in active  # it stops asking
    again = client.post(path + "code/")  # the link shows the outcome, and does nothing more
    assert "Your part is done; there is nothing more to enter here." in again.content.decode()


def test_service_resends_the_activation_message_with_a_limit(client: Client, service, credit) -> None:
    account = make_account(State.VERIFYING, tier="medium", steps=["sms_code"])
    url = f"/accounts/{account.number}/actions/resend_activation/"
    client.force_login(credit)
    assert client.post(url, {"reason": "customer lost it", "version": account.version}).status_code == 403
    client.force_login(service)
    first = client.post(url, {"reason": "customer lost it", "version": account.version}, follow=True)
    assert "The activation message is on its way" in first.content.decode()
    again = client.post(url, {"reason": "again", "version": account.version}, follow=True)
    assert "less than 10 minutes ago" in again.content.decode()
    assert Notification.objects.filter(account=account, template="activation").count() == 2  # one SMS, one email
    page = client.get(account.get_absolute_url()).content.decode()
    assert "Messages to the customer" in page and account.customer.contact_mobile not in page


def test_service_records_a_contact_on_the_case(client: Client, service) -> None:
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE)
    case = case_open_for_account(account=account, cause="customer_incomplete", actor=JOB)
    client.force_login(service)
    response = client.post(
        f"/cases/{case.pk}/contact/", {"channel": "phone", "outcome": "will finish tonight"}, follow=True
    )
    assert "Contact recorded." in response.content.decode()
    assert case.events.get(kind="contact").text == "Phone call: will finish tonight"
    missing = client.post(f"/cases/{case.pk}/contact/", {"channel": "phone", "outcome": ""}, follow=True)
    assert "Write what came of the contact" in missing.content.decode()


def test_a_code_that_cannot_be_sent_is_logged_failed_and_said(client: Client, settings) -> None:
    settings.SMS_BACKEND = "accounts.sms.HttpSmsBackend"
    settings.SMS_GATEWAY_URL = "http://127.0.0.1:9/sms"
    account = make_account(State.ISSUED)
    _link, url = link_create(account)
    response = client.post(url.split("8000", 1)[1] + "code/")
    assert "We could not send the SMS just now" in response.content.decode()
    failed = Notification.objects.get(template="code")
    assert (failed.status, failed.attempts) == ("failed", 3)


def test_a_message_written_while_redis_was_down_goes_out_once_it_is_back(
    settings, django_capture_on_commit_callbacks
) -> None:
    """The message is written with the decision; its job is lost with Redis; the sweeper sends it."""
    working = (settings.REDIS_URL, settings.RQ_QUEUES)
    gone = "unix:///nonexistent/redis.sock"
    settings.REDIS_URL, settings.RQ_QUEUES = gone, {"default": {**settings.RQ_QUEUES["default"], "URL": gone}}
    account = make_account(State.ISSUED, tier="medium")
    with django_capture_on_commit_callbacks(execute=True):
        activation_resend(account_id=account.pk)  # a service agent sends the activation message again
    run_worker_offline = Notification.objects.filter(account=account)
    assert set(run_worker_offline.values_list("medium", "status", "attempts")) == {
        ("sms", "queued", 0),
        ("email", "queued", 0),
    }

    settings.REDIS_URL, settings.RQ_QUEUES = working
    work(django_capture_on_commit_callbacks)  # Redis is back: nothing in the queue knows of the messages
    assert not sms.outbox
    queue = django_rq.get_queue("default")
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        with django_capture_on_commit_callbacks(execute=True):
            queue.enqueue("accounts.jobs.requeue_notifications")
        work(django_capture_on_commit_callbacks)
        with django_capture_on_commit_callbacks(execute=True):
            queue.enqueue("accounts.jobs.requeue_notifications")  # again: nothing twice
            queue.enqueue("accounts.jobs.send_notification", run_worker_offline[0].pk)
        work(django_capture_on_commit_callbacks)
    assert [m.to for m in sms.outbox] == [account.customer.contact_mobile]
    assert len(mail.outbox) == 1
    assert set(run_worker_offline.values_list("status", "attempts")) == {("sent", 1)}


def test_a_message_whose_sender_died_is_sent_again_by_the_sweeper(django_capture_on_commit_callbacks) -> None:
    account = make_account(State.ISSUED)
    stuck = Notification.objects.create(
        account=account, medium="sms", template="activation", recipient="13800138000", body="hello",
        status=Notification.Status.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(minutes=5),
    )  # fmt: skip
    fresh = Notification.objects.create(
        account=account, medium="sms", template="reminder", recipient="13800138000", body="soon",
        status=Notification.Status.QUEUED,
    )  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        django_rq.get_queue("default").enqueue("accounts.jobs.requeue_notifications")
    work(django_capture_on_commit_callbacks)
    stuck.refresh_from_db()
    fresh.refresh_from_db()
    assert (stuck.status, stuck.attempts) == ("sent", 2) and [m.text for m in sms.outbox] == ["hello"]
    assert fresh.status == "queued"  # just written: its own job is on its way


def test_the_daily_cap_on_activation_messages_resets_at_local_midnight() -> None:
    """Five a day, "day" as Beijing time counts it: not 24 hours back from now."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    import time_machine

    account = make_account(State.VERIFYING, tier="medium", steps=["sms_code"])
    evening = datetime(2026, 12, 2, 21, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    for n in range(5):  # 21:00 to 21:44, each more than 10 minutes after the last
        with time_machine.travel(evening + timedelta(minutes=11 * n), tick=False):
            activation_resend(account_id=account.pk)
    late_evening = evening + timedelta(hours=2, minutes=50)  # 23:50 the same day
    with time_machine.travel(late_evening, tick=False), pytest.raises(AccountActionError, match="5 times today"):
        activation_resend(account_id=account.pk)
    with time_machine.travel(evening + timedelta(hours=3, minutes=10), tick=False):  # 00:10 the next day
        assert activation_resend(account_id=account.pk) == 2  # an SMS and an email
