"""The portal's client of the core-banking contract: what it sends, and how it reads core's answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

from accounts.contract import spec_path
from accounts.gateway import (
    SIMULATED,
    CoreRequest,
    GatewayError,
    HttpGateway,
    PermanentGatewayError,
    SimulatedGateway,
    TransientGatewayError,
)
from accounts.models import CoreCommand, State
from accounts.outbox import core_request
from accounts.signatures import verify
from tests.factories import make_account

BASE = "http://core.test"
CARD = {
    "token": "CARD-LA0000000001",
    "account_number": "LA0000000001",
    "state": "ACTIVE",
    "product": "working_capital",
    "channel": "Online banking",
    "credit_limit": "1000000.00",
    "usable_limit": "300000.00",
    "created_time": "2026-12-02T08:30:00Z",
    "last_modified_time": "2026-12-02T08:31:00Z",
    "activated_time": None,
}


class OpenAPIRequest:
    """An httpx request as openapi-core reads requests."""

    def __init__(self, request: httpx.Request) -> None:
        self.request = request
        url = urlsplit(str(request.url))
        self.host_url = "http://127.0.0.1:8001"  # the contract's server
        self.path = url.path
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(url.query)), header=Headers(dict(request.headers))
        )

    @property
    def method(self) -> str:
        return self.request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self.request.content or None

    @property
    def content_type(self) -> str:
        return self.request.headers.get("content-type", "")


def gateway(answer: Callable[[httpx.Request], httpx.Response], sent: list[httpx.Request] | None = None) -> HttpGateway:
    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        if sent is not None:
            sent.append(request)
        return answer(request)

    return HttpGateway(BASE, timeout=2, transport=httpx.MockTransport(handler))


def ok(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/cardtransitions":
        body = json.loads(request.content)
        transition = {
            "card_token": body["card_token"],
            "state": body["state"],
            "previous_state": "UNACTIVATED",
            "reason_code": body["reason_code"],
            "created_time": "2026-12-02T08:31:00Z",
        }
        return httpx.Response(201, json=transition)
    if request.method == "GET" and request.url.path == "/v1/cards":
        return httpx.Response(200, json={"count": 1, "data": [CARD], "next_cursor": "17", "is_more": False})
    return httpx.Response(200, json=CARD)


@pytest.mark.django_db
def test_every_request_the_client_sends_follows_the_contract() -> None:
    contract = OpenAPI.from_file_path(str(spec_path()))
    sent: list[httpx.Request] = []
    client = gateway(ok, sent)
    account = make_account(State.ACTIVE, tier="high", card_token="CARD-LA0000000001")
    for kind in CoreCommand.Kind:
        method, path, body = core_request(
            account, kind, reason="Risk alert\x00 from the bureau\n" + "x" * 400, usable_limit=Decimal("600000")
        )
        client.send(CoreRequest(method, path, body, idempotency_key="0123456789abcdef0123456789abcdef"))
    client.card("CARD-LA0000000001")
    client.changed_cards("0", 5000)
    assert len(sent) == len(CoreCommand.Kind) + 2
    for request in sent:
        contract.validate_request(OpenAPIRequest(request))  # raises on anything the contract does not allow


@pytest.mark.django_db
def test_it_signs_each_request_and_sends_the_idempotency_key(settings) -> None:
    settings.CORE_API_SECRETS = ["the-current-secret", "the-old-one"]
    sent: list[httpx.Request] = []
    gateway(ok, sent).send(CoreRequest("POST", "/v1/cardtransitions", {"card_token": "T", "state": "ACTIVE",
                                                                       "channel": "API", "reason_code": "00"},
                                       idempotency_key="key-0001-of-a-decision"))  # fmt: skip
    gateway(ok, sent).card("T")
    write, read = sent
    assert write.headers["Idempotency-Key"] == "key-0001-of-a-decision"
    verify(write.headers["X-Core-Signature"], write.content, ["the-current-secret"])
    verify(read.headers["X-Core-Signature"], b"", ["the-current-secret"])  # a GET signs "<t>."
    assert "Idempotency-Key" not in read.headers


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (500, {"error_code": "CB-5001", "error_message": "core failed"}, TransientGatewayError, "CB-5001"),
        (503, {"error_code": "CORE_DOWN", "error_message": "down"}, TransientGatewayError, "CORE_DOWN"),
        (429, {}, TransientGatewayError, "HTTP-429"),
        (409, {"error_code": "IDEMPOTENCY_KEY_IN_USE", "error_message": "busy"}, TransientGatewayError, None),
        (409, {"error_code": "INVALID_TRANSITION", "error_message": "no"}, PermanentGatewayError, None),
        (422, {"error_code": "CFG-CHANNEL-MISSING", "error_message": "not on channel"}, PermanentGatewayError, None),
        (404, {"error_code": "CARD_NOT_FOUND", "error_message": "no card"}, PermanentGatewayError, None),
    ],
)
def test_it_tells_a_refusal_from_a_failure_worth_retrying(
    settings, status: int, body: dict[str, Any], kind: type, code: str | None
) -> None:
    settings.CORE_API_SECRETS = ["s"]
    client = gateway(lambda request: httpx.Response(status, json=body))
    with pytest.raises(GatewayError) as caught:
        client.send(CoreRequest("POST", "/v1/cards", {"token": "T"}, idempotency_key="k" * 8))
    assert type(caught.value) is kind
    assert caught.value.code == (code or body["error_code"])
    assert caught.value.status == status


def test_timeouts_garbled_answers_and_an_unreachable_core_are_worth_retrying(settings) -> None:
    settings.CORE_API_SECRETS = ["s"]

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(TransientGatewayError) as slow:
        gateway(timeout).send(CoreRequest("POST", "/v1/cards", {}, idempotency_key="k" * 8))
    assert slow.value.code == "CB-TIMEOUT"
    with pytest.raises(TransientGatewayError) as garbled:
        gateway(lambda request: httpx.Response(200, text="<html>proxy error</html>")).card("T")
    assert garbled.value.code == "CB-BAD-RESPONSE"
    with pytest.raises(TransientGatewayError) as refused:
        HttpGateway("http://127.0.0.1:9", timeout=1).card("T")  # nothing listens on the discard port
    assert refused.value.code == "CB-UNREACHABLE"


def test_it_reads_a_card_a_missing_card_and_a_page_of_changes(settings) -> None:
    settings.CORE_API_SECRETS = ["s"]
    client = gateway(ok)
    card = client.card("CARD-LA0000000001")
    assert card is not None and (card.state, card.usable_limit) == ("ACTIVE", Decimal("300000.00"))
    missing = gateway(lambda request: httpx.Response(404, json={"error_code": "CARD_NOT_FOUND", "error_message": ""}))
    assert missing.card("nope") is None
    page = client.changed_cards("0", 5000)
    assert (len(page.cards), page.next_cursor, page.is_more) == (1, "17", False)


def transition(state: str, reason_code: str, key: str) -> CoreRequest:
    body = {"card_token": "T1", "state": state, "channel": "API", "reason_code": reason_code}
    return CoreRequest("POST", "/v1/cardtransitions", body, idempotency_key=key)


def test_the_in_process_stand_in_applies_a_key_once_and_keeps_the_contracts_rules() -> None:
    core = SimulatedGateway()
    issue = CoreRequest("POST", "/v1/cards", {"token": "T1", "account_number": "LA0000000009", "product": "x",
                                              "channel": "c", "credit_limit": "10.00", "usable_limit": "3.00"},
                        idempotency_key="issue-key-1")  # fmt: skip
    assert core.send(issue).status == 201
    assert core.send(issue).replayed and SIMULATED.applications["issue-key-1"] == 1
    core.send(transition("SUSPENDED", "06", "suspend-key-1"))
    # Never activated: a reinstated card goes back to where it was.
    assert core.send(transition("ACTIVE", "07", "reinstate-key-1")).body["state"] == "UNACTIVATED"
    core.send(transition("TERMINATED", "17", "terminate-key-1"))
    with pytest.raises(PermanentGatewayError, match="INVALID_TRANSITION"):
        core.send(transition("ACTIVE", "00", "activate-key-1"))
