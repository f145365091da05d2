"""The nightly credit review proposes tranches and holds to credit and never changes a line."""

from __future__ import annotations

from datetime import timedelta

import django_rq
import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rq import SimpleWorker

from accounts.credit_review import credit_review_run, review_score
from accounts.models import CreditReviewProposal, EmptyCause, LoanAccount, State, Tranche
from tests.factories import CustomerFactory, make_account

pytestmark = pytest.mark.django_db
HIGH = ["sms_code", "password", "credit_review"]


def staged_active(score: int, days_active: int) -> LoanAccount:
    account = make_account(
        State.ACTIVE, tier="high", steps=HIGH, customer=CustomerFactory(risk_tier="high", credit_score=score)
    )
    LoanAccount.objects.filter(pk=account.pk).update(activated_at=timezone.now() - timedelta(days=days_active))
    Tranche.objects.bulk_create(
        [
            Tranche(account=account, sequence=1, amount=300000, status="released", released_at=timezone.now()),
            Tranche(account=account, sequence=2, amount=300000),
            Tranche(account=account, sequence=3, amount=400000),
        ]
    )
    return account


def test_the_score_rule() -> None:
    assert review_score(720, recent_hold=False, failed_attempts=0) == 720
    assert review_score(720, recent_hold=True, failed_attempts=5) == 720 - 60 - 90


def test_it_proposes_and_never_changes_a_line(django_capture_on_commit_callbacks) -> None:
    good = staged_active(760, days_active=120)
    young = staged_active(760, days_active=10)
    poor = make_account(State.ACTIVE, customer=CustomerFactory(credit_score=500))
    held = make_account(State.EMPTY, EmptyCause.RISK_HOLD, customer=CustomerFactory(credit_score=780))
    LoanAccount.objects.filter(pk=held.pk).update(empty_since=timezone.now() - timedelta(days=40))
    before = {a.pk: (a.state, a.released_limit) for a in LoanAccount.objects.all()}

    queue = django_rq.get_queue("default")
    with django_capture_on_commit_callbacks(execute=True):
        queue.enqueue("accounts.jobs.credit_review")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)

    proposals = {p.account_id: p.kind for p in CreditReviewProposal.objects.all()}
    assert proposals == {good.pk: "release_next_tranche", poor.pk: "hold", held.pk: "release_hold"}
    assert young.pk not in proposals
    assert {a.pk: (a.state, a.released_limit) for a in LoanAccount.objects.all()} == before
    assert credit_review_run()["proposed"] == 0  # a second night adds nothing while these are open


def test_credit_closes_a_proposal(client: Client, credit, service) -> None:
    account = make_account(State.ACTIVE, customer=CustomerFactory(credit_score=500))
    credit_review_run()
    proposal = CreditReviewProposal.objects.get(account=account)
    client.force_login(service)
    assert "Credit decides." in client.get(reverse("accounts:reviews")).content.decode()
    assert client.post(reverse("accounts:review_decide", args=[proposal.pk, "dismiss"])).status_code == 403
    client.force_login(credit)
    assert "Put the line on risk hold" in client.get(account.get_absolute_url()).content.decode()
    client.post(reverse("accounts:review_decide", args=[proposal.pk, "dismiss"]))
    proposal.refresh_from_db()
    assert (proposal.status, proposal.decided_by) == ("dismissed", credit)
