"""SMS backends, pluggable like Django's email backends (``SMS_BACKEND`` in settings).

* ``ConsoleSmsBackend`` prints each message (development default);
* ``FileSmsBackend`` writes each message to a file under ``SMS_FILE_PATH`` (used by ``make run``);
* ``LocMemSmsBackend`` keeps them in ``accounts.sms.outbox`` (tests);
* ``HttpSmsBackend`` posts them to an SMS gateway (``SMS_GATEWAY_URL``) the way Chinese SMS
  providers take them: the sign name, a template id registered with the provider
  (``SMS_TEMPLATE_IDS``) and the template's parameters; the provider fills in the text, which
  the desk renders for its own log.

A backend raises ``SmsError`` when a message could not be handed over.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string


class SmsError(Exception):
    pass


@dataclass(frozen=True)
class SmsMessage:
    to: str
    text: str  # as the customer reads it, sign name first (what the log keeps)
    template: str = ""  # the desk's template: activation, reminder, code
    params: dict[str, str] = field(default_factory=dict)


outbox: list[SmsMessage] = []


class ConsoleSmsBackend:
    def send(self, message: SmsMessage) -> None:
        sys.stdout.write(f"SMS to {message.to}:\n{message.text}\n{'-' * 40}\n")


class FileSmsBackend:
    def send(self, message: SmsMessage) -> None:
        directory = Path(settings.SMS_FILE_PATH)
        directory.mkdir(parents=True, exist_ok=True)
        name = f"sms-{timezone.now():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}.txt"
        (directory / name).write_text(f"To: {message.to}\n\n{message.text}\n", encoding="utf-8")


class LocMemSmsBackend:
    def send(self, message: SmsMessage) -> None:
        outbox.append(message)


class HttpSmsBackend:
    def send(self, message: SmsMessage) -> None:
        if not settings.SMS_GATEWAY_URL:
            raise SmsError("SMS_GATEWAY_URL is not set")
        body = {
            "to": message.to,
            "sign_name": settings.SMS_SIGN_NAME.strip("【】"),
            "template_id": settings.SMS_TEMPLATE_IDS.get(message.template, message.template),
            "params": message.params,
        }
        request = urllib.request.Request(  # noqa: S310 - the URL comes from our own settings
            settings.SMS_GATEWAY_URL,
            data=json.dumps(body, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10):  # noqa: S310
                pass
        except (urllib.error.URLError, TimeoutError) as exc:
            raise SmsError(f"SMS gateway: {getattr(exc, 'reason', exc)}") from None


def get_sms_backend() -> ConsoleSmsBackend | FileSmsBackend | LocMemSmsBackend | HttpSmsBackend:
    return import_string(settings.SMS_BACKEND)()
