"""Core applies an Idempotency-Key at most once, whatever the retries and races."""

from __future__ import annotations

import threading

import httpx

from tests.corebank.conftest import Api, Receiver, held, new_card, new_key
from tests.coreservice import CoreService


def test_the_same_key_twice_applies_once_and_replays_the_answer(api: Api, core: CoreService) -> None:
    card = new_card()
    key = new_key()

    first = api.issue(card, key)
    second = api.issue(card, key)

    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert core.applications(key) == 1
    assert core.idempotency(key) == {"key": key, "applications": 1, "replays": 1, "status_code": 201}


def test_the_same_key_with_another_body_is_refused(api: Api, core: CoreService) -> None:
    card = new_card()
    key = new_key()
    api.issue(card, key)

    other = api.issue({**card, "usable_limit": "1.00"}, key)
    other_operation = api.transition(card["token"], "ACTIVE", "00", key)

    assert other.status_code == other_operation.status_code == 422
    assert other.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"
    assert other_operation.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"
    assert held(core, card["token"])["usable_limit"] == card["usable_limit"]
    assert core.applications(key) == 1


def test_the_same_body_with_other_spacing_is_the_same_request(api: Api, core: CoreService) -> None:
    card = new_card()
    key = new_key()
    api.issue(card, key)

    spaced = api.call("POST", "/v1/cards", raw=b"  " + httpx.Request("POST", "/", json=card).content, key=key)

    assert spaced.status_code == 201
    assert spaced.headers["idempotent-replayed"] == "true"


def test_concurrent_requests_with_one_key_apply_once(api: Api, core: CoreService, receiver: Receiver) -> None:
    card = new_card()
    api.issue(card)
    key = new_key()
    body = {"card_token": card["token"], "state": "ACTIVE", "channel": "API", "reason_code": "00"}
    start = threading.Barrier(20)
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def send() -> None:
        with Api(core) as client:
            start.wait()
            response = client.call("POST", "/v1/cardtransitions", body, key=key)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert core.applications(key) == 1
    assert len(responses) == 20
    applied = [r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    replayed = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    in_use = [r for r in responses if r.status_code == 409 and r.json()["error_code"] == "IDEMPOTENCY_KEY_IN_USE"]
    assert len(applied) == 1
    assert len(applied) + len(replayed) + len(in_use) == 20
    assert all(r.json() == applied[0].json() for r in replayed)
    assert receiver.wait_for(lambda: "card.activated" in receiver.types(card["account_number"]))
    events = core.stats()["events"]  # read once: an event may move from pending to delivered between two reads
    assert events["pending"] + events["delivered"] == 2  # issued + one activation


def test_a_refusal_is_stored_under_its_key(api: Api, core: CoreService) -> None:
    card = new_card()
    key = new_key()

    too_early = api.transition(card["token"], "ACTIVE", "00", key)
    api.issue(card)
    retried = api.transition(card["token"], "ACTIVE", "00", key)

    assert too_early.status_code == retried.status_code == 404
    assert (
        retried.json()
        == too_early.json()
        == {
            "error_code": "CARD_NOT_FOUND",
            "error_message": f"no card with the token {card['token']}",
        }
    )
    assert retried.headers["idempotent-replayed"] == "true"
    assert held(core, card["token"])["state"] == "UNACTIVATED"


def test_a_request_refused_at_the_gate_does_not_use_up_its_key(api: Api, core: CoreService) -> None:
    card = new_card()
    key = new_key()

    unsigned = api.call("POST", "/v1/cards", card, key=key, secret="wrong")
    invalid = api.call("POST", "/v1/cards", {**card, "product": "mortgage"}, key=key)
    accepted = api.issue(card, key)

    assert (unsigned.status_code, invalid.status_code, accepted.status_code) == (401, 400, 201)
    assert core.applications(key) == 1
