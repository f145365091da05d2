"""With Redis stopped, people keep working: pages render, changes save, delayed work is said so."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import CoreCommand, EmptyCause, LoanAccount, State
from casework.services import case_open_for_account
from portal.actors import Actor
from tests.factories import make_account

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_down(settings, tmp_path) -> None:
    url = f"unix://{tmp_path}/no-redis.sock"
    settings.REDIS_URL = url
    settings.RQ_QUEUES = {"default": {"URL": url}}


def test_pages_render_and_a_transition_saves_without_redis(
    client: Client, credit, redis_down, django_capture_on_commit_callbacks
) -> None:
    account = make_account(State.APPROVED)
    case = case_open_for_account(
        account=make_account(State.EMPTY, EmptyCause.RISK_HOLD), cause="risk_hold", actor=Actor.system("t", "job")
    )
    client.force_login(credit)
    assert client.get(account.get_absolute_url()).status_code == 200
    assert client.get(case.get_absolute_url()).status_code == 200
    assert client.get(reverse("casework:board")).status_code == 200
    jobs = client.get(reverse("jobs"))
    assert jobs.status_code == 200 and "Redis is not answering" in jobs.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("accounts:action", args=[account.number, "issue"]),
            {"reason": "approved by committee", "version": account.version},
            follow=True,
        )
    page = response.content.decode()
    assert "Done: the account is now Issued." in page
    assert "Core banking is told with a delay: the job queue is not answering." in page
    assert LoanAccount.objects.get(pk=account.pk).state == State.ISSUED
    # The command is in the database: the sweeper queues it once Redis is back.
    assert CoreCommand.objects.get(account=account).status == "pending"
    assert client.get("/readyz").json()["down"] == ["redis"]
