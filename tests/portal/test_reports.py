"""The weekly report on known data."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, EmptyCause, LoanAccount, State
from portal.pages.reports import Week, weekly_report
from tests.factories import make_account

pytestmark = pytest.mark.django_db


def test_weeks_parse_and_shift() -> None:
    today = dt.date(2026, 11, 28)
    assert Week.parse("2026-W47", today).label == "2026-W47"
    assert Week.parse("nonsense", today).label == "2026-W48"
    assert Week.parse("2026-W01", today).shifted(-1).label == "2025-W52"


def test_the_report_counts_one_week_and_no_drill(client: Client, lead) -> None:
    week = Week(2026, 47)
    inside = timezone.make_aware(dt.datetime(2026, 11, 18, 10))
    outside = timezone.make_aware(dt.datetime(2026, 11, 25, 10))
    for when, drill in ((inside, False), (inside, False), (outside, False), (inside, True)):
        account = make_account(State.EMPTY, EmptyCause.SYSTEM_CONFIG, channel="Mobile app", is_drill=drill)
        AuditEntry.objects.create(account=account, transition="fail_activation", from_state="issued",
                                  to_state="empty", actor_name="t", channel="job", created_at=when)  # fmt: skip
    active = make_account(State.ACTIVE)
    LoanAccount.objects.filter(pk=active.pk).update(activated_at=inside)
    report = weekly_report(week)
    assert report["went_empty_total"] == 2
    assert report["activated"] == 1
    assert report["channels"] == [{"account__channel": "Mobile app", "n": 2}]
    client.force_login(lead)
    page = client.get(reverse("weekly_report") + "?week=2026-W47").content.decode()
    assert 'data-testid="went-empty">2<' in page and "2026-W46" in page and "2026-W48" in page


def test_the_report_shows_the_credit_freed_that_week_with_its_list(client: Client, lead) -> None:
    def audit(account: LoanAccount, transition: str, from_state: str, to_state: str, day: int) -> None:
        AuditEntry.objects.create(account=account, transition=transition, from_state=from_state, to_state=to_state,
                                  actor_name="t", channel="job",
                                  created_at=timezone.make_aware(dt.datetime(2026, 11, day, 10)))  # fmt: skip

    freed = []
    for limit, day, drill in (("120000", 17, False), ("30000.50", 22, False), ("999999", 18, True), ("5", 24, False)):
        account = make_account(State.ACTIVE, approved_limit=Decimal(limit), is_drill=drill)
        audit(account, "fail_activation", "issued", "empty", day - 1)
        audit(account, "activate", "empty", "active", day)
        freed.append(account)
    never_empty = make_account(State.ACTIVE)
    audit(never_empty, "activate", "verifying", "active", 18)
    report = weekly_report(Week(2026, 47))  # Monday 16 to Sunday 22 November
    assert (report["freed"].accounts, report["freed"].amount) == (2, Decimal("150000.50"))
    client.force_login(lead)
    page = client.get(reverse("weekly_report") + "?week=2026-W47").content.decode()
    assert 'data-testid="freed">¥150,000.50<' in page and 'href="/accounts/?freed_in=2026-W47"' in page
    listed = client.get("/accounts/?freed_in=2026-W47").context["table"]
    assert {row.record.number for row in listed.page.object_list} == {freed[0].number, freed[1].number}


def test_the_report_pins_its_query_count(client: Client, lead, django_assert_num_queries) -> None:
    client.force_login(lead)
    url = reverse("weekly_report") + "?week=2026-W47"
    client.get(url)
    # complaints: the empty accounts now, the audit since the week's end, the week's complaints (3)
    with django_assert_num_queries(16) as few:
        client.get(url)
    for _ in range(5):
        make_account(State.ACTIVE)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(url)
