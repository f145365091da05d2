"""The admin: transitions go through the same service and audit; the audit is read-only."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry, EmptyCause, LoanAccount, State
from tests.factories import make_account

pytestmark = pytest.mark.django_db


def test_a_transition_from_the_admin_is_audited_with_its_reason(client: Client, admin_user) -> None:
    account = make_account(State.ACTIVE)
    client.force_login(admin_user)
    change_page = client.get(reverse("admin:accounts_loanaccount_change", args=[account.pk])).content.decode()
    assert "Put on risk hold" in change_page

    url = reverse("admin:accounts_loanaccount_transition", args=[account.pk, "hold"])
    assert "Reason (goes into the audit trail)" in client.get(url).content.decode()
    response = client.post(url, {"reason": "sanctions list match"}, follow=True)
    assert "Put on risk hold: done." in response.content.decode()

    account.refresh_from_db()
    assert (account.state, account.empty_cause) == (State.EMPTY, EmptyCause.RISK_HOLD)
    entry = AuditEntry.objects.get(account=account)
    assert (entry.channel, entry.actor, entry.reason) == ("admin", admin_user, "sanctions list match")


def test_the_admin_refuses_a_disallowed_transition_clearly(client: Client, admin_user) -> None:
    account = make_account(State.APPROVED)
    client.force_login(admin_user)
    url = reverse("admin:accounts_loanaccount_transition", args=[account.pk, "hold"])
    response = client.post(url, {"reason": "x"}, follow=True)
    assert "Put on risk hold is not possible while the account is Approved." in response.content.decode()
    assert LoanAccount.objects.get(pk=account.pk).state == State.APPROVED


def test_the_admin_keeps_the_four_eyes_rule(client: Client, admin_user) -> None:
    account = make_account(State.EMPTY, EmptyCause.RISK_HOLD, tier="high", activated=True)
    client.force_login(admin_user)
    url = reverse("admin:accounts_loanaccount_transition", args=[account.pk, "release_hold"])
    response = client.post(url, {"reason": "x"}, follow=True)
    assert "second credit officer" in response.content.decode()
    assert LoanAccount.objects.get(pk=account.pk).on_hold


def test_audit_rows_cannot_be_changed_or_deleted_in_the_admin(client: Client, admin_user) -> None:
    account = make_account(State.ACTIVE)
    entry = AuditEntry.objects.create(
        account=account, transition="hold", from_state="active", to_state="empty", actor_name="x", channel="web"
    )
    client.force_login(admin_user)
    change = reverse("admin:accounts_auditentry_change", args=[entry.pk])
    page = client.get(change).content.decode()
    assert 'name="_save"' not in page
    client.post(change, {"reason": "rewritten"})
    assert client.post(reverse("admin:accounts_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.reason == ""
    assert client.get(reverse("admin:accounts_auditentry_add")).status_code == 403


def test_the_account_changelist_pins_its_query_count(client: Client, admin_user, django_assert_num_queries) -> None:
    for _ in range(3):
        make_account(State.ACTIVE)
    client.force_login(admin_user)
    url = reverse("admin:accounts_loanaccount_changelist")
    client.get(url)
    with django_assert_num_queries(4) as few:  # session, user, the count, the page
        client.get(url)
    for _ in range(20):
        make_account(State.ACTIVE)
    with django_assert_num_queries(len(few.captured_queries)):
        assert client.get(url).status_code == 200
