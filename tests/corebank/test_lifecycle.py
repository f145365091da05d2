"""Starting and stopping the process: the start line, and a prompt clean stop on SIGTERM."""

from __future__ import annotations

import re
import signal
import threading
import time
from pathlib import Path

import httpx

from tests.corebank.conftest import Api, Receiver, new_card, new_key, start_core


def test_sigterm_stops_the_service_promptly_even_while_an_answer_is_held(tmp_path: Path, receiver: Receiver) -> None:
    core = start_core(tmp_path, receiver.url)
    process = core.process
    assert process is not None
    output = core.output()
    assert re.search(rf"corebank: listening on {re.escape(core.url)} .*; events to {re.escape(receiver.url)}", output)
    api = Api(core)
    card = new_card()
    api.issue(card)
    core.set_faults(timeout_rate=1, timeout_seconds=60)
    answers: list[int] = []

    def held_request() -> None:
        body = {"card_token": card["token"], "state": "SUSPENDED", "channel": "API", "reason_code": "06"}
        try:
            answers.append(api.call("POST", "/v1/cardtransitions", body, key=new_key(), timeout=30).status_code)
        except httpx.HTTPError:
            answers.append(0)

    client = threading.Thread(target=held_request)
    client.start()
    time.sleep(0.5)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=10)
    stopped_in = time.monotonic() - started
    client.join(10)
    api.close()
    core.stop()

    assert code == 0
    assert stopped_in < 5
    assert core.output().rstrip().endswith("corebank: stopped")
    assert answers == [201]  # the held answer is sent, not dropped
