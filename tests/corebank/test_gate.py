"""What every /v1 request must pass: signature, size, the contract's shapes."""

from __future__ import annotations

import time

import httpx

from tests.corebank.conftest import Api, new_card, new_key, start_core
from tests.coreservice import CoreService, sign


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error_code", "error_message"}
    assert body["error_code"] == code, body
    return body


def test_it_refuses_a_request_without_a_signature(core: CoreService) -> None:
    response = httpx.get(f"{core.url}/v1/cards")

    assert_error(response, 401, "SIGNATURE_MISSING")


def test_it_refuses_a_wrong_signature(api: Api, core: CoreService) -> None:
    card = new_card()

    wrong_secret = api.call("POST", "/v1/cards", card, key=new_key(), secret="not-the-secret")
    signed_other_body = api.call(
        "POST", "/v1/cards", card, key=new_key(), headers={"X-Core-Signature": sign(b"{}", core.api_secret)}
    )
    garbage = api.call("GET", "/v1/cards", headers={"X-Core-Signature": "sha256=abc"})

    assert_error(wrong_secret, 401, "SIGNATURE_INVALID")
    assert_error(signed_other_body, 401, "SIGNATURE_INVALID")
    assert_error(garbage, 401, "SIGNATURE_INVALID")
    assert core.card(card["token"]) is None


def test_it_refuses_a_stale_signature(api: Api, core: CoreService) -> None:
    stale = sign(b"", core.api_secret, timestamp=int(time.time()) - 301)
    future = sign(b"", core.api_secret, timestamp=int(time.time()) + 400)

    assert_error(api.call("GET", "/v1/cards", headers={"X-Core-Signature": stale}), 401, "SIGNATURE_EXPIRED")
    assert_error(api.call("GET", "/v1/cards", headers={"X-Core-Signature": future}), 401, "SIGNATURE_EXPIRED")


def test_it_accepts_either_secret_during_a_rotation(tmp_path, receiver) -> None:
    core = start_core(tmp_path, receiver.url, api_secrets="new-secret,old-secret")
    api = Api(core)
    try:
        with_new = api.call("GET", "/v1/cards", secret="new-secret")
        with_old = api.call("GET", "/v1/cards", secret="old-secret")
        with_neither = api.call("GET", "/v1/cards", secret="dev-core-api-secret")
        t = int(time.time())
        both = sign(b"", "unknown-secret", timestamp=t) + "," + sign(b"", "old-secret", timestamp=t).split(",")[1]
        one_of_two = api.call("GET", "/v1/cards", headers={"X-Core-Signature": both})
    finally:
        api.close()
        core.stop()

    assert with_new.status_code == 200
    assert with_old.status_code == 200
    assert_error(with_neither, 401, "SIGNATURE_INVALID")
    assert one_of_two.status_code == 200, one_of_two.text


def test_it_refuses_a_body_over_one_megabyte(api: Api, core: CoreService) -> None:
    card = new_card()
    padded = new_card(token=card["token"], channel="x" * 1_048_576)

    response = api.call("POST", "/v1/cards", padded, key=new_key())

    assert_error(response, 413, "BODY_TOO_LARGE")
    assert api.issue(card).status_code == 201  # the connection and the service are still fine


def test_it_refuses_malformed_json(api: Api) -> None:
    not_json = api.call("POST", "/v1/cards", raw=b'{"token": ', key=new_key())
    duplicate_key = api.call("POST", "/v1/cards", raw=b'{"token": "a", "token": "b"}', key=new_key())
    not_utf8 = api.call("POST", "/v1/cards", raw=b'{"token": "\xff"}', key=new_key())
    too_deep = api.call("POST", "/v1/cards", raw=b"[" * 100_000 + b"]" * 100_000, key=new_key())
    too_long_a_number = api.call("POST", "/v1/cards", raw=b'{"token": ' + b"9" * 5000 + b"}", key=new_key())
    nan = api.call("POST", "/v1/cards", raw=b'{"token": NaN}', key=new_key())

    for response in (not_json, duplicate_key, not_utf8, too_deep, too_long_a_number, nan):
        assert_error(response, 400, "MALFORMED_JSON")


def test_it_names_an_unknown_field(api: Api, core: CoreService) -> None:
    card = new_card(colour="gold")

    body = assert_error(api.call("POST", "/v1/cards", card, key=new_key()), 400, "INVALID_REQUEST")

    assert "colour" in body["error_message"]
    assert core.card(card["token"]) is None


def test_it_names_a_field_of_the_wrong_type_or_shape(api: Api) -> None:
    wrong_type = new_card(credit_limit=1000)
    wrong_pattern = new_card(usable_limit="12.5")
    missing = new_card()
    del missing["product"]

    type_error = assert_error(api.call("POST", "/v1/cards", wrong_type, key=new_key()), 400, "INVALID_REQUEST")
    pattern_error = assert_error(api.call("POST", "/v1/cards", wrong_pattern, key=new_key()), 400, "INVALID_REQUEST")
    missing_error = assert_error(api.call("POST", "/v1/cards", missing, key=new_key()), 400, "INVALID_REQUEST")
    bad_state = api.call(
        "POST",
        "/v1/cardtransitions",
        {"card_token": "tok", "state": "FROZEN", "channel": "API", "reason_code": "06"},
        key=new_key(),
    )

    assert "credit_limit" in type_error["error_message"]
    assert "usable_limit" in pattern_error["error_message"]
    assert "product" in missing_error["error_message"]
    assert "state" in assert_error(bad_state, 400, "INVALID_REQUEST")["error_message"]


def test_it_requires_an_idempotency_key_on_writes(api: Api, core: CoreService) -> None:
    card = new_card()

    missing = api.call("POST", "/v1/cards", card)
    too_short = api.call("POST", "/v1/cards", card, key="short")

    assert "Idempotency-Key" in assert_error(missing, 400, "INVALID_REQUEST")["error_message"]
    assert "Idempotency-Key" in assert_error(too_short, 400, "INVALID_REQUEST")["error_message"]
    assert core.card(card["token"]) is None


def test_it_checks_query_and_path_parameters(api: Api) -> None:
    assert "count" in assert_error(api.call("GET", "/v1/cards?count=0"), 400, "INVALID_REQUEST")["error_message"]
    assert "count" in assert_error(api.call("GET", "/v1/cards?count=ten"), 400, "INVALID_REQUEST")["error_message"]
    cursor = api.call("GET", "/v1/cards?changed_since=-1")
    assert "changed_since" in assert_error(cursor, 400, "INVALID_REQUEST")["error_message"]
    token = api.call("GET", "/v1/cards/bad%20token")
    assert "token" in assert_error(token, 400, "INVALID_REQUEST")["error_message"]


def test_it_answers_json_for_unknown_paths_and_methods(api: Api) -> None:
    assert_error(api.call("GET", "/v1/accounts"), 404, "NOT_FOUND")
    wrong_method = api.call("DELETE", "/v1/cards/tok_1")
    assert_error(wrong_method, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in wrong_method.headers["allow"]
