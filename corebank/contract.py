"""The contract (``docs/core-banking.openapi.yaml``) compiled into request validators.

The YAML file is the single source of truth for what core banking accepts, so the service does
not restate its rules in code: it reads the file once at start-up, resolves every ``$ref`` into
plain JSON Schema, and builds one precompiled validator per parameter and request body. A change
to the contract therefore changes what the service accepts, with nothing else to edit.

Only the operations under ``/v1`` are compiled: ``/api/core/events`` is served by the portal
(the service only sends to it). Two details of OpenAPI 3.1 / JSON Schema 2020-12 are honoured
that Python's ``re`` would otherwise get wrong: ``$`` at the end of a ``pattern`` means the end
of the text (ECMA-262), not "before a final newline", so ``"ABC\\n"`` is refused.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from corebank.fastcheck import compile_check

DEFAULT_SPEC = Path(__file__).resolve().parent.parent / "docs" / "core-banking.openapi.yaml"
SERVED_PREFIX = "/v1/"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
ANNOTATIONS = frozenset({"description", "title", "examples", "example", "deprecated", "default", "$comment"})
MAX_MESSAGE = 1000


class ContractError(Exception):
    """The contract file cannot be used (missing, not YAML, a dangling or recursive ``$ref``)."""


class RequestInvalid(Exception):
    """A request that does not follow the contract; ``code`` is the error code to answer with."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message[:MAX_MESSAGE]


class SchemaValidator:
    """One compiled schema: a fast check (:mod:`corebank.fastcheck`), and ``jsonschema`` as the
    arbiter whenever the fast check says no (or has nothing to say), which also names the error."""

    __slots__ = ("_fast", "_jsonschema", "schema")

    def __init__(self, schema: Mapping[str, Any] | bool) -> None:
        self.schema = _ecma_patterns(schema)
        self._jsonschema = Draft202012Validator(self.schema)
        self._fast = compile_check(self.schema)

    @property
    def has_fast_path(self) -> bool:
        return self._fast is not None

    def is_valid(self, value: Any) -> bool:
        if self._fast is not None and self._fast(value):
            return True
        return bool(self._jsonschema.is_valid(value))

    def first_error(self, value: Any) -> ValidationError | None:
        """The most relevant error, or ``None`` for a valid value."""
        if self._fast is not None and self._fast(value):
            return None
        return best_match(self._jsonschema.iter_errors(value))


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    location: str  # path, query or header
    required: bool
    schema: dict[str, Any]
    validator: SchemaValidator

    @property
    def is_integer(self) -> bool:
        return self.schema.get("type") == "integer"

    @property
    def default(self) -> Any:
        return self.schema.get("default")


@dataclass(frozen=True, slots=True)
class Operation:
    operation_id: str
    method: str
    path: str
    parameters: tuple[Parameter, ...]
    body_validator: SchemaValidator | None
    body_required: bool
    body_media_types: tuple[str, ...]

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS


@dataclass(frozen=True, slots=True)
class ValidRequest:
    """A request that follows the contract, with its values converted to their schema types."""

    path: dict[str, str]
    query: dict[str, Any]
    headers: dict[str, str]
    body: Any
    canonical_body: bytes  # the body re-serialised with sorted keys: the idempotency fingerprint


class Contract:
    """The compiled contract: operations by id, and resolved component schemas for other uses."""

    def __init__(self, document: Mapping[str, Any], source: str = "<dict>") -> None:
        self.document = document
        self.source = source
        self._resolved: dict[str, Any] = {}
        self.operations: dict[str, Operation] = {}
        for path, item in (document.get("paths") or {}).items():
            if not path.startswith(SERVED_PREFIX):
                continue
            shared = item.get("parameters", [])
            for method, spec in item.items():
                if method in ("parameters", "servers", "summary", "description"):
                    continue
                op = self._compile(path, method.upper(), spec, shared)
                self.operations[op.operation_id] = op

    @classmethod
    def load(cls, path: Path | str | None = None) -> Contract:
        spec_path = Path(path) if path else DEFAULT_SPEC
        try:
            text = spec_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ContractError(f"cannot read the contract {spec_path}: {exc}") from exc
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ContractError(f"{spec_path} is not valid YAML: {exc}") from exc
        if not isinstance(document, dict) or "paths" not in document:
            raise ContractError(f"{spec_path} is not an OpenAPI document")
        return cls(document, str(spec_path))

    # --- schemas ------------------------------------------------------------------------------

    def schema(self, name: str) -> dict[str, Any]:
        """A component schema with every ``$ref`` resolved (e.g. ``"CoreEvent"``)."""
        resolved = self._resolve({"$ref": f"#/components/schemas/{name}"})
        assert isinstance(resolved, dict)
        return resolved

    def resolve(self, node: Any) -> Any:
        """``node`` (any part of the document) with every ``$ref`` replaced by its target."""
        return self._resolve(node)

    def validator(self, schema: Mapping[str, Any]) -> SchemaValidator:
        """A validator for a resolved schema, with ECMA-262 end-of-text anchors."""
        return SchemaValidator(schema)

    def _resolve(self, node: Any, seen: tuple[str, ...] = ()) -> Any:
        if isinstance(node, list):
            return [self._resolve(item, seen) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if ref is None:
            return {key: self._resolve(value, seen) for key, value in node.items()}
        if not isinstance(ref, str) or not ref.startswith("#/"):
            raise ContractError(f"only local references are supported, not {ref!r}")
        if ref in seen:
            raise ContractError(f"recursive reference {ref}")
        if ref not in self._resolved:
            self._resolved[ref] = self._resolve(_pointer(self.document, ref), (*seen, ref))
        target = self._resolved[ref]
        siblings = {key: self._resolve(value, seen) for key, value in node.items() if key != "$ref"}
        if not siblings:
            return target
        if set(siblings) <= ANNOTATIONS and isinstance(target, dict):
            return {**target, **siblings}
        # In JSON Schema 2020-12 a $ref next to other keywords means "both must hold".
        return {"allOf": [target], **siblings}

    # --- operations ---------------------------------------------------------------------------

    def _compile(self, path: str, method: str, spec: Mapping[str, Any], shared: Iterable[Any]) -> Operation:
        operation_id = spec.get("operationId") or f"{method} {path}"
        by_key: dict[tuple[str, str], Parameter] = {}
        for raw in [*shared, *spec.get("parameters", [])]:
            param = self._resolve(raw)
            location = param["in"]
            if location not in ("path", "query", "header"):
                raise ContractError(f"{operation_id}: parameters in {location} are not supported")
            schema = param.get("schema") or {}
            by_key[(location, param["name"].lower())] = Parameter(
                name=param["name"],
                location=location,
                required=bool(param.get("required")) or location == "path",
                schema=schema,
                validator=self.validator(schema),
            )
        body_validator = None
        body_required = False
        media_types: tuple[str, ...] = ()
        if "requestBody" in spec:
            request_body = self._resolve(spec["requestBody"])
            content = request_body.get("content") or {}
            media_types = tuple(content)
            json_media = next((m for m in content if _is_json(m)), None)
            if json_media is None:
                raise ContractError(f"{operation_id}: only JSON request bodies are supported")
            body_validator = self.validator(content[json_media].get("schema") or {})
            body_required = bool(request_body.get("required"))
        return Operation(
            operation_id=operation_id,
            method=method,
            path=path,
            parameters=tuple(by_key.values()),
            body_validator=body_validator,
            body_required=body_required,
            body_media_types=media_types,
        )

    def validate(
        self,
        op: Operation,
        path_params: Mapping[str, str],
        query_string: str,
        get_header: Callable[[str], str | None],
        raw_body: bytes,
        content_type: str | None,
    ) -> ValidRequest:
        """Check one request against ``op``; raise :class:`RequestInvalid` naming what is wrong."""
        path: dict[str, str] = {}
        query: dict[str, Any] = {}
        headers: dict[str, str] = {}
        parsed_query = _parse_query(query_string) if query_string else {}
        for param in op.parameters:
            where = f"{param.location} parameter {param.name}"
            value: Any
            if param.location == "path":
                value = path_params.get(param.name)
            elif param.location == "header":
                value = get_header(param.name)
            else:
                values = parsed_query.get(param.name)
                if values is not None and len(values) > 1:
                    raise RequestInvalid("INVALID_REQUEST", f"{where}: given {len(values)} times, expected once")
                value = values[0] if values else None
            if value is None:
                if param.required:
                    raise RequestInvalid("INVALID_REQUEST", f"{where}: is required")
                if param.default is None:
                    continue
                value = param.default
            elif param.is_integer:
                value = _to_int(value)
            _check(param.validator, value, where)
            {"path": path, "query": query, "header": headers}[param.location][param.name] = value

        body: Any = None
        canonical = b""
        if op.body_validator is not None:
            if not raw_body:
                if op.body_required:
                    raise RequestInvalid("INVALID_REQUEST", "body: a JSON body is required")
            else:
                if content_type and not _is_json(content_type):
                    raise RequestInvalid(
                        "INVALID_REQUEST", f"header Content-Type: {content_type[:100]!r} is not application/json"
                    )
                body = parse_json(raw_body)
                canonical = canonical_json(body)
                _check(op.body_validator, body, "body")
        return ValidRequest(path=path, query=query, headers=headers, body=body, canonical_body=canonical)


# --- helpers ------------------------------------------------------------------------------------


def parse_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, no duplicate keys; :class:`RequestInvalid` otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RequestInvalid("MALFORMED_JSON", f"body: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        message = f"body: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        raise RequestInvalid("MALFORMED_JSON", message) from None
    except RecursionError:
        raise RequestInvalid("MALFORMED_JSON", "body: JSON nested too deeply") from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise RequestInvalid("MALFORMED_JSON", f"body: unreadable JSON ({str(exc)[:100]})") from None
    except _DuplicateKey as exc:
        raise RequestInvalid("MALFORMED_JSON", f"body: key {str(exc)[:100]!r} appears twice in one object") from None
    except _Constant as exc:
        raise RequestInvalid("MALFORMED_JSON", f"body: {exc} is not JSON") from None


def canonical_json(value: Any) -> bytes:
    """One byte string per JSON value (sorted keys, no spaces): what the idempotency key protects."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        # A lone surrogate ("\\ud800") parses in Python but is no text: refuse it here, not in SQLite.
        raise RequestInvalid("INVALID_REQUEST", "body: a string holds an unpaired UTF-16 surrogate") from None
    except RecursionError:
        raise RequestInvalid("MALFORMED_JSON", "body: JSON nested too deeply") from None


def check(validator: SchemaValidator, value: Any, where: str) -> None:
    """Raise :class:`RequestInvalid` with a message naming the field when ``value`` is invalid."""
    _check(validator, value, where)


def _check(validator: SchemaValidator, value: Any, where: str) -> None:
    try:
        error = validator.first_error(value)
    except RecursionError:
        raise RequestInvalid("INVALID_REQUEST", f"{where}: nested too deeply") from None
    if error is not None:
        raise RequestInvalid("INVALID_REQUEST", describe(error, where))


def describe(error: ValidationError, where: str) -> str:
    """A short message naming the field, without echoing (possibly huge) values back."""
    field = where + "".join(f".{part}" if isinstance(part, str) else f"[{part}]" for part in error.absolute_path)
    keyword = error.validator
    expected = error.validator_value
    instance = error.instance
    if keyword == "required" and isinstance(instance, dict):
        missing = [name for name in expected if name not in instance]
        return f"{field}.{missing[0] if missing else '?'}: is required"
    if keyword == "additionalProperties" and isinstance(instance, dict):
        known = set((error.schema.get("properties") or {}) if isinstance(error.schema, dict) else ())
        extra = sorted(name for name in instance if name not in known)
        name = extra[0][:60] if extra else "?"
        return f"{field}.{name}: unknown field (not in the contract)"
    if keyword == "type":
        kinds = expected if isinstance(expected, list) else [expected]
        return f"{field}: must be of type {' or '.join(map(str, kinds))}"
    if keyword == "enum":
        return f"{field}: must be one of {', '.join(map(str, expected))}"
    if keyword == "const":
        return f"{field}: must be {expected!r}"
    if keyword == "pattern":
        return f"{field}: does not match the pattern {_display_pattern(expected)}"
    if keyword in ("minLength", "maxLength"):
        word = "at least" if keyword == "minLength" else "at most"
        return f"{field}: must be {word} {expected} characters long"
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        word = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[keyword]
        return f"{field}: must be {word} {expected}"
    if keyword in ("minItems", "maxItems", "minProperties", "maxProperties"):
        return f"{field}: breaks {keyword} {expected}"
    return f"{field}: fails {keyword}"


class _DuplicateKey(Exception):
    pass


class _Constant(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _value in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


def _no_constants(name: str) -> Any:
    raise _Constant(name)


def _pointer(document: Mapping[str, Any], ref: str) -> Any:
    node: Any = document
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise ContractError(f"dangling reference {ref}")
        node = node[part]
    return node


def _ecma_patterns(node: Any) -> Any:
    """Copy of a schema whose ``pattern`` anchors mean what ECMA-262 says (``$`` = end of text)."""
    if isinstance(node, list):
        return [_ecma_patterns(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    copy = {key: _ecma_patterns(value) for key, value in node.items()}
    pattern = copy.get("pattern")
    if isinstance(pattern, str) and pattern.endswith("$") and not pattern.endswith("\\$"):
        copy["pattern"] = pattern[:-1] + r"\Z"
        re.compile(copy["pattern"])
    return copy


def _display_pattern(pattern: Any) -> str:
    text = str(pattern)
    return text[:-2] + "$" if text.endswith(r"\Z") else text


def _is_json(media_type: str) -> bool:
    essence = media_type.split(";", 1)[0].strip().lower()
    return essence == "application/json" or (essence.startswith("application/") and essence.endswith("+json"))


def _parse_query(query_string: str) -> dict[str, list[str]]:
    try:
        return parse_qs(query_string, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise RequestInvalid("INVALID_REQUEST", "query: not valid UTF-8 percent-encoding") from None


def _to_int(value: str) -> Any:
    """An integer query value converted, or left as text so that the schema names the type error."""
    if re.fullmatch(r"-?[0-9]{1,19}", value):
        return int(value)
    return value
