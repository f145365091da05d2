"""Customers read their messages and their activation page in their language: Chinese unless told otherwise."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from django.test import Client

from accounts import sms
from accounts.models import Customer, State
from accounts.notify import pre_notify
from tests.factories import CustomerFactory, make_account
from tests.jobs import work

pytestmark = pytest.mark.django_db


def test_a_customer_is_written_to_in_chinese_by_default() -> None:
    assert Customer._meta.get_field("language").default == "zh-hans"


def test_the_sms_and_email_are_in_the_customers_language_and_the_sms_carries_the_sign_name(
    client: Client, settings, django_capture_on_commit_callbacks
) -> None:
    settings.SMS_SIGN_NAME = "【成都农商银行】"
    chinese_customer = CustomerFactory(language="zh-hans", name="锦江贸易", email="cfo@jinjiang.example")
    chinese = make_account(State.ISSUED, tier="medium", customer=chinese_customer)
    english = make_account(State.ISSUED, tier="medium", customer=CustomerFactory(language="en", email="cfo@en.example"))
    with django_capture_on_commit_callbacks(execute=True):
        pre_notify(chinese.pk)
        pre_notify(english.pk)
    work(django_capture_on_commit_callbacks)
    texts = {message.to: message.text for message in sms.outbox}
    chinese_sms, english_sms = texts[chinese.customer.contact_mobile], texts[english.customer.contact_mobile]
    assert chinese_sms.startswith("【成都农商银行】锦江贸易：您的授信额度已就绪。") and "短信验证码" in chinese_sms
    assert english_sms.startswith("【成都农商银行】") and "your credit line is ready" in english_sms
    subjects = {message.to[0]: message.subject for message in mail.outbox}
    assert "授信额度" in subjects[chinese.customer.email] and "credit line" in subjects[english.customer.email]

    # The activation page follows the customer too, whatever the phone's browser asks for.
    url = re.search(r"(/activate/\S+/)", chinese_sms).group(1)  # type: ignore[union-attr]
    page = client.get(url, headers={"Accept-Language": "en"}).content.decode()
    assert 'lang="zh-hans"' in page and "激活" in page


def test_the_sms_gateway_gets_the_sign_name_a_template_id_and_its_parameters(settings) -> None:
    """Chinese SMS providers send registered templates: the desk posts the template's id and parameters."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from accounts.sms import HttpSmsBackend, SmsMessage

    received: list[dict[str, object]] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.SMS_GATEWAY_URL = f"http://127.0.0.1:{server.server_port}/send"
    settings.SMS_SIGN_NAME = "【成都农商银行】"
    settings.SMS_TEMPLATE_IDS = {"code": "SMS_102"}
    try:
        text = "【成都农商银行】您的验证码为123456"
        HttpSmsBackend().send(SmsMessage(to="13812345678", text=text, template="code", params={"code": "123456"}))
    finally:
        server.shutdown()
    assert received == [
        {"to": "13812345678", "sign_name": "成都农商银行", "template_id": "SMS_102", "params": {"code": "123456"}}
    ]


def test_a_queued_sms_keeps_its_template_parameters_for_the_gateway(django_capture_on_commit_callbacks) -> None:
    from accounts.models import Notification

    account = make_account(State.ISSUED, tier="medium", customer=CustomerFactory(language="zh-hans", name="锦江贸易"))
    with django_capture_on_commit_callbacks(execute=True):
        pre_notify(account.pk)
    sms_row = Notification.objects.get(account=account, medium="sms")
    assert sms_row.params["name"] == "锦江贸易" and sms_row.params["days"] == "3"  # the medium tier's window
    assert sms_row.params["url"] in sms_row.body and sms_row.params["steps"] in sms_row.body
