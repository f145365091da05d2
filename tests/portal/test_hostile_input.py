"""Hostile text in every form that writes: refused with a clear message, nothing written, never a 500.

The table below is what the suite reads: for each form, the field that takes free text and
the row count that must not move. Each form gets a NUL, an escape character and 200,000
characters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db.models import Model
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry, EmptyCause, State
from casework.models import CaseEvent, Drill, Incident
from casework.services import case_open_for_account, cases_assign
from portal.actors import Actor
from tests.factories import make_account

pytestmark = pytest.mark.django_db

HOSTILE = {
    "NUL": ("call back\x00 tomorrow", "control character (U+0000 NUL)"),
    "escape": ("call back\x1b[31m tomorrow", "control character (U+001B"),
    "200,000 characters": ("x" * 200_000, "200,000 characters long"),
}


@dataclass(frozen=True)
class Form:
    """A form that writes: who posts it, where, with which fields, and what must not be written."""

    user: str
    url: Callable[[dict[str, Any]], str]
    data: Callable[[dict[str, Any]], dict[str, Any]]
    field: str
    written: type[Model]


FORMS = {
    "account action (reason)": Form(
        "credit",
        lambda o: reverse("accounts:action", args=[o["active"].number, "hold"]),
        lambda o: {"version": o["active"].version},
        "reason",
        AuditEntry,
    ),
    "case comment": Form(
        "service", lambda o: reverse("casework:comment", args=[o["case"].pk]), lambda o: {}, "text", CaseEvent
    ),
    "case move (note)": Form(
        "service",
        lambda o: reverse("casework:move", args=[o["case"].pk, "start"]),
        lambda o: {"version": o["case"].version},
        "note",
        CaseEvent,
    ),
    "case hand-off (note)": Form(
        "service",
        lambda o: reverse("casework:handoff", args=[o["case"].pk]),
        lambda o: {"version": o["case"].version, "department": "tech"},
        "note",
        CaseEvent,
    ),
    "new incident (title)": Form(
        "tech",
        lambda o: reverse("casework:incident_new"),
        lambda o: {"cause": EmptyCause.SYSTEM_CONFIG},
        "title",
        Incident,
    ),
    "new drill (channel)": Form(
        "lead",
        lambda o: reverse("casework:drill_new"),
        lambda o: {"scenario": Drill.Scenario.CONFIG_FAULT, "size": 2},
        "channel",
        Drill,
    ),
}


@pytest.fixture
def objects(service, credit, tech, lead) -> dict[str, Any]:
    active = make_account(State.ACTIVE)
    case = case_open_for_account(
        account=make_account(State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE),
        cause=EmptyCause.CUSTOMER_INCOMPLETE,
        actor=Actor.system("test", "job"),
    )
    cases_assign(case_ids=[case.pk], assignee=service, by=service)
    case.refresh_from_db()
    return {"active": active, "case": case, "users": {"service": service, "credit": credit, "tech": tech, "lead": lead}}


@pytest.mark.parametrize("hostile", sorted(HOSTILE))
@pytest.mark.parametrize("form", sorted(FORMS))
def test_hostile_text_is_refused_clearly_and_nothing_is_written(
    client: Client, objects: dict[str, Any], form: str, hostile: str
) -> None:
    spec = FORMS[form]
    value, message = HOSTILE[hostile]
    client.force_login(objects["users"][spec.user])
    before = spec.written._default_manager.count()
    response = client.post(spec.url(objects), {**spec.data(objects), spec.field: value}, follow=True)
    assert response.status_code < 500
    page = response.content.decode()
    assert message in page, f"{form}: no clear message for {hostile}"
    assert spec.written._default_manager.count() == before, f"{form}: something was written for {hostile}"
