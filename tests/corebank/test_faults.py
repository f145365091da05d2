"""Fault injection: a core that is down, failing, slow, or missing a product on a channel."""

from __future__ import annotations

import httpx
import pytest

from tests.corebank.conftest import Api, Receiver, held, new_card, new_key
from tests.coreservice import CoreService, CoreServiceError


def test_a_core_that_is_down_answers_503_with_retry_after(api: Api, core: CoreService) -> None:
    card = new_card()
    core.set_faults(down=True)

    write = api.issue(card)
    read = api.call("GET", "/v1/cards")
    unsigned = httpx.get(f"{core.url}/v1/cards")

    for response in (write, read, unsigned):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json()["error_code"] == "CORE_DOWN"
    core.set_faults(down=False)
    assert core.card(card["token"]) is None
    assert api.issue(card).status_code == 201


def test_a_failing_core_answers_500_and_applies_nothing(api: Api, core: CoreService) -> None:
    card = new_card()
    api.issue(card)
    core.set_faults(failure_rate=1)
    key = new_key()

    failed = api.transition(card["token"], "ACTIVE", "00", key)
    read = api.call("GET", f"/v1/cards/{card['token']}")

    assert failed.status_code == 500
    assert failed.json()["error_code"] == "CB-5001"
    assert read.status_code == 200  # reads are not failed
    assert held(core, card["token"])["state"] == "UNACTIVATED"
    assert core.applications(key) == 0
    core.set_faults(failure_rate=0)
    retried = api.transition(card["token"], "ACTIVE", "00", key)
    assert retried.status_code == 201
    assert core.applications(key) == 1


def test_a_timed_out_command_is_applied_once_and_its_retry_gets_the_stored_answer(
    api: Api, core: CoreService, receiver: Receiver
) -> None:
    card = new_card()
    api.issue(card)
    core.set_faults(timeout_rate=1, timeout_seconds=2)
    key = new_key()
    body = {"card_token": card["token"], "state": "ACTIVE", "channel": "API", "reason_code": "00"}

    with pytest.raises(httpx.ReadTimeout):
        api.call("POST", "/v1/cardtransitions", body, key=key, timeout=0.5)
    retry = api.call("POST", "/v1/cardtransitions", body, key=key, timeout=0.5)

    assert retry.status_code == 201
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["state"] == "ACTIVE"
    assert core.applications(key) == 1
    assert receiver.wait_for(lambda: receiver.types(card["account_number"]) == ["card.issued", "card.activated"])


def test_a_channel_without_the_product_refuses_issue_and_activation(
    api: Api, core: CoreService, receiver: Receiver
) -> None:
    working = new_card(channel="Branch 12")
    issued_before = new_card(channel="Mobile app")
    api.issue(working)
    api.issue(issued_before)
    core.set_faults(config_fault_channels=["Mobile app"])
    refused_card = new_card(channel="Mobile app")
    key = new_key()

    refused_issue = api.issue(refused_card)
    refused_activation = api.transition(issued_before["token"], "ACTIVE", "00", key)
    retried_activation = api.transition(issued_before["token"], "ACTIVE", "00", key)
    other_channel = api.transition(working["token"], "ACTIVE", "00")

    for response in (refused_issue, refused_activation, retried_activation):
        assert response.status_code == 422
        assert response.json() == {
            "error_code": "CFG-CHANNEL-MISSING",
            "error_message": "product working_capital is not configured on channel Mobile app",
        }
    assert retried_activation.headers["idempotent-replayed"] == "true"
    assert other_channel.status_code == 201
    assert core.card(refused_card["token"]) is None
    assert held(core, issued_before["token"])["state"] == "UNACTIVATED"
    account = issued_before["account_number"]
    assert receiver.wait_for(lambda: len(receiver.of(account)) == 2)
    failed = receiver.of(account)[1]
    assert failed["type"] == "card.activation_failed"
    assert failed["idempotency_key"] == key
    assert failed["data"] == {
        "card_token": issued_before["token"],
        "error_code": "CFG-CHANNEL-MISSING",
        "error_message": "product working_capital is not configured on channel Mobile app",
    }
    assert len(core.events(account_number=account)) == 2  # the retry sent no second activation_failed
    assert not receiver.problems


def test_fault_settings_change_only_the_keys_given(core: CoreService) -> None:
    core.set_faults(latency_ms=5, config_fault_channels=["Branch 1"], seed=7)

    settings = core.set_faults(failure_rate=0.25)

    assert settings == {
        "down": False,
        "failure_rate": 0.25,
        "timeout_rate": 0.0,
        "timeout_seconds": 10.0,
        "latency_ms": 5,
        "config_fault_channels": ["Branch 1"],
        "seed": 7,
    }
    assert core.faults() == settings
    for bad in ({"failure_rate": 2}, {"down": "yes"}, {"colour": "red"}, {"config_fault_channels": "Branch 1"}):
        with pytest.raises(CoreServiceError, match="400"):
            core.set_faults(**bad)
    core.reset()
    assert core.faults()["failure_rate"] == 0


def test_a_seeded_failure_rate_repeats_the_same_failures(api: Api, core: CoreService) -> None:
    def run() -> list[int]:
        core.set_faults(failure_rate=0.5, seed=42)
        return [api.call("POST", "/v1/cards", new_card(), key=new_key()).status_code for _ in range(20)]

    first, second = run(), run()

    assert first == second
    assert set(first) == {201, 500}
