"""The SLA badge on cards, case lists and the case page: what a glance at a case must tell."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from casework.models import Case, Status
from casework.templatetags.cases import sla_badge


def case(**fields: object) -> Case:
    now = timezone.now()
    values: dict[str, object] = {"status": Status.ASSIGNED, "opened_at": now, "resolve_due_at": now + timedelta(days=2)}
    return Case(pk=7, **(values | fields))


@pytest.fixture(autouse=True)
def _frozen():
    with time_machine.travel("2026-11-02 09:00 +08:00", tick=False):
        yield


def test_time_left_is_green_then_amber_in_the_last_hour() -> None:
    assert sla_badge(case()).startswith('<span class="badge badge-ok sla" title="Resolution due ')
    assert ">2\xa0days</span>" in sla_badge(case())
    soon = sla_badge(case(resolve_due_at=timezone.now() + timedelta(minutes=40)))
    assert 'class="badge badge-warn sla"' in soon and ">40\xa0minutes</span>" in soon


def test_an_overdue_case_says_how_late_and_when_it_was_due() -> None:
    badge = sla_badge(case(resolve_due_at=timezone.now() - timedelta(hours=3)))
    assert 'class="badge badge-bad sla"' in badge and ">overdue 3\xa0hours</span>" in badge
    assert 'title="Resolution was due Nov. 2, 2026, 6 a.m."' in badge  # in the portal's time zone


def test_a_paused_clock_shows_the_time_left_when_it_stopped() -> None:
    paused = timezone.now() - timedelta(days=5)
    badge = sla_badge(case(sla_paused_at=paused, resolve_due_at=paused + timedelta(hours=20)))
    assert 'title="The SLA clock is paused while waiting for the customer">⏸ 20\xa0hours</span>' in badge


def test_a_resolved_case_says_when_and_an_unresolved_closed_one_nothing() -> None:
    resolved = case(status=Status.RESOLVED, resolved_at=timezone.now() - timedelta(days=1))
    assert sla_badge(resolved) == '<span class="muted">resolved 1\xa0day ago</span>'
    assert sla_badge(case(status=Status.RESOLVED, resolved_at=None)) == ""
