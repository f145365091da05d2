"""Who may trigger which transition by hand: each role against each transition."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from accounts.models import CoreCommand, EmptyCause, LoanAccount, State
from accounts.services import Actor, account_decide, account_transition
from tests.factories import make_account

pytestmark = pytest.mark.django_db

START = {
    "issue": (State.APPROVED, ""),
    "begin_verification": (State.EMPTY, EmptyCause.CUSTOMER_INCOMPLETE),
    "activate": (State.ISSUED, ""),
    "fail_activation": (State.ISSUED, ""),
    "mark_stalled": (State.ISSUED, ""),
    "hold": (State.ACTIVE, ""),
    "release_hold": (State.EMPTY, EmptyCause.RISK_HOLD),
    "close": (State.ACTIVE, ""),
}
ALL_MANUAL = {"issue", "begin_verification", "activate", "fail_activation", "hold", "release_hold", "close"}
MAY = {
    "service": {"begin_verification"},
    "tech": {"activate", "fail_activation"},
    "credit": {"issue", "hold", "release_hold", "close"},
    "lead": ALL_MANUAL,
    "auditor": set(),
    "admin": ALL_MANUAL,
}
MATRIX = [(username, name) for username in MAY for name in START]


@pytest.mark.parametrize(("username", "transition_name"), MATRIX, ids=[f"{u}-{t}" for u, t in MATRIX])
def test_the_role_matrix(all_staff, username: str, transition_name: str) -> None:
    state, cause = START[transition_name]
    account = make_account(state, cause, steps=["sms_code"])
    actor = Actor.staff(all_staff[username])
    if transition_name in MAY[username]:
        decision = account_decide(account_id=account.pk, transition_name=transition_name, actor=actor, reason="by hand")
        # Applied at once, or asked of core banking (activating, releasing a hold): recorded either way.
        assert (LoanAccount.objects.get(pk=account.pk).state != state) == decision.applied
        assert decision.applied or decision.command is not None
        assert account.audit_entries.get().actor == all_staff[username]
    else:
        with pytest.raises(PermissionDenied):
            account_decide(account_id=account.pk, transition_name=transition_name, actor=actor, reason="by hand")
        assert LoanAccount.objects.get(pk=account.pk).version == account.version
        assert not CoreCommand.objects.filter(account=account).exists()


def test_a_lead_of_one_department_acts_only_for_it(db) -> None:
    from portal import roles
    from tests.factories import make_staff

    tech_lead = make_staff("techlead", roles.TEAM_LEAD, ["tech"])
    account = make_account(State.ACTIVE)
    with pytest.raises(PermissionDenied):
        account_transition(account_id=account.pk, transition_name="hold", actor=Actor.staff(tech_lead), reason="x")  # type: ignore[arg-type]


@pytest.mark.parametrize("username", sorted(MAY))
def test_the_page_offers_exactly_the_allowed_buttons(client: Client, all_staff, username: str) -> None:
    account = make_account(State.ACTIVE)
    client.force_login(all_staff[username])
    response = client.get(account.get_absolute_url())
    offered = {action.name for action in response.context["actions"]}
    expected = {"hold", "close"} & MAY[username]
    assert offered == expected


def test_staff_must_give_a_reason(credit) -> None:
    from accounts.services import AccountActionError

    account = make_account(State.ACTIVE)
    with pytest.raises(AccountActionError, match="Give a reason"):
        account_transition(account_id=account.pk, transition_name="hold", actor=Actor.staff(credit), reason="  ")


class TestTheActionView:
    """The write view's contract: POST only, login, role, and bad input changes nothing."""

    def url(self, account: LoanAccount, action: str = "hold") -> str:
        return reverse("accounts:action", args=[account.number, action])

    def test_it_refuses_get(self, client: Client, credit) -> None:
        client.force_login(credit)
        assert client.get(self.url(make_account(State.ACTIVE))).status_code == 405

    def test_it_sends_anonymous_visitors_to_login(self, client: Client) -> None:
        response = client.post(self.url(make_account(State.ACTIVE)), {"reason": "x", "version": 1})
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))

    def test_it_refuses_the_auditor(self, client: Client, auditor) -> None:
        account = make_account(State.ACTIVE)
        client.force_login(auditor)
        assert client.post(self.url(account), {"reason": "x", "version": account.version}).status_code == 403
        assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE

    def test_it_refuses_a_role_without_the_transition(self, client: Client, service) -> None:
        account = make_account(State.ACTIVE)
        client.force_login(service)
        assert client.post(self.url(account), {"reason": "x", "version": account.version}).status_code == 403
        assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE

    @pytest.mark.parametrize("action", ["hold", "release_hold", "activate"])
    def test_permission_comes_before_the_stale_copy_check(self, client: Client, service, action: str) -> None:
        """Someone who may not act is told so, not who changed the account since they loaded it."""
        state, cause = START[action]
        account = make_account(state, cause)
        LoanAccount.objects.filter(pk=account.pk).update(version=account.version + 3)
        client.force_login(service)
        response = client.post(self.url(account, action), {"reason": "x", "version": account.version})
        assert response.status_code == 403
        assert LoanAccount.objects.get(pk=account.pk).state == state

    def test_the_credit_review_refuses_others_before_the_stale_copy_check(self, client: Client, service) -> None:
        account = make_account(State.VERIFYING, tier="high")
        LoanAccount.objects.filter(pk=account.pk).update(version=account.version + 3)
        client.force_login(service)
        response = client.post(
            reverse("accounts:credit_review", args=[account.number]), {"reason": "x", "version": account.version}
        )
        assert response.status_code == 403
        assert LoanAccount.objects.get(pk=account.pk).credit_reviewed_at is None

    def test_it_explains_a_missing_reason_and_changes_nothing(self, client: Client, credit) -> None:
        account = make_account(State.ACTIVE)
        client.force_login(credit)
        response = client.post(self.url(account), {"reason": "", "version": account.version}, follow=True)
        assert "Give a reason: it goes into the account" in response.content.decode()
        assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE
        assert not account.audit_entries.exists()

    def test_it_answers_404_for_an_unknown_account(self, client: Client, credit) -> None:
        client.force_login(credit)
        assert client.post("/accounts/LA9999999999/actions/hold/", {"reason": "x", "version": 1}).status_code == 404

    def test_it_holds_the_account_with_the_reason(self, client: Client, credit) -> None:
        account = make_account(State.ACTIVE)
        client.force_login(credit)
        response = client.post(self.url(account), {"reason": "fraud alert", "version": account.version}, follow=True)
        assert "Done: the account is now Empty card." in response.content.decode()
        entry = account.audit_entries.get()
        assert (entry.transition, entry.reason, entry.actor, entry.channel) == ("hold", "fraud alert", credit, "web")
        command = CoreCommand.objects.get(account=account)  # core banking is told, in the same transaction
        assert (command.kind, command.status, command.body["state"], command.reason) == (
            "suspend",
            "pending",
            "SUSPENDED",
            "fraud alert",
        )
