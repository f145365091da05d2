"""Property-based fuzzing of the portal's webhook from the contract (schemathesis): no 5xx, every answer as written."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.signatures import sign

SPEC = Path(__file__).resolve().parents[2] / "docs" / "core-banking.openapi.yaml"
SECRET = "fuzzing-webhook-secret"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_path(SPEC).include(operation_id="receiveCoreEvent")


class Signed(requests.auth.AuthBase):
    """Signs the body exactly as it goes out, as core banking does."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        content = body if isinstance(body, bytes) else str(body).encode()
        request.headers["X-Core-Signature"] = sign(content, SECRET)
        return request


@pytest.fixture
def signed_session(settings) -> requests.Session:
    settings.CORE_WEBHOOK_SECRETS = [SECRET]
    session = requests.Session()
    session.auth = Signed()
    return session


@schema.parametrize()
@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_webhook_answers_every_event_as_the_contract_says(case, live_server, signed_session) -> None:
    response = case.call(base_url=live_server.url, session=signed_session)
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_an_unsigned_event_is_refused_as_the_contract_says(case, live_server, signed_session) -> None:
    response = case.call(base_url=live_server.url)  # no signature
    if case.method.upper() == "POST":  # (the fuzzer also tries the methods the path does not have: 405)
        assert response.status_code in (401, 413)
    case.validate_response(response, checks=CHECKS)
