"""Schemathesis against the running service, from the contract file: every /v1 answer must follow it.

Requests are generated from ``docs/core-banking.openapi.yaml`` (examples, coverage and fuzzing
phases; valid and invalid data), signed by a ``requests`` auth hook that sees the final body, and
given an ``Idempotency-Key``. Each answer must not be a server error and must match the contract:
a documented status code, content type, headers and body schema.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from corebank.contract import DEFAULT_SPEC
from tests.corebank.conftest import Receiver
from tests.coreservice import CoreService, sign

KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

schema = schemathesis.openapi.from_path(DEFAULT_SPEC).include(path_regex=r"^/v1/")
schema.config.generation.update(max_examples=30, database="none", with_security_parameters=False)


class CoreSignature(requests.auth.AuthBase):
    """Signs the prepared request's final body, so whatever schemathesis generated is signed as sent."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        assert isinstance(body, bytes), "schemathesis sends bodies as bytes or text"
        request.headers["X-Core-Signature"] = sign(body, self.secret)
        return request


@pytest.fixture(scope="module")
def fuzzed_core(shared_core: CoreService, receiver: Receiver) -> CoreService:
    shared_core.reset()
    receiver.clear()
    return shared_core


@pytest.fixture(scope="module")
def signed_session(fuzzed_core: CoreService) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = CoreSignature(fuzzed_core.api_secret)
        yield session


@schema.parametrize()
def test_every_v1_answer_follows_the_contract(
    case: schemathesis.Case, fuzzed_core: CoreService, signed_session: requests.Session
) -> None:
    if case.method in ("POST", "PUT"):
        generated = case.headers.get("Idempotency-Key")
        # A fresh key per request, unless the case is about an invalid key (negative data).
        if generated is None or (isinstance(generated, str) and KEY_PATTERN.fullmatch(generated)):
            case.headers["Idempotency-Key"] = f"fuzz-{uuid.uuid4().hex}"
    response = case.call(base_url=fuzzed_core.url, session=signed_session, timeout=10)
    case.validate_response(response, checks=CHECKS)
