"""The WSGI application (Falcon): the contract's ``/v1`` operations and the ``/sim`` controls.

Every ``/v1`` request passes the same gate, in this order, before core's rules see it:

1. routing: an unknown path answers ``404``, a method the path does not have ``405`` (JSON both);
2. ``down`` fault: ``503 CORE_DOWN`` with ``Retry-After: 5``; ``latency_ms`` fault: a sleep;
3. size: a body over 1,048,576 bytes answers ``413`` (Content-Length checked before reading,
   and reading capped, for a body without one);
4. signature (``X-Core-Signature``): ``401`` ``SIGNATURE_MISSING|INVALID|EXPIRED``;
5. the contract: parameters, headers and the JSON body, checked by validators compiled from the
   YAML file: ``400 MALFORMED_JSON`` or ``400 INVALID_REQUEST`` naming the field;
6. writes only: ``failure_rate`` fault (``500 CB-5001``, nothing applied), then the command,
   applied once per ``Idempotency-Key`` (replays carry ``Idempotent-Replayed: true``), then the
   ``timeout_rate`` fault, which holds an answer that was just applied for ``timeout_seconds``.

Nothing a caller sends can produce a ``500`` other than ``CB-5001``: every parse and validation
error is a ``4xx``. The ``/sim`` endpoints (no signature) are documented in :mod:`corebank`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from typing import Any

import falcon

from corebank import signing
from corebank.bank import Action, CoreBank, error_body, error_text
from corebank.contract import (
    Contract,
    ContractError,
    Operation,
    RequestInvalid,
    SchemaValidator,
    ValidRequest,
    check,
    parse_json,
)
from corebank.dispatcher import Dispatcher
from corebank.faults import Faults
from corebank.store import Card, Store

MAX_BODY = 1_048_576
SIM_MAX_BODY = 1_048_576
STATUS_CODES = {
    400: "INVALID_REQUEST",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    408: "REQUEST_TIMEOUT",
    411: "LENGTH_REQUIRED",
    413: "BODY_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    431: "HEADERS_TOO_LARGE",
    500: "INTERNAL_ERROR",
}
# The routes this module serves, checked against the contract at start-up.
V1_ROUTES = {
    ("POST", "/v1/cards"): "issueCard",
    ("GET", "/v1/cards"): "listChangedCards",
    ("GET", "/v1/cards/{token}"): "getCard",
    ("PUT", "/v1/cards/{token}/limit"): "setUsableLimit",
    ("POST", "/v1/cardtransitions"): "createCardTransition",
}


class CoreError(Exception):
    """An error answer: status, the contract's error code and message, extra headers."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def send(resp: falcon.Response, status: int, text: str, headers: dict[str, str] | None = None) -> None:
    resp.status = status
    resp.content_type = falcon.MEDIA_JSON
    resp.text = text
    if headers:
        resp.set_headers(headers)


def send_json(resp: falcon.Response, status: int, data: Any) -> None:
    send(resp, status, json.dumps(data, ensure_ascii=False))


def read_body(req: falcon.Request, limit: int = MAX_BODY) -> bytes:
    length = req.content_length
    if length is not None and length > limit:
        raise CoreError(413, "BODY_TOO_LARGE", f"the body has {length} bytes; at most {limit} are accepted")
    data: bytes = req.bounded_stream.read(limit + 1)
    if len(data) > limit:
        raise CoreError(413, "BODY_TOO_LARGE", f"the body is over {limit} bytes")
    return data


class V1:
    """The gate of every ``/v1`` request (see the module docstring) and the dispatch to the rules."""

    def __init__(
        self, contract: Contract, bank: CoreBank, faults: Faults, api_secrets: tuple[str, ...], halt: threading.Event
    ) -> None:
        if not api_secrets:
            raise ValueError("at least one API secret is needed")
        self.contract = contract
        self.bank = bank
        self.faults = faults
        self.secrets = tuple(secret.encode("utf-8") for secret in api_secrets)
        self.halt = halt
        for (method, path), operation_id in V1_ROUTES.items():
            op = contract.operations.get(operation_id)
            if op is None or (op.method, op.path) != (method, path):
                raise ContractError(f"the contract has no {operation_id} at {method} {path}")

    def handle(self, req: falcon.Request, resp: falcon.Response, operation_id: str, path: dict[str, str]) -> None:
        op = self.contract.operations[operation_id]
        settings = self.faults.settings
        if settings.down:
            raise CoreError(503, "CORE_DOWN", "core banking is down for maintenance; retry later", {"Retry-After": "5"})
        if settings.latency_ms:
            self.halt.wait(settings.latency_ms / 1000)
        raw = read_body(req)
        try:
            signing.verify(req.get_header(signing.HEADER), raw, self.secrets)
        except signing.SignatureError as exc:
            raise CoreError(401, exc.code, exc.message) from None
        try:
            valid = self.contract.validate(op, path, req.query_string, req.get_header, raw, req.content_type)
        except RequestInvalid as exc:
            raise CoreError(400, exc.code, exc.message) from None
        if not op.is_write:
            self._read(resp, op, valid)
            return
        if self.faults.draw(settings.failure_rate):
            raise CoreError(500, "CB-5001", "core banking failed to process the request; retry with the same key")
        key = valid.headers["Idempotency-Key"]
        fingerprint = hashlib.sha256(f"{op.method} {req.path}\n".encode() + valid.canonical_body).hexdigest()
        answer = self.bank.command(key, fingerprint, op.method, req.path, self._action(op, valid, key))
        if answer.applied and self.faults.draw(settings.timeout_rate):
            # Applied and stored, but the caller hears nothing for a while: its retry must get the replay.
            self.halt.wait(settings.timeout_seconds)
        send(resp, answer.status, answer.body, {"Idempotent-Replayed": "true"} if answer.replayed else None)

    def _action(self, op: Operation, valid: ValidRequest, key: str) -> Action:
        if op.operation_id == "issueCard":
            return self.bank.issue_card(valid.body, key)
        if op.operation_id == "createCardTransition":
            return self.bank.transition(valid.body, key)
        if op.operation_id == "setUsableLimit":
            return self.bank.set_limit(valid.path["token"], valid.body, key)
        raise ContractError(f"no rules for {op.operation_id}")  # pragma: no cover - checked at start-up

    def _read(self, resp: falcon.Response, op: Operation, valid: ValidRequest) -> None:
        if op.operation_id == "getCard":
            card = self.bank.card(valid.path["token"])
            if card is None:
                raise CoreError(404, "CARD_NOT_FOUND", f"no card with the token {valid.path['token']}")
            send_json(resp, 200, card.as_json())
            return
        page = self.bank.changed_cards(str(valid.query["changed_since"]), int(valid.query["count"]))
        send_json(resp, 200, page)


class _Route:
    def __init__(self, v1: V1) -> None:
        self.v1 = v1


class CardsResource(_Route):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.v1.handle(req, resp, "issueCard", {})

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.v1.handle(req, resp, "listChangedCards", {})


class CardResource(_Route):
    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        self.v1.handle(req, resp, "getCard", {"token": token})


class CardLimitResource(_Route):
    def on_put(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        self.v1.handle(req, resp, "setUsableLimit", {"token": token})


class TransitionsResource(_Route):
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.v1.handle(req, resp, "createCardTransition", {})


# --- /sim -----------------------------------------------------------------------------------------


class Sim:
    """The simulation and fault-injection controls (no signature; not part of the contract)."""

    def __init__(
        self, contract: Contract, store: Store, bank: CoreBank, faults: Faults, dispatcher: Dispatcher | None
    ) -> None:
        self.store = store
        self.bank = bank
        self.faults = faults
        self.dispatcher = dispatcher
        data = event_data_schema(contract, "LoanApprovedEvent")
        step_data = event_data_schema(contract, "StepCompletedEvent")
        transition = contract.schema("CardTransitionRequest")
        self.account_number = contract.validator(contract.schema("AccountNumber"))
        self.line = contract.validator(
            {
                "type": "object",
                "required": ["account_number", "customer", "line"],
                "properties": {
                    "account_number": contract.schema("AccountNumber"),
                    "customer": data["properties"]["customer"],
                    "line": data["properties"]["line"],
                },
                "additionalProperties": False,
            }
        )
        self.state = contract.validator(
            {
                "type": "object",
                "required": ["state"],
                "properties": {
                    "state": contract.schema("CardState"),
                    "reason_code": transition["properties"]["reason_code"],
                },
                "additionalProperties": False,
            }
        )
        self.step = contract.validator(
            {
                "type": "object",
                "required": ["step"],
                "properties": {"step": step_data["properties"]["step"]},
                "additionalProperties": False,
            }
        )

    @staticmethod
    def body(req: falcon.Request, validator: SchemaValidator | None = None) -> Any:
        raw = read_body(req, SIM_MAX_BODY)
        if not raw:
            raise RequestInvalid("INVALID_REQUEST", "body: a JSON body is required")
        data = parse_json(raw)
        if validator is not None:
            check(validator, data, "body")
        return data


def event_data_schema(contract: Contract, name: str) -> dict[str, Any]:
    """The ``data`` schema of one ``CoreEvent`` variant (the ``allOf`` part that fixes ``type``)."""
    for part in contract.schema(name).get("allOf", []):
        properties = part.get("properties", {})
        if "const" in properties.get("type", {}) and "data" in properties:
            data: dict[str, Any] = properties["data"]
            return data
    raise ContractError(f"the contract's {name} has no data schema")


def card_details(card: Card) -> dict[str, Any]:
    """The contract's ``Card`` plus what core keeps behind it."""
    return {
        **card.as_json(),
        "ever_activated": card.ever_activated,
        "state_before_suspension": card.state_before_suspension,
        "seq": card.seq,
    }


class SimHealth:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(resp, 200, {"ok": True})


class SimFaults:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(resp, 200, self.sim.faults.settings.as_json())

    def on_put(self, req: falcon.Request, resp: falcon.Response) -> None:
        settings = self.sim.faults.update(Sim.body(req))
        send_json(resp, 200, settings.as_json())


class SimReset:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        self.sim.store.reset()
        self.sim.faults.reset()
        if self.sim.dispatcher is not None:
            self.sim.dispatcher.reset()
        send_json(resp, 200, {"ok": True})


class SimStats:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        send_json(resp, 200, self.sim.store.stats())


class SimEvents:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        status = req.get_param("status")
        if status not in (None, "pending", "delivered"):
            raise RequestInvalid("INVALID_REQUEST", "query parameter status: must be pending or delivered")
        limit = req.get_param("limit") or "1000"
        if not limit.isdecimal() or not 1 <= int(limit) <= 100_000:
            raise RequestInvalid("INVALID_REQUEST", "query parameter limit: must be an integer from 1 to 100000")
        events = self.sim.store.events(status, int(limit), req.get_param("account_number"))
        send_json(resp, 200, {"count": len(events), "events": events})


class SimIdempotency:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def on_get(self, req: falcon.Request, resp: falcon.Response, key: str) -> None:
        record = self.sim.store.idempotency(key)
        if record is None:
            raise CoreError(404, "NOT_FOUND", f"no idempotency key {key}")
        send_json(
            resp,
            200,
            {
                "key": record.key,
                "applications": record.applications,
                "replays": record.replays,
                "status_code": record.status_code,
            },
        )


class SimCard:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def on_get(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        card = self.sim.store.card(token)
        if card is None:
            raise CoreError(404, "CARD_NOT_FOUND", f"no card with the token {token}")
        send_json(resp, 200, card_details(card))


class SimCardState:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def on_post(self, req: falcon.Request, resp: falcon.Response, token: str) -> None:
        body = Sim.body(req, self.sim.state)
        result = self.sim.bank.force_state(token, body["state"], body.get("reason_code"))
        if result is None:
            raise CoreError(404, "CARD_NOT_FOUND", f"no card with the token {token}")
        card, event = result
        send_json(resp, 200, {"card": card_details(card), "event": event})


class SimLines:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = Sim.body(req, self.sim.line)
        code = body["customer"]["credit_code"]
        if credit_code_check_char(code[:17]) != code[17]:
            raise RequestInvalid("INVALID_REQUEST", "body.customer.credit_code: wrong check character (GB 32100)")
        event = self.sim.bank.approve_line(body["account_number"], body["customer"], body["line"])
        send_json(resp, 200, {"event": event})


class SimSteps:
    def __init__(self, sim: Sim) -> None:
        self.sim = sim

    def on_post(self, req: falcon.Request, resp: falcon.Response, account_number: str) -> None:
        check(self.sim.account_number, account_number, "path parameter account_number")
        body = Sim.body(req, self.sim.step)
        event = self.sim.bank.complete_step(account_number, body["step"])
        send_json(resp, 200, {"event": event})


CREDIT_CODE_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_CODE_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def credit_code_check_char(first17: str) -> str:
    """GB 32100-2015: the 18th character of a unified social credit code."""
    total = sum(
        CREDIT_CODE_CHARS.index(char) * weight for char, weight in zip(first17, CREDIT_CODE_WEIGHTS, strict=True)
    )
    return CREDIT_CODE_CHARS[(31 - total % 31) % 31]


# --- errors and assembly --------------------------------------------------------------------------


def _core_error(req: falcon.Request, resp: falcon.Response, ex: CoreError, params: dict[str, Any]) -> None:
    send(resp, ex.status, error_text(ex.code, ex.message), ex.headers)


def _invalid(req: falcon.Request, resp: falcon.Response, ex: RequestInvalid, params: dict[str, Any]) -> None:
    send(resp, 400, error_text(ex.code, ex.message))


def _serialize_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError) -> None:
    """Falcon's own errors (no route, wrong method, bad Content-Length, a bug) in the contract's shape."""
    status = exc.status_code
    if status == 404:
        message = f"no such path: {req.path[:200]}"
    elif status == 405:
        message = f"{req.method} is not allowed on {req.path[:200]}"
    else:
        message = exc.description or exc.title or "error"
    resp.content_type = falcon.MEDIA_JSON
    resp.text = json.dumps(error_body(STATUS_CODES.get(status, f"HTTP_{status}"), str(message)))


def create_app(
    contract: Contract,
    store: Store,
    bank: CoreBank,
    faults: Faults,
    api_secrets: tuple[str, ...],
    *,
    dispatcher: Dispatcher | None = None,
    halt: threading.Event | None = None,
) -> falcon.App:
    """The WSGI app; ``halt`` cuts short the sleeps of the latency and timeout faults at shutdown."""
    app = falcon.App()
    app.set_error_serializer(_serialize_error)
    app.add_error_handler(CoreError, _core_error)
    app.add_error_handler(RequestInvalid, _invalid)
    v1 = V1(contract, bank, faults, api_secrets, halt or threading.Event())
    app.add_route("/v1/cards", CardsResource(v1))
    app.add_route("/v1/cards/{token}", CardResource(v1))
    app.add_route("/v1/cards/{token}/limit", CardLimitResource(v1))
    app.add_route("/v1/cardtransitions", TransitionsResource(v1))
    sim = Sim(contract, store, bank, faults, dispatcher)
    app.add_route("/sim/health", SimHealth())
    app.add_route("/sim/faults", SimFaults(sim))
    app.add_route("/sim/reset", SimReset(sim))
    app.add_route("/sim/stats", SimStats(sim))
    app.add_route("/sim/events", SimEvents(sim))
    app.add_route("/sim/idempotency/{key}", SimIdempotency(sim))
    app.add_route("/sim/cards/{token}", SimCard(sim))
    app.add_route("/sim/cards/{token}/state", SimCardState(sim))
    app.add_route("/sim/lines", SimLines(sim))
    app.add_route("/sim/lines/{account_number}/steps", SimSteps(sim))
    return app
