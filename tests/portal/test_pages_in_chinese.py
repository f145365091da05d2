"""A staff member who works in Chinese sees no English on the main pages.

The visible text of the dashboard, the board, an account page and a case page (text, button
values, titles, placeholders and labels for screen readers) is scanned for ASCII words; what
may stay is codes and names that are the same in every language.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import translation

from accounts.models import EmptyCause, State
from accounts.monitor import MONITOR
from casework.services import case_open_for_account, cases_assign
from portal import roles
from portal.services import staff_member_save
from tests.factories import CustomerFactory, make_account

pytestmark = pytest.mark.django_db

# What reads the same in Chinese: codes in capitals (LA for account numbers, P1 to P4, SLA, core
# banking's card states, CSV), the language switcher's "English", product and unit names.
ALLOWED = re.compile(r"^([A-Z][A-Z0-9_-]+|English|Excel|Redis|PostgreSQL|ms)$")
_EMAIL = re.compile(r"\S+@\S+")
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]+")


class _Visible(HTMLParser):
    """The text a person sees or hears: text nodes, button values, titles, placeholders, ARIA labels."""

    HIDDEN = frozenset({"script", "style", "template"})

    def __init__(self) -> None:
        super().__init__()
        self.hidden = 0
        self.closing: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        # Data that is not to be translated (a login name) says so, as HTML has it: translate="no".
        if tag in self.HIDDEN or values.get("translate") == "no":
            self.hidden += 1
            self.closing.append(tag)
        shown = {"title", "placeholder", "aria-label", "alt"}
        self.text += [value for key, value in values.items() if key in shown and value]
        if tag == "input" and values.get("type") in {"submit", "button"} and values.get("value"):
            self.text.append(values["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if self.closing and tag == self.closing[-1]:
            self.closing.pop()
            self.hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.text.append(data)


def english_words(page: str) -> list[str]:
    parser = _Visible()
    parser.feed(page)
    text = _EMAIL.sub(" ", " ".join(parser.text))
    return sorted({word for word in _WORD.findall(text) if not ALLOWED.match(word)})


@pytest.fixture
def chinese_desk(settings) -> dict[str, Any]:
    """The portal as its staff run it: Chinese by default, Chinese data, written in Chinese."""
    settings.LANGUAGE_CODE = "zh-hans"
    translation.activate("zh-hans")
    agent = staff_member_save(
        username="wangfang", first_name="芳", last_name="王", role=roles.SERVICE_AGENT, departments=["service"]
    )
    lead = staff_member_save(
        username="liuyang",
        first_name="洋",
        last_name="刘",
        role=roles.TEAM_LEAD,
        departments=["credit", "service", "tech"],
    )
    customer = CustomerFactory(name="成都锦江进出口贸易有限公司", contact_name="李伟")
    account = make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE, customer=customer, channel="成都锦江支行")
    # Written by the system's own parts, whose recorded names are shown in the reader's language.
    case = case_open_for_account(account=account, cause=EmptyCause.CUSTOMER_INCOMPLETE, actor=MONITOR)
    cases_assign(case_ids=[case.pk], assignee=User.objects.get(pk=agent.pk), by=User.objects.get(pk=lead.pk))
    auditor = staff_member_save(username="zhaolei", first_name="磊", last_name="赵", role=roles.AUDITOR, departments=[])
    client = Client()
    client.force_login(User.objects.get(pk=lead.pk))  # a sign-in, a reveal and an export: lines of the access log
    client.post(reverse("accounts:reveal", args=[account.number]), {"field": "mobile", "reason": "客户要求回电"})
    client.get(reverse("accounts:list"), {"export": "csv"})
    return {"lead": lead, "auditor": auditor, "account": account, "case": case}


def test_the_main_pages_have_no_english_left(client: Client, chinese_desk: dict[str, Any]) -> None:
    client.force_login(chinese_desk["lead"])
    pages = {
        "dashboard": reverse("dashboard"),
        "board": reverse("casework:board"),
        "account": chinese_desk["account"].get_absolute_url(),
        "case": reverse("casework:detail", args=[chinese_desk["case"].pk]),
        "profile": reverse("profile"),
    }
    auditor_pages = {f"audit {trail}": reverse("audit", args=[trail]) for trail in ("access", "accounts", "cases")}
    left = {}
    for name, url in {**pages, **auditor_pages}.items():
        if name in auditor_pages:
            client.force_login(chinese_desk["auditor"])
        response = client.get(url)
        assert response.status_code == 200, name
        words = english_words(response.content.decode())
        if words:
            left[name] = words
    assert left == {}, left


def test_a_chinese_name_reads_family_name_first_and_an_english_one_as_given() -> None:
    from portal.actors import addressed_as, person_name

    chinese = User(username="wangfang", first_name="芳", last_name="王")
    english = User(username="fwang", first_name="Fang", last_name="Wang")
    nameless = User(username="ops")
    assert (person_name(chinese), person_name(english), person_name(nameless)) == ("王芳", "Fang Wang", "ops")
    assert (addressed_as(chinese), addressed_as(english), addressed_as(nameless)) == ("王芳", "Fang", "ops")
