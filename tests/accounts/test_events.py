"""Events from core banking (POST /api/core/events): signed, checked against the contract, applied once."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from accounts.delivery import commands_deliver
from accounts.models import AuditEntry, CoreCommand, CoreEvent, Customer, LoanAccount, State
from accounts.services import Actor, account_step_record
from accounts.signatures import sign
from casework.models import Case
from tests.factories import credit_code, make_account

pytestmark = pytest.mark.django_db
SECRET = "test-webhook-secret"
JOB = Actor.system("test", "job")


@pytest.fixture(autouse=True)
def _webhook_secret(settings) -> None:
    settings.CORE_WEBHOOK_SECRETS = [SECRET]


def post_event(client: Client, payload: Any = None, *, secret: str = SECRET, raw: bytes | None = None, at=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    return client.post(
        reverse("core_events"),
        data=body,
        content_type="application/json",
        headers={"X-Core-Signature": sign(body, secret, now=at)},
    )


_ids = iter(range(1, 10_000))


def event(event_type: str, account: LoanAccount | str, data: dict[str, Any] | None = None, **extra: Any) -> dict:
    number = account if isinstance(account, str) else account.number
    token = "" if isinstance(account, str) else account.card_token
    body = {
        "event_id": f"evt_{next(_ids)}",
        "type": event_type,
        "occurred_at": "2026-12-02T08:30:00Z",
        "account_number": number,
        "data": data if data is not None else {"card_token": token, "state": "ACTIVE"},
    }
    body.update(extra)
    return body


def approved_line(number: str = "LA8000000001", *, tier: str = "low", code: str | None = None) -> dict[str, Any]:
    return event(
        "loan.approved",
        number,
        {
            "customer": {
                "credit_code": code or credit_code(4242),
                "name": "成都锦江精密机械有限公司",
                "contact_name": "王芳",
                "contact_mobile": "13812345678",
                "email": "finance@jinjiang.example",
                "risk_tier": tier,
                "credit_score": 720,
            },
            "line": {"product": "working_capital", "channel": "成都锦江支行", "approved_limit": "2000000.00"},
        },
    )


# --- what is refused ---------------------------------------------------------------------


def test_it_refuses_a_missing_wrong_or_stale_signature_and_writes_nothing(client: Client) -> None:
    account = make_account(State.VERIFYING, steps=["sms_code"])
    payload = event("card.activated", account)
    body = json.dumps(payload).encode()
    unsigned = client.post(reverse("core_events"), data=body, content_type="application/json")
    wrong = post_event(client, payload, secret="not-the-secret")
    stale = post_event(client, payload, at=time.time() - 301)
    future = post_event(client, payload, at=time.time() + 301)
    assert [r.status_code for r in (unsigned, wrong, stale, future)] == [401, 401, 401, 401]
    assert [r.json()["error_code"] for r in (unsigned, wrong, stale, future)] == [
        "SIGNATURE_MISSING",
        "SIGNATURE_INVALID",
        "SIGNATURE_EXPIRED",
        "SIGNATURE_EXPIRED",
    ]
    assert "more than 300 seconds" in stale.json()["error_message"]
    assert LoanAccount.objects.get(pk=account.pk).state == State.VERIFYING
    assert not CoreEvent.objects.exists()


def test_it_accepts_either_secret_while_one_is_rotated(client: Client, settings) -> None:
    settings.CORE_WEBHOOK_SECRETS = ["the-new-secret", SECRET]
    first, second = make_account(State.VERIFYING, steps=["sms_code"]), make_account(State.VERIFYING, steps=["sms_code"])
    assert post_event(client, event("card.activated", first), secret="the-new-secret").status_code == 200
    assert post_event(client, event("card.activated", second), secret=SECRET).status_code == 200


def test_it_answers_413_in_json_for_a_body_over_one_megabyte(client: Client) -> None:
    huge = b'{"event_id": "' + b"x" * 3_000_000 + b'"}'
    response = post_event(client, raw=huge)
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"
    assert response.json()["error_code"] == "TOO_LARGE"
    at_the_limit = b" " * (1_048_576 - 2) + b"{}"
    assert post_event(client, raw=at_the_limit).status_code == 400  # read whole, then refused for its content


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        (b"{not json", "MALFORMED_JSON", "not valid JSON"),
        (b"\xff\xfe", "MALFORMED_JSON", "not UTF-8 text (byte 1 is 0xff)"),
        (b"[1, 2]", "INVALID_REQUEST", "JSON object"),
        (b'{"type": "card.exploded"}', "UNKNOWN_TYPE", "type must be one of loan.approved, card.issued"),
        (
            b'{"event_id": "e1", "type": "card.activated", "occurred_at": "2026-12-02T08:30:00Z", "data": {}}',
            "INVALID_REQUEST",
            "'account_number' is a required property",
        ),
        (
            b'{"event_id": "e1", "type": "card.activated", "occurred_at": "yesterday",'
            b' "account_number": "LA0000000001", "data": {"card_token": "t", "state": "ACTIVE"}}',
            "INVALID_REQUEST",
            "occurred_at",
        ),
        (
            b'{"event_id": "e1", "type": "verification.step_completed", "occurred_at": "2026-12-02T08:30:00Z",'
            b' "account_number": "LA0000000001", "data": {"step": "dna"}}',
            "INVALID_REQUEST",
            "data/step",
        ),
        (
            b'{"event_id": "e\\u0000", "type": "card.activated", "occurred_at": "2026-12-02T08:30:00Z",'
            b' "account_number": "LA0000000001", "data": {"card_token": "t", "state": "ACTIVE"}}',
            "INVALID_REQUEST",
            "event_id: control characters",
        ),
        (
            b'{"event_id": "e1", "type": "card.activated", "occurred_at": "2026-12-02T08:30:00Z",'
            b' "account_number": "LA00000\\u000000001", "data": {"card_token": "t", "state": "ACTIVE"}}',
            "INVALID_REQUEST",
            "account_number: control characters",
        ),
        (
            b'{"event_id": "e1", "type": "card.activation_failed", "occurred_at": "2026-12-02T08:30:00Z",'
            b' "account_number": "LA0000000001", "data": {"card_token": "t", "error_code": "CFG\\u0000"}}',
            "INVALID_REQUEST",
            "data/error_code: control characters",
        ),
    ],
)
def test_it_answers_400_naming_what_is_wrong_and_writes_nothing(
    client: Client, raw: bytes, code: str, message: str
) -> None:
    account = make_account(State.VERIFYING, steps=["sms_code"], number="LA0000000001")
    response = post_event(client, raw=raw)
    assert response.status_code == 400
    assert response.json()["error_code"] == code
    assert message in response.json()["error_message"]
    assert not CoreEvent.objects.exists()
    assert LoanAccount.objects.get(pk=account.pk).state == State.VERIFYING


def test_it_refuses_a_wrongly_typed_field(client: Client) -> None:
    payload = approved_line()
    payload["data"]["customer"]["credit_score"] = "720"
    response = post_event(client, payload)
    assert response.status_code == 400
    assert response.json()["error_message"].startswith("data/customer/credit_score: '720' is not of type 'integer'")
    assert not Customer.objects.exists()


def test_it_answers_404_for_an_unknown_account(client: Client) -> None:
    response = post_event(client, event("card.activated", "LA0404040404", {"card_token": "x", "state": "ACTIVE"}))
    assert response.status_code == 404
    assert response.json() == {"error_code": "UNKNOWN_ACCOUNT", "error_message": "No account LA0404040404."}


def test_a_replayed_event_is_refused_and_applied_once(client: Client) -> None:
    account = make_account(State.VERIFYING, steps=["sms_code"])
    payload = event("card.activated", account)
    assert post_event(client, payload).json()["status"] == "applied"
    replay = post_event(client, payload)
    assert replay.status_code == 409
    assert replay.json()["error_code"] == "DUPLICATE_EVENT"
    assert CoreEvent.objects.count() == 1
    assert AuditEntry.objects.filter(account=account, transition="activate").count() == 1


def test_it_is_post_only(client: Client) -> None:
    assert client.get(reverse("core_events")).status_code == 405


# --- loan.approved -------------------------------------------------------------------------


def test_an_approved_low_risk_line_is_created_and_its_card_asked_for_at_once(client: Client) -> None:
    response = post_event(client, approved_line("LA8000000001", tier="low"))
    assert response.status_code == 200
    assert response.json()["outcome"] == "account created; card issue sent to core banking"
    account = LoanAccount.objects.select_related("customer").get(number="LA8000000001")
    assert (account.state, account.customer.name, account.channel) == (
        State.ISSUED,
        "成都锦江精密机械有限公司",
        "成都锦江支行",
    )
    issue = CoreCommand.objects.get(account=account)
    assert (issue.kind, issue.body["account_number"], issue.body["credit_limit"]) == (
        "issue",
        "LA8000000001",
        "2000000.00",
    )
    assert AuditEntry.objects.get(account=account).actor_name == "risk policy"


def test_an_approved_high_risk_line_waits_for_a_credit_officer(client: Client) -> None:
    response = post_event(client, approved_line("LA8000000002", tier="high"))
    assert response.json()["outcome"] == "account created; a credit officer issues the card (high risk)"
    account = LoanAccount.objects.get(number="LA8000000002")
    assert account.state == State.APPROVED
    assert not CoreCommand.objects.exists()


def test_a_second_approval_of_the_same_line_updates_it(client: Client) -> None:
    post_event(client, approved_line("LA8000000003", tier="high"))
    again = approved_line("LA8000000003", tier="high")
    again["data"]["line"]["approved_limit"] = "3000000.00"
    assert post_event(client, again).json()["outcome"] == "account updated"
    assert str(LoanAccount.objects.get(number="LA8000000003").approved_limit) == "3000000.00"


def test_an_approved_line_with_a_bad_credit_code_is_refused(client: Client) -> None:
    code = credit_code(4242)
    bad = code[:17] + ("0" if code[17] != "0" else "1")
    response = post_event(client, approved_line(code=bad))
    assert response.status_code == 400
    assert "credit_code: This unified social credit code fails its check digit" in response.json()["error_message"]
    assert not LoanAccount.objects.exists() and not Customer.objects.exists()


# --- card events ---------------------------------------------------------------------------


def test_an_event_answering_our_command_completes_it_once(client: Client) -> None:
    account = make_account(State.VERIFYING, steps=["sms_code"])
    account_step_record(account_id=account.pk, step="sms_code", actor=JOB)  # all done: core is asked
    command = CoreCommand.objects.get(account=account, kind="activate")
    response = post_event(client, event("card.activated", account, idempotency_key=command.idempotency_key))
    assert response.json() == {
        "event_id": response.json()["event_id"],
        "status": "applied",
        "outcome": f"confirmed command #{command.pk} (activate)",
    }
    command.refresh_from_db()
    assert (command.status, (command.response or {})["via"]) == ("done", f"event {response.json()['event_id']}")
    assert LoanAccount.objects.get(pk=account.pk).state == State.ACTIVE
    assert commands_deliver().claimed == 0  # nothing left to send
    assert AuditEntry.objects.filter(account=account, transition="activate").count() == 1


def test_core_activating_a_card_by_itself_activates_the_account(client: Client) -> None:
    account = make_account(State.ISSUED, steps=["sms_code"])
    response = post_event(client, event("card.activated", account))
    assert response.json()["status"] == "applied"
    entry = AuditEntry.objects.get(account=account, transition="activate")
    assert (entry.channel, entry.actor_name, entry.details["core"]) == (
        "webhook",
        "core banking",
        f"event {response.json()['event_id']}",
    )


def test_an_activation_the_desk_cannot_follow_opens_a_tech_case(client: Client) -> None:
    account = make_account(State.VERIFYING, tier="medium", steps=["sms_code"])
    response = post_event(client, event("card.activated", account))
    assert response.json()["status"] == "case_opened"
    case = Case.objects.get(account=account)
    assert (case.cause, case.department_id) == ("core_sync", "tech")
    assert "still missing Password set" in case.events.get().text
    assert LoanAccount.objects.get(pk=account.pk).state == State.VERIFYING


def test_a_failed_activation_empties_the_account_with_its_code(client: Client) -> None:
    account = make_account(State.VERIFYING)
    data = {"card_token": account.card_token, "error_code": "CFG-CHANNEL-MISSING", "error_message": "not configured"}
    assert post_event(client, event("card.activation_failed", account, data)).json()["status"] == "applied"
    account.refresh_from_db()
    assert (account.state, account.empty_cause, account.last_error_code) == (
        "empty",
        "system_config",
        "CFG-CHANNEL-MISSING",
    )
    case = Case.objects.get(account=account)
    assert "CFG-CHANNEL-MISSING not configured" in case.events.get().text


def test_a_card_core_suspends_puts_the_line_on_hold_for_credit(client: Client) -> None:
    account = make_account(State.ACTIVE)
    data = {"card_token": account.card_token, "state": "SUSPENDED", "reason_code": "06"}
    assert post_event(client, event("card.suspended", account, data)).json()["status"] == "applied"
    account.refresh_from_db()
    assert (account.state, account.empty_cause, account.card_state) == ("empty", "risk_hold", "SUSPENDED")
    assert Case.objects.get(account=account).department_id == "credit"
    assert not CoreCommand.objects.filter(account=account).exists()  # core decided it: nothing to send back


def test_a_reinstatement_while_the_line_is_held_here_opens_a_case(client: Client) -> None:
    account = make_account(State.EMPTY, "risk_hold", activated=True)
    data = {"card_token": account.card_token, "state": "ACTIVE"}
    response = post_event(client, event("card.reinstated", account, data))
    assert response.json()["status"] == "case_opened"
    assert LoanAccount.objects.get(pk=account.pk).on_hold


def test_a_terminated_card_closes_the_account(client: Client) -> None:
    account = make_account(State.ACTIVE)
    data = {"card_token": account.card_token, "state": "TERMINATED"}
    assert post_event(client, event("card.terminated", account, data)).json()["status"] == "applied"
    assert LoanAccount.objects.get(pk=account.pk).state == State.CLOSED


def test_a_lower_limit_is_followed_and_a_higher_one_opens_a_case(client: Client) -> None:
    account = make_account(State.ACTIVE)  # released 1,000,000
    lower = {"card_token": account.card_token, "usable_limit": "400000.00", "credit_limit": "1000000.00"}
    assert post_event(client, event("limit.changed", account, lower)).json()["status"] == "applied"
    assert str(LoanAccount.objects.get(pk=account.pk).released_limit) == "400000.00"
    higher = {"card_token": account.card_token, "usable_limit": "900000.00", "credit_limit": "1000000.00"}
    assert post_event(client, event("limit.changed", account, higher)).json()["status"] == "case_opened"
    assert str(LoanAccount.objects.get(pk=account.pk).released_limit) == "400000.00"


def test_a_step_done_in_core_is_recorded_and_activation_follows(client: Client) -> None:
    account = make_account(State.VERIFYING, tier="medium", steps=["sms_code"])
    response = post_event(client, event("verification.step_completed", account, {"step": "password"}))
    assert response.json()["status"] == "applied"
    account.refresh_from_db()
    assert account.password_set_at is not None
    assert CoreCommand.objects.get(account=account).kind == "activate"


def test_an_issued_event_for_an_approved_line_issues_it(client: Client) -> None:
    account = make_account(State.APPROVED)  # the desk never asked: core issued the card on its own
    data = {"card_token": "CORE-TOKEN-1", "state": "UNACTIVATED"}
    assert post_event(client, event("card.issued", account, data)).json()["status"] == "applied"
    account.refresh_from_db()
    assert (account.state, account.card_state) == (State.ISSUED, "UNACTIVATED")
    assert account.card_token == "CORE-TOKEN-1"
    assert not CoreCommand.objects.filter(account=account, kind="issue").exists()


@pytest.mark.parametrize(
    "header",
    ["t=²,v1=" + "a" * 64, "t=1,v1=é" + "a" * 63, "v1=" + "a" * 64, "t=" + "9" * 40 + ",v1=x", "garbage", "t=,v1="],
)
def test_a_crafted_signature_header_is_a_401_never_a_500(client: Client, header: str) -> None:
    response = client.post(
        reverse("core_events"), data=b"{}", content_type="application/json", headers={"X-Core-Signature": header}
    )
    assert response.status_code == 401
    assert response.json()["error_code"] == "SIGNATURE_INVALID"
