"""A new staff member works in Chinese: no English left on the main pages; English and back, and it sticks."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from accounts.models import EmptyCause, State
from casework.services import case_open_for_account, cases_assign
from portal import roles
from portal.actors import Actor
from tests.factories import TEST_PASSWORD, CustomerFactory, make_account
from tests.portal.test_pages_in_chinese import english_words


@pytest.fixture
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "locale": "zh-CN"}  # a browser set up in China: Accept-Language zh-CN


def test_a_new_staff_member_sees_chinese_and_can_switch_to_english_and_back(
    page: Page, live_server, staff_member, settings
) -> None:
    settings.LANGUAGE_CODE = "zh-hans"  # the portal's own default (the suite's other tests read English)
    lead = staff_member("lead", roles.TEAM_LEAD, ("credit", "service", "tech"))
    User.objects.filter(pk=lead.pk).update(first_name="洋", last_name="刘")
    customer = CustomerFactory(name="成都锦江进出口贸易有限公司", contact_name="李伟", language="zh-hans")
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE, customer=customer, channel="成都锦江支行")
    case = case_open_for_account(
        account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=Actor.system("监控", "job")
    )
    cases_assign(case_ids=[case.pk], assignee=User.objects.get(pk=lead.pk), by=User.objects.get(pk=lead.pk))

    page.goto(f"{live_server.url}/login/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("登录")
    page.locator("input[name=username]").fill("lead")
    page.locator("input[name=password]").fill(TEST_PASSWORD)
    page.locator("form[action='/login/'] button[type=submit]").click()
    page.wait_for_url(f"{live_server.url}/")
    for path in ("/", "/cases/board/", account.get_absolute_url(), f"/cases/{case.pk}/"):
        page.goto(f"{live_server.url}{path}")
        assert english_words(page.content()) == [], path

    page.get_by_role("button", name="English").click()
    expect(page.get_by_role("navigation").get_by_role("link", name="Case board")).to_be_visible()
    page.goto(f"{live_server.url}/cases/board/")  # it sticks: the profile keeps it
    expect(page.get_by_role("heading", level=1)).to_contain_text("Case board")
    page.get_by_role("button", name="简体中文").click()
    expect(page.get_by_role("navigation").get_by_role("link", name="工单看板")).to_be_visible()
