"""Issuing cards, the state rules, limits, and the events each change sends to the portal."""

from __future__ import annotations

from typing import Any

from tests.corebank.conftest import Api, Receiver, held, new_card, new_key
from tests.coreservice import CoreService


def events_for(receiver: Receiver, account_number: str, count: int) -> list[dict[str, Any]]:
    assert receiver.wait_for(lambda: len(receiver.of(account_number)) >= count), receiver.of(account_number)
    assert not receiver.problems, receiver.problems
    return receiver.of(account_number)


def test_issuing_a_card_sends_a_signed_card_issued_event(api: Api, core: CoreService, receiver: Receiver) -> None:
    card = new_card()
    key = new_key()

    response = api.issue(card, key)

    assert response.status_code == 201
    issued = response.json()
    assert {k: issued[k] for k in card} == card
    assert issued["state"] == "UNACTIVATED"
    assert issued["activated_time"] is None
    assert issued["created_time"].endswith("Z")
    assert api.call("GET", f"/v1/cards/{card['token']}").json() == issued
    [event] = events_for(receiver, card["account_number"], 1)  # signature and shape checked by the receiver
    assert event["type"] == "card.issued"
    assert event["event_id"].startswith("evt_")
    assert event["idempotency_key"] == key
    assert event["data"] == {"card_token": card["token"], "state": "UNACTIVATED"}
    assert event["occurred_at"] == issued["created_time"]


def test_issuing_the_same_token_for_the_same_line_again_answers_the_card(api: Api, core: CoreService) -> None:
    card = new_card()
    first = api.issue(card)
    api.transition(card["token"], "ACTIVE", "00")

    again = api.issue(card)

    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["state"] == "ACTIVE"
    assert core.stats()["cards"]["total"] == 1


def test_a_token_or_an_account_already_used_is_taken(api: Api, core: CoreService) -> None:
    card = new_card()
    api.issue(card)

    same_token_other_account = api.issue(new_card(token=card["token"]))
    same_account_other_token = api.issue(new_card(account_number=card["account_number"]))

    assert same_token_other_account.status_code == same_account_other_token.status_code == 409
    assert same_token_other_account.json()["error_code"] == "CARD_TOKEN_TAKEN"
    assert same_account_other_token.json()["error_code"] == "CARD_TOKEN_TAKEN"
    assert core.stats()["cards"]["total"] == 1


def test_a_usable_limit_above_the_credit_limit_is_refused(api: Api, core: CoreService) -> None:
    card = new_card(credit_limit="1000.00", usable_limit="1000.01")

    response = api.issue(card)

    assert response.status_code == 422
    assert response.json()["error_code"] == "LIMIT_ABOVE_CREDIT_LIMIT"
    assert core.card(card["token"]) is None


def test_activation_suspension_reinstatement_and_termination(api: Api, core: CoreService, receiver: Receiver) -> None:
    card = new_card()
    token = card["token"]
    api.issue(card)
    key = new_key()

    activated = api.transition(token, "ACTIVE", "00", key)
    suspended = api.transition(token, "SUSPENDED", "06")
    reinstated = api.transition(token, "ACTIVE", "07")
    terminated = api.transition(token, "TERMINATED", "17")

    assert [(r.status_code, r.json()["previous_state"], r.json()["state"]) for r in (activated, suspended)] == [
        (201, "UNACTIVATED", "ACTIVE"),
        (201, "ACTIVE", "SUSPENDED"),
    ]
    assert (reinstated.json()["previous_state"], reinstated.json()["state"]) == ("SUSPENDED", "ACTIVE")
    assert (terminated.json()["previous_state"], terminated.json()["state"]) == ("ACTIVE", "TERMINATED")
    assert activated.json()["card_token"] == token and activated.json()["reason_code"] == "00"
    events = events_for(receiver, card["account_number"], 5)
    assert [e["type"] for e in events] == [
        "card.issued",
        "card.activated",
        "card.suspended",
        "card.reinstated",
        "card.terminated",
    ]
    assert events[1]["idempotency_key"] == key
    assert events[1]["data"] == {"card_token": token, "state": "ACTIVE", "reason_code": "00"}
    assert events[3]["data"] == {"card_token": token, "state": "ACTIVE", "reason_code": "07"}
    assert held(core, token)["activated_time"] is not None


def test_reinstating_a_never_activated_card_returns_it_to_unactivated(
    api: Api, core: CoreService, receiver: Receiver
) -> None:
    card = new_card()
    api.issue(card)
    api.transition(card["token"], "SUSPENDED", "06")

    reinstated = api.transition(card["token"], "ACTIVE", "07")

    assert reinstated.status_code == 201
    assert (reinstated.json()["previous_state"], reinstated.json()["state"]) == ("SUSPENDED", "UNACTIVATED")
    assert held(core, card["token"])["activated_time"] is None
    events = events_for(receiver, card["account_number"], 3)
    assert events[-1]["type"] == "card.reinstated"
    assert events[-1]["data"]["state"] == "UNACTIVATED"
    assert api.transition(card["token"], "ACTIVE", "00").json()["state"] == "ACTIVE"  # a real activation now


def test_a_card_suspended_inside_core_is_reinstated_to_the_state_it_had(api: Api, core: CoreService) -> None:
    card = new_card()
    api.issue(card)
    api.transition(card["token"], "ACTIVE", "00")
    core.set_card_state(card["token"], "SUSPENDED")

    reinstated = api.transition(card["token"], "ACTIVE", "07")

    assert reinstated.json()["state"] == "ACTIVE"


def test_invalid_transitions_are_refused(api: Api, core: CoreService) -> None:
    card = new_card()
    api.issue(card)
    api.transition(card["token"], "TERMINATED", "17")

    to_active = api.transition(card["token"], "ACTIVE", "00")
    to_suspended = api.transition(card["token"], "SUSPENDED", "06")
    limit = api.set_limit(card["token"], "1.00")

    for response in (to_active, to_suspended, limit):
        assert response.status_code == 409, response.text
        assert response.json()["error_code"] == "INVALID_TRANSITION"
    assert held(core, card["token"])["state"] == "TERMINATED"


def test_asking_for_the_current_state_changes_nothing(api: Api, core: CoreService, receiver: Receiver) -> None:
    card = new_card()
    api.issue(card)
    api.transition(card["token"], "ACTIVE", "00")
    seq = held(core, card["token"])["seq"]

    again = api.transition(card["token"], "ACTIVE", "00")

    assert again.status_code == 201
    assert again.json()["previous_state"] == again.json()["state"] == "ACTIVE"
    assert held(core, card["token"])["seq"] == seq
    assert receiver.wait_for(lambda: len(receiver.of(card["account_number"])) == 2)
    assert [e["type"] for e in core.events(account_number=card["account_number"])] == ["card.issued", "card.activated"]


def test_an_unknown_card_is_not_found(api: Api) -> None:
    for response in (
        api.transition("tok_unknown", "ACTIVE", "00"),
        api.set_limit("tok_unknown", "1.00"),
        api.call("GET", "/v1/cards/tok_unknown"),
    ):
        assert response.status_code == 404
        assert response.json()["error_code"] == "CARD_NOT_FOUND"


def test_setting_the_usable_limit_sends_limit_changed(api: Api, core: CoreService, receiver: Receiver) -> None:
    card = new_card(credit_limit="500000.00", usable_limit="100000.00")
    api.issue(card)
    key = new_key()

    response = api.set_limit(card["token"], "250000.00", key)
    same_again = api.set_limit(card["token"], "250000.00")

    assert response.status_code == same_again.status_code == 200
    assert response.json()["usable_limit"] == "250000.00"
    assert response.json()["credit_limit"] == "500000.00"
    events = events_for(receiver, card["account_number"], 2)
    assert events[-1]["type"] == "limit.changed"
    assert events[-1]["idempotency_key"] == key
    assert events[-1]["data"] == {"card_token": card["token"], "usable_limit": "250000.00", "credit_limit": "500000.00"}
    assert len(core.events(account_number=card["account_number"])) == 2  # the unchanged limit sent nothing


def test_a_limit_above_the_credit_limit_is_refused(api: Api, core: CoreService) -> None:
    card = new_card(credit_limit="500000.00", usable_limit="100000.00")
    api.issue(card)

    response = api.set_limit(card["token"], "500000.01")

    assert response.status_code == 422
    assert response.json()["error_code"] == "LIMIT_ABOVE_CREDIT_LIMIT"
    assert held(core, card["token"])["usable_limit"] == "100000.00"


def test_changes_decided_inside_core_send_their_events(api: Api, core: CoreService, receiver: Receiver) -> None:
    card = new_card()
    account = card["account_number"]
    approved = core.approve_line(account, channel="Branch 12")
    api.issue(card)
    core.complete_step(account, "sms_code")
    core.set_card_state(card["token"], "ACTIVE")
    core.set_card_state(card["token"], "SUSPENDED", reason_code="06")
    core.set_card_state(card["token"], "UNACTIVATED")  # core and portal now disagree, silently

    events = events_for(receiver, account, 5)

    assert [e["type"] for e in events] == [
        "loan.approved",
        "card.issued",
        "verification.step_completed",
        "card.activated",
        "card.suspended",
    ]
    assert events[0]["event_id"] == approved["event_id"]
    assert events[0]["data"]["line"] == {
        "product": "working_capital",
        "channel": "Branch 12",
        "approved_limit": "1000000.00",
    }
    assert "idempotency_key" not in events[0]
    assert events[2]["data"] == {"step": "sms_code"}
    assert held(core, card["token"])["state"] == "UNACTIVATED"
    assert len(core.events(account_number=account)) == 5
