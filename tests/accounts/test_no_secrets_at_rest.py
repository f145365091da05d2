"""No activation secret at rest or in the logs: the link's token and secret, the SMS code and the
password the customer chose reach the customer (the outbox) and nowhere else."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import zlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
import time_machine
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core import mail, signing
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client
from django.utils import timezone

from accounts import sms
from accounts.delivery import commands_deliver
from accounts.models import ActivationLink, LoanAccount, Notification, State
from accounts.services import account_transition
from accounts.sms import SmsError, SmsMessage
from accounts.verification import SALT
from portal.actors import Actor
from tests.factories import make_account
from tests.jobs import work

pytestmark = pytest.mark.django_db
JOB = Actor.system("test", "job")
PASSWORD = "Harbour-Crane-2026"
LINK = re.compile(r"https?://\S+?(/activate/[^/\s]+/)")


def everything_stored() -> str:
    """Every row of every table in the database, as text: tables without a model too."""
    dump = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608 - our own table names
            for row in cursor.fetchall():
                dump.append(repr([bytes(value).decode("latin-1") if isinstance(value, memoryview) else value
                                  for value in row]))  # fmt: skip
    return "\n".join(dump)


def everything_in_redis() -> str:
    """Every hash in Redis, as text: the queue's jobs with their function, arguments and result."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    dump = [
        f"{key!r} {field!r} {_unpacked(value)!r}"
        for key in client.scan_iter(_type="hash")
        for field, value in client.hgetall(key).items()
    ]
    client.close()
    return "\n".join(dump)


def _unpacked(value: bytes | str) -> bytes | str:
    """A job's function and arguments are pickled, then compressed: uncompressed here."""
    if isinstance(value, bytes):
        with contextlib.suppress(zlib.error):
            return zlib.decompress(value)
    return value


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything logged at DEBUG, the SQL statements with their parameters included."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django")
    connection.force_debug_cursor = True
    try:
        yield caplog
    finally:
        connection.force_debug_cursor = False


def paths_sent() -> list[str]:
    """The activation links in every SMS and email the customer got, as paths."""
    texts = [message.text for message in sms.outbox] + [str(message.body) for message in mail.outbox]
    return [path for text in texts for path in LINK.findall(text)]


def secrets_of(path: str) -> list[str]:
    token = path.rstrip("/").rsplit("/", 1)[1]
    return [token, signing.TimestampSigner(salt=SALT).unsign(token)]


def test_a_full_activation_leaves_no_token_code_or_password_at_rest_or_in_the_logs(
    client: Client, logs: pytest.LogCaptureFixture, django_capture_on_commit_callbacks
) -> None:
    account = make_account(State.APPROVED, tier="medium")
    with django_capture_on_commit_callbacks(execute=True):
        account_transition(account_id=account.pk, transition_name="issue", actor=JOB)
    work(django_capture_on_commit_callbacks)  # the card is issued; the SMS and the email go out
    paths = paths_sent()
    assert len(paths) == 2  # one in the SMS, one in the email
    path = paths[0]
    assert client.get(path).status_code == 200
    client.post(path + "code/")
    code = re.search(r"code is (\d{6})", sms.outbox[-1].text).group(1)  # type: ignore[union-attr]
    client.post(path + "verify/", {"code": code})
    done = client.post(path + "password/", {"password": PASSWORD, "password2": PASSWORD}, follow=True)
    assert "Your card is being activated" in done.content.decode()
    commands_deliver()  # core banking activates the card
    assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE
    # What must not be kept did reach the customer and the service: the checks below mean something.
    link = ActivationLink.objects.get(account=account)
    assert link.used_at and check_password(PASSWORD, link.password_hash)
    assert set(Notification.objects.values_list("template", "status")) == {
        ("activation", "sent"),
        ("code", "sent"),
    }

    stored, logged = everything_stored() + everything_in_redis(), logs.text
    assert "INSERT INTO" in logged  # the SQL statements were logged, with their parameters
    assert "accounts.jobs.send_notification" in stored  # and the jobs' records are in Redis
    for secret in [*(part for path in paths for part in secrets_of(path)), code, PASSWORD]:
        assert secret not in stored
        assert secret not in logged


def test_the_stored_messages_show_where_the_link_and_the_code_were(django_capture_on_commit_callbacks) -> None:
    from accounts.notify import pre_notify

    account = make_account(State.ISSUED, tier="medium")
    with django_capture_on_commit_callbacks(execute=True):
        pre_notify(account.pk)
    stored_sms = Notification.objects.get(account=account, medium="sms")
    stored_email = Notification.objects.get(account=account, medium="email")
    assert "/activate/[link]/" in stored_sms.body and stored_sms.params["url"].endswith("/activate/[link]/")
    assert "/activate/[link]/" in stored_email.body
    assert stored_sms.link == stored_email.link  # one link, re-made from the row when the message is sent

    work(django_capture_on_commit_callbacks)
    (sent,) = sms.outbox
    (path,) = LINK.findall(sent.text)
    assert sent.text == stored_sms.body.replace("[link]", path.split("/")[2])
    assert sent.params["url"].endswith(path) and "[link]" not in mail.outbox[0].body


class FailingOnce:
    """An SMS gateway that refuses the first message, then takes them."""

    def send(self, message: SmsMessage) -> None:
        if not getattr(FailingOnce, "failed", False):
            FailingOnce.failed = True  # type: ignore[attr-defined]
            raise SmsError("SMS gateway: busy")
        sms.outbox.append(message)


def test_a_retried_message_carries_a_working_link(
    client: Client, settings, django_capture_on_commit_callbacks, logs: pytest.LogCaptureFixture
) -> None:
    settings.SMS_BACKEND = f"{__name__}.FailingOnce"
    settings.NOTIFICATION_RETRY_INTERVALS = [0, 0]
    FailingOnce.failed = False  # type: ignore[attr-defined]
    account = make_account(State.ISSUED, tier="medium")
    from accounts.notify import pre_notify

    with django_capture_on_commit_callbacks(execute=True):
        pre_notify(account.pk)
    work(django_capture_on_commit_callbacks)
    notification = Notification.objects.get(account=account, medium="sms")
    assert (notification.status, notification.attempts) == ("sent", 2)
    (path,) = LINK.findall(sms.outbox[0].text)
    page = client.get(path)
    assert page.status_code == 200 and "Activate your credit line" in page.content.decode()
    assert path.split("/")[2] not in logs.text


def test_a_newer_link_leaves_the_older_one_working(client: Client, django_capture_on_commit_callbacks) -> None:
    from accounts.notify import activation_resend, pre_notify

    account = make_account(State.ISSUED, tier="medium")
    with django_capture_on_commit_callbacks(execute=True):
        pre_notify(account.pk)
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        with django_capture_on_commit_callbacks(execute=True):
            activation_resend(account_id=account.pk)
        work(django_capture_on_commit_callbacks)
    first, second = (LINK.findall(message.text)[0] for message in sms.outbox)
    assert first != second and ActivationLink.objects.filter(account=account).count() == 2
    assert client.get(first).status_code == 200 and client.get(second).status_code == 200


def test_a_page_refused_for_a_known_link_does_not_log_its_token(client: Client, logs: pytest.LogCaptureFixture) -> None:
    from accounts.verification import link_create

    account = make_account(State.ISSUED)
    _link, url = link_create(account)
    path = LINK.search(url).group(1)  # type: ignore[union-attr]
    LoanAccount.objects.filter(pk=account.pk).update(state=State.CLOSED)
    assert client.get(path).status_code == 404
    assert client.get(path + "code/").status_code == 405  # a GET where a form is posted
    assert "Not Found: /activate/[link]/" in logs.text
    for secret in secrets_of(path):
        assert secret not in logs.text


@pytest.mark.django_db(transaction=True)
def test_the_migration_takes_the_tokens_out_of_the_messages_already_written(client: Client) -> None:
    from accounts.notify import send_notification

    account = make_account(State.ISSUED)  # with today's models: later migrations may change its tables
    before = [("accounts", "0019_import_language")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    secret = "an-old-random-secret-of-32-chars"
    token = signing.TimestampSigner(salt=SALT).sign(secret)
    url = f"http://127.0.0.1:8000/activate/{token}/"
    old_link = old.get_model("accounts", "ActivationLink").objects.create(
        account_id=account.pk, secret_hash=hashlib.sha256(secret.encode()).hexdigest(),
        expires_at=timezone.now() + timedelta(days=10),
    )  # fmt: skip
    messages = old.get_model("accounts", "Notification").objects
    sent = messages.create(account_id=account.pk, medium="sms", template="activation", recipient="13800138000",
                           body=f"Start here: {url}", params={"url": url}, status="sent")  # fmt: skip
    queued = messages.create(account_id=account.pk, medium="email", template="activation", recipient="a@b.example",
                             subject="Your credit line", body=f"Open {url}", status="queued")  # fmt: skip

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())  # 0020, and any later migration
    assert token not in everything_stored() and secret not in everything_stored()
    sent_now, queued_now = Notification.objects.get(pk=sent.pk), Notification.objects.get(pk=queued.pk)
    assert sent_now.body == "Start here: http://127.0.0.1:8000/activate/[link]/" and "[link]" in sent_now.params["url"]
    assert sent_now.link_id == old_link.pk and client.get(f"/activate/{token}/").status_code == 200  # still works
    # The message not sent yet gets a new link of its own, which its delivery job can make again.
    assert queued_now.link and queued_now.link.pk != old_link.pk and queued_now.link.nonce
    assert send_notification(queued.pk) == "sent"
    (path,) = LINK.findall(str(mail.outbox[0].body))
    assert client.get(path).status_code == 200


def test_a_message_whose_link_cannot_be_made_again_fails_and_says_why(
    settings, django_capture_on_commit_callbacks
) -> None:
    from accounts.notify import pre_notify, send_notification

    account = make_account(State.ISSUED)
    with django_capture_on_commit_callbacks(execute=False):
        pre_notify(account.pk)
    old_key, settings.SECRET_KEY = settings.SECRET_KEY, "a-new-secret-key-" + "x" * 40  # the old one dropped
    notification = Notification.objects.get(account=account, medium="sms")
    assert send_notification(notification.pk) == "failed"
    notification.refresh_from_db()
    assert notification.status == "failed" and "send the activation message again" in notification.error
    assert not sms.outbox
    settings.SECRET_KEY_FALLBACKS = [old_key]  # kept as a fallback after all: the link is made again
    email = Notification.objects.get(account=account, medium="email")
    assert send_notification(email.pk) == "sent" and "[link]" not in mail.outbox[0].body
