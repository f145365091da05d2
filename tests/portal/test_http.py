"""A form posted with something wrong: the page it came from again, answered 400; a lost database: 503."""

from __future__ import annotations

import re

import pytest
from django.db import OperationalError
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry, EmptyCause, State
from casework.services import case_open_for_account
from portal.actors import Actor
from tests.factories import make_account

pytestmark = pytest.mark.django_db


def test_a_refused_action_shows_the_page_it_was_posted_from_with_the_reason_and_a_400(client: Client, credit) -> None:
    account = make_account(State.EMPTY, EmptyCause.RISK_HOLD)
    case = case_open_for_account(account=account, cause=EmptyCause.RISK_HOLD, actor=Actor.system("test", "job"))
    client.force_login(credit)
    case_page = reverse("casework:detail", args=[case.pk])
    response = client.post(
        reverse("accounts:action", args=[account.number, "release_hold"]),
        {"reason": "cleared\x00", "version": account.version, "next": case_page},
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert f"Case #{case.pk}" in page  # the case page, where the officer was
    assert "control character (U+0000 NUL)" in page
    # The page's own forms send the officer back to the case page, not to the action's address.
    assert set(re.findall(r'name="next" value="([^"]*)"', page)) == {case_page}
    assert not AuditEntry.objects.filter(account=account, transition="release_hold").exists()


def test_a_refused_action_from_another_site_falls_back_to_the_account_page(client: Client, credit) -> None:
    account = make_account(State.ACTIVE)
    client.force_login(credit)
    response = client.post(
        reverse("accounts:action", args=[account.number, "hold"]),
        {"reason": "", "version": account.version, "next": "https://elsewhere.example/"},
    )
    assert response.status_code == 400
    assert account.number in response.content.decode()


def test_a_database_connection_lost_mid_request_is_a_503_that_says_nothing_was_saved(
    client: Client, credit, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = make_account(State.ACTIVE)

    def lost(**_kwargs: object) -> None:
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr("accounts.views.account_decide", lost)
    client.force_login(credit)
    response = client.post(
        reverse("accounts:action", args=[account.number, "hold"]), {"reason": "fraud", "version": account.version}
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "10"
    assert "nothing was saved" in response.content.decode()
