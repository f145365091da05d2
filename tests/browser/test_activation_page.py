"""A customer activates on a phone with the link and the code from the file outbox, and the card is
activated by the reference core-banking service over the real HTTP contract, both ways."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import django_rq
import pytest
from playwright.sync_api import Browser, expect
from rq import SimpleWorker

from accounts.delivery import commands_deliver
from accounts.models import CoreEvent, EmptyCause, LoanAccount, State
from accounts.services import account_transition
from casework.models import Case, Status
from portal.actors import Actor
from tests.coreservice import CoreService
from tests.factories import make_account


def work() -> None:
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def outbox_text(folder: Path) -> str:
    return "\n".join(path.read_text() for path in sorted(folder.glob("sms-*.txt")))


@pytest.fixture
def core(live_server, settings, tmp_path: Path) -> Iterator[CoreService]:
    service = CoreService(tmp_path, events_url=f"{live_server.url}/api/core/events")
    service.start()
    settings.CORE_GATEWAY = "http"
    settings.CORE_GATEWAY_URL = service.url
    try:
        yield service
    finally:
        service.stop()


def test_a_customer_activates_on_a_phone(browser: Browser, live_server, core, settings, tmp_path) -> None:
    settings.SMS_BACKEND = "accounts.sms.FileSmsBackend"
    settings.SMS_FILE_PATH = str(tmp_path)
    settings.PORTAL_BASE_URL = live_server.url
    account = make_account(State.APPROVED, tier="medium")
    account_transition(account_id=account.pk, transition_name="issue", actor=Actor.system("core", "job"))
    commands_deliver()  # the card is issued in core banking; the customer's messages are written down
    work()  # and sent
    assert core.card(f"CARD-{account.number}")["state"] == "UNACTIVATED"
    account_transition(account_id=account.pk, transition_name="mark_stalled", actor=Actor.system("monitor", "job"))
    case = Case.objects.get(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE)

    link = re.search(r"(http://\S+/activate/\S+/)", outbox_text(tmp_path)).group(1)  # type: ignore[union-attr]
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.goto(link)
    expect(page.get_by_role("heading", name="Activate your credit line")).to_be_visible()
    page.get_by_role("button", name="Send me a code by SMS").click()
    expect(page.get_by_role("status")).to_contain_text("We sent a code to 138****")
    code = re.findall(r"code is (\d{6})", outbox_text(tmp_path))[-1]

    page.get_by_label("6-digit code from the SMS").fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name="Confirm the code").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right. You have 4 more tries.")
    page.get_by_label("6-digit code from the SMS").fill(code)
    page.get_by_role("button", name="Confirm the code").click()

    page.get_by_label("New password").fill("Harbour-Crane-2026")
    page.get_by_label("The same password again").fill("Harbour-Crane-2026")
    page.get_by_role("button", name="Set the password").click()
    # The customer's part is done; core banking is asked to activate the card, and the page says so.
    expect(page.get_by_role("heading", name="Your card is being activated")).to_be_visible()
    assert LoanAccount.objects.get(pk=account.pk).state == State.VERIFYING

    commands_deliver()  # the worker's run: the activation crosses the contract to core banking
    # The page asks again every 2 seconds, and shows the card active once core has confirmed it.
    expect(page.get_by_role("heading", name="Done: your credit line is active")).to_be_visible(timeout=10_000)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the phone

    assert core.card(f"CARD-{account.number}")["state"] == "ACTIVE"
    assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE
    case.refresh_from_db()
    assert case.status == Status.RESOLVED
    # Core's own events about the same card came back over the webhook and changed nothing twice.
    expect_events = {"card.issued", "card.activated"}
    for _ in range(50):
        if expect_events <= set(CoreEvent.objects.filter(account=account).values_list("event_type", flat=True)):
            break
        page.wait_for_timeout(100)
    assert expect_events <= set(CoreEvent.objects.filter(account=account).values_list("event_type", flat=True))
    assert LoanAccount.objects.get(pk=account.pk).audit_entries.filter(transition="activate").count() == 1
    phone.close()


def test_a_chinese_customer_activates_on_a_phone_from_the_chinese_sms(
    browser: Browser, live_server, settings, tmp_path
) -> None:
    """The customer's language is Chinese (the default): the SMS, with the bank's 【sign name】, and the page."""
    from tests.factories import CustomerFactory

    settings.SMS_BACKEND = "accounts.sms.FileSmsBackend"
    settings.SMS_FILE_PATH = str(tmp_path)
    settings.SMS_SIGN_NAME = "【成都农商银行】"
    settings.PORTAL_BASE_URL = live_server.url
    customer = CustomerFactory(
        language="zh-hans", name="成都锦江进出口贸易有限公司", contact_mobile="13812345678", risk_tier="medium"
    )
    account = make_account(State.APPROVED, tier="medium", customer=customer)
    account_transition(account_id=account.pk, transition_name="issue", actor=Actor.system("core", "job"))
    commands_deliver()  # the (simulated) core issues the card; the customer's messages are written down
    work()

    sms = outbox_text(tmp_path)
    assert "【成都农商银行】成都锦江进出口贸易有限公司：您的授信额度已就绪。" in sms
    link = re.search(r"(http://\S+/activate/\S+/)", sms).group(1)  # type: ignore[union-attr]
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, locale="en-US")
    page = phone.new_page()  # a phone set to English still gets the customer's language
    page.goto(link)
    expect(page.get_by_role("heading", name="激活您的授信额度")).to_be_visible()
    page.get_by_role("button", name="发送短信验证码").click()
    expect(page.get_by_role("status")).to_contain_text("验证码已发送至138****5678")
    code = re.findall(r"【成都农商银行】您的验证码为(\d{6})，10分钟内有效。", outbox_text(tmp_path))[-1]
    page.get_by_label("短信中的6位验证码").fill(code)
    page.get_by_role("button", name="确认验证码").click()
    page.get_by_label("新密码", exact=True).fill("Harbour-Crane-2026")
    page.get_by_label("确认新密码").fill("Harbour-Crane-2026")
    page.get_by_role("button", name="设置密码").click()
    expect(page.get_by_role("heading", name="您的卡片正在激活中")).to_be_visible()
    phone.close()
