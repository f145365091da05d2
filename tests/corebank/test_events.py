"""Webhook delivery: nothing lost while the portal is down or core restarts, order kept per account."""

from __future__ import annotations

import socket
import time
from collections import Counter

from tests.corebank.conftest import FAST_RETRIES, Api, Receiver, new_card, start_core
from tests.coreservice import CoreService


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_events_wait_while_the_portal_refuses_and_arrive_in_order(
    api: Api, core: CoreService, receiver: Receiver
) -> None:
    receiver.mode = "down"
    cards = [new_card() for _ in range(3)]
    for card in cards:
        api.issue(card)
        api.transition(card["token"], "ACTIVE", "00")
        api.transition(card["token"], "SUSPENDED", "06")
        api.set_limit(card["token"], "1.00")
    assert receiver.wait_for(lambda: len(receiver.attempts) >= 6)
    issued = lambda: [e for e in core.events("pending") if e["type"] == "card.issued"]  # noqa: E731
    assert wait_until(lambda: all(e["attempts"] >= 2 for e in issued()))

    pending = core.events("pending")
    assert len(pending) == 12
    assert core.events("delivered") == []
    first = next(e for e in pending if e["attempts"])
    assert first["last_error"].startswith("HTTP 503")
    assert first["next_attempt_at"] is not None
    # Only the oldest event of each account was tried: the later ones wait behind it.
    assert {e["type"] for e in pending if e["attempts"]} == {"card.issued"}

    receiver.mode = "ok"
    assert receiver.wait_for(lambda: len(receiver.events) == 12)

    assert wait_until(lambda: len(core.events("delivered")) == 12)
    for card in cards:
        assert receiver.types(card["account_number"]) == [
            "card.issued",
            "card.activated",
            "card.suspended",
            "limit.changed",
        ]
    assert Counter(e["event_id"] for e in receiver.events).most_common(1)[0][1] == 1  # none twice
    assert {e["event_id"] for e in receiver.events} == {e["event_id"] for e in core.events()}  # none lost
    assert not receiver.problems


def test_a_duplicate_event_answer_counts_as_delivered(api: Api, core: CoreService, receiver: Receiver) -> None:
    receiver.mode = "duplicate"

    api.issue(new_card())

    assert wait_until(lambda: len(core.events("delivered")) == 1)
    assert core.events("delivered")[0]["attempts"] == 1


def test_a_restarted_service_resumes_pending_deliveries(tmp_path) -> None:
    port = free_port()  # nobody listens there yet: connections are refused
    core = start_core(tmp_path, f"http://127.0.0.1:{port}/api/core/events", extra_args=FAST_RETRIES)
    try:
        with Api(core) as api:
            cards = [new_card() for _ in range(2)]
            for card in cards:
                api.issue(card)
                api.transition(card["token"], "ACTIVE", "00")
        assert wait_until(lambda: any(e["attempts"] for e in core.events("pending")))
        assert "ConnectError" in next(e for e in core.events("pending") if e["attempts"])["last_error"]
        core.stop()

        receiver = Receiver(port=port)
        try:
            core.start()
            assert receiver.wait_for(lambda: len(receiver.events) == 4)
            for card in cards:
                assert receiver.types(card["account_number"]) == ["card.issued", "card.activated"]
            assert wait_until(lambda: core.stats()["events"] == {"pending": 0, "delivered": 4})
            assert not receiver.problems
        finally:
            receiver.close()
    finally:
        core.stop()


def test_failed_deliveries_back_off_from_one_second_doubling(tmp_path, receiver: Receiver) -> None:
    port = free_port()
    core = start_core(tmp_path, f"http://127.0.0.1:{port}/api/core/events")  # default backoff: 1 s doubling
    try:
        with Api(core) as api:
            api.issue(new_card())
        assert wait_until(lambda: core.events()[0]["attempts"] >= 2, timeout=5)
        event = core.events()[0]
        delay = event["next_attempt_at"] - time.time()
        # After the n-th failed attempt the next one is 2 ** (n - 1) seconds later: 1, 2, 4, ...
        assert 0 < delay <= 2 ** (event["attempts"] - 1)
        assert delay > 2 ** (event["attempts"] - 1) - 1.5
        assert "ConnectError" in event["last_error"]
        assert core.stats()["events"]["pending"] == 1
    finally:
        core.stop()
