"""Two people act on one account from stale copies: one wins, the other is told who and when."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from accounts.models import AuditEntry, LoanAccount, State
from accounts.services import AccountActionError, AccountChanged, Actor, account_transition
from tests.factories import make_account


@pytest.mark.django_db
def test_the_second_of_two_stale_actions_is_refused_with_who_and_when(client: Client, credit, tech) -> None:
    account = make_account(State.ISSUED, steps=["sms_code"])
    seen_version = account.version  # both opened the page now

    client.force_login(tech)
    client.post(
        reverse("accounts:action", args=[account.number, "fail_activation"]),
        {"reason": "core reports a configuration fault", "version": seen_version},
    )
    client.force_login(credit)
    response = client.post(
        reverse("accounts:action", args=[account.number, "hold"]),
        {"reason": "risk alert", "version": seen_version},
        follow=True,
    )
    page = response.content.decode()
    assert "Tech Tester changed this account (fail activation) at" in page
    assert "Nothing was saved" in page
    account.refresh_from_db()
    assert (account.state, account.empty_cause) == (State.EMPTY, "system_config")
    assert list(AuditEntry.objects.filter(account=account).values_list("transition", flat=True)) == ["fail_activation"]


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL's row locks to run two transactions at once (CI runs it on PostgreSQL)",
)
@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_actions_on_postgresql_leave_one_audit_row(credit, tech) -> None:
    account = make_account(State.ISSUED, steps=["sms_code"])
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def act(name: str, transition_name: str, user: object) -> None:
        try:
            barrier.wait(timeout=10)
            account_transition(
                account_id=account.pk,
                transition_name=transition_name,
                actor=Actor.staff(user),  # type: ignore[arg-type]
                reason=name,
                expected_version=account.version,
            )
            outcomes[name] = "ok"
        except AccountActionError as exc:
            outcomes[name] = exc
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=act, args=("tech", "fail_activation", tech)),
        threading.Thread(target=act, args=("credit", "hold", credit)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(str(type(value).__name__) for value in outcomes.values()) == ["AccountChanged", "str"]
    loser = next(value for value in outcomes.values() if isinstance(value, AccountChanged))
    assert "changed this account" in loser.message
    assert AuditEntry.objects.filter(account=account).count() == 1
    assert LoanAccount.objects.get(pk=account.pk).version == account.version + 1
