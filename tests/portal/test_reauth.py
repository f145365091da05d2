"""Re-authentication: a sensitive action from a session whose password is not fresh changes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import ApprovalRequest, CoreCommand, EmptyCause, LoanAccount, State
from accounts.services import approval_request_create
from casework.models import ReactivationBatch
from portal.models import SecurityEvent
from tests.factories import TEST_PASSWORD, bulk_empty_accounts, make_account
from tests.second_factor import authenticator_for, code_for, pass_second_step

pytestmark = pytest.mark.django_db
LATER = timedelta(minutes=6)  # past REAUTH_MINUTES (5) after the sign-in
APPROVALS = "http://testserver/accounts/approvals/"


def held_high_risk_account() -> LoanAccount:
    return make_account(
        State.EMPTY, EmptyCause.RISK_HOLD, tier="high", steps=["sms_code", "password", "credit_review"], activated=True
    )


def test_a_stale_session_approval_is_refused_then_accepted_after_confirming(client: Client, credit, credit2) -> None:
    account = held_high_risk_account()
    request = approval_request_create(account_id=account.pk, kind="release_hold", requested_by=credit, reason="ok")
    approve = reverse("accounts:approval_decide", args=[request.pk, "approve"])
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.force_login(credit2)
        clock.shift(LATER)
        refused = client.post(approve, headers={"Referer": APPROVALS})
        assert (refused.status_code, refused["Location"]) == (
            302,
            f"{reverse('confirm')}?next=%2Faccounts%2Fapprovals%2F",
        )
        request.refresh_from_db()
        assert request.status == ApprovalRequest.Status.PENDING
        page = client.get(refused["Location"]).content.decode()
        assert "Confirm your identity, then press the button again." in page

        wrong = client.post(refused["Location"], {"password": "not-it"})
        assert wrong.status_code == 400 and "That is not your password." in wrong.content.decode()
        confirmed = client.post(refused["Location"], {"password": TEST_PASSWORD})
        assert (confirmed.status_code, confirmed["Location"]) == (302, "/accounts/approvals/")

        client.post(approve, headers={"Referer": APPROVALS})
        request.refresh_from_db()
        assert request.status == ApprovalRequest.Status.APPROVED
    recorded = list(SecurityEvent.objects.order_by("id").values_list("kind", flat=True))
    assert recorded == [SecurityEvent.Kind.SIGN_IN_FAILED, SecurityEvent.Kind.REAUTH]


@pytest.mark.parametrize(
    ("action", "state", "cause"), [("close", State.ACTIVE, ""), ("release_hold", State.EMPTY, "risk_hold")]
)
def test_closing_and_releasing_a_hold_want_a_fresh_password(client: Client, credit, action, state, cause) -> None:
    account = make_account(state, cause, steps=["sms_code"], activated=True)
    url = reverse("accounts:action", args=[account.number, action])
    form = {"reason": "customer asked", "version": account.version, "next": account.get_absolute_url()}
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.force_login(credit)
        clock.shift(LATER)
        response = client.post(url, form)
        assert response["Location"].startswith(reverse("confirm"))
        assert LoanAccount.objects.get(pk=account.pk).version == account.version
        assert not CoreCommand.objects.filter(account=account).exists()
        client.post(response["Location"], {"password": TEST_PASSWORD})
        client.post(url, form)
    # Done: closed at once (and core told), or the release asked of core banking.
    assert CoreCommand.objects.filter(account=account).exists()


def test_an_everyday_action_needs_no_confirmation(client: Client, credit) -> None:
    account = make_account(State.ACTIVE)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.force_login(credit)
        clock.shift(LATER)
        client.post(
            reverse("accounts:action", args=[account.number, "hold"]), {"reason": "alert", "version": account.version}
        )
    assert LoanAccount.objects.get(pk=account.pk).state == State.EMPTY


def test_a_re_drive_batch_wants_a_fresh_password(client: Client, tech) -> None:
    bulk_empty_accounts(2, EmptyCause.SYSTEM_CONFIG)
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.force_login(tech)
        clock.shift(LATER)
        response = client.post(reverse("redrive"), {"query": "state=empty&empty_cause=system_config"})
    assert response["Location"].startswith(reverse("confirm"))
    assert not ReactivationBatch.objects.exists()


def test_with_an_authenticator_the_confirmation_wants_a_code_too(client: Client, credit, credit2) -> None:
    account = held_high_risk_account()
    request = approval_request_create(account_id=account.pk, kind="release_hold", requested_by=credit, reason="ok")
    device = authenticator_for(credit2)
    confirm = f"{reverse('confirm')}?next=/accounts/approvals/"
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.force_login(credit2)
        pass_second_step(client, device)
        clock.shift(LATER)
        assert "Code from your authenticator app" in client.get(confirm).content.decode()
        assert client.post(confirm, {"password": TEST_PASSWORD}).status_code == 400
        assert client.post(confirm, {"password": TEST_PASSWORD, "code": "000000"}).status_code == 400
        assert client.post(confirm, {"password": TEST_PASSWORD, "code": code_for(device)}).status_code == 302
        client.post(reverse("accounts:approval_decide", args=[request.pk, "approve"]))
    request.refresh_from_db()
    assert request.status == ApprovalRequest.Status.APPROVED
    assert SecurityEvent.objects.filter(kind=SecurityEvent.Kind.SECOND_FACTOR_FAILED).count() == 1


def test_the_confirm_page_goes_back_only_to_this_site(client: Client, credit) -> None:
    client.force_login(credit)
    response = client.post(f"{reverse('confirm')}?next=https://evil.example/", {"password": TEST_PASSWORD})
    assert response["Location"] == "/"


def test_setting_up_an_authenticator_from_the_profile_wants_a_fresh_password(client: Client, credit) -> None:
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.force_login(credit)
        clock.shift(LATER)
        response = client.get(reverse("second_factor_enrol"))
        assert response["Location"].startswith(reverse("confirm"))
        client.post(response["Location"], {"password": TEST_PASSWORD})
        assert b"<svg" in client.get(reverse("second_factor_enrol")).content


def test_the_admin_asks_for_a_fresh_password_before_closing_an_account(client: Client, admin_user) -> None:
    account = make_account(State.ACTIVE)
    url = reverse("admin:accounts_loanaccount_transition", args=[account.pk, "close"])
    with time_machine.travel(timezone.now(), tick=False) as clock:
        client.force_login(admin_user)
        clock.shift(LATER)
        page = client.post(url, {"reason": "repaid"}, follow=True).content.decode()
        assert "Confirm your identity, then press the button again." in page and reverse("confirm") in page
        assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE
        client.post(f"{reverse('confirm')}?next=/admin/", {"password": TEST_PASSWORD})
        client.post(url, {"reason": "repaid"})
    assert LoanAccount.objects.get(pk=account.pk).state == State.CLOSED
