"""Request schemas compiled into plain Python checks: the fast path of validation.

Why: ``jsonschema`` walks a schema dictionary on every call (about 150 µs for one small body),
a large share of a command's cost. The contract's request schemas use a small set of keywords,
so each schema is compiled once into nested closures that answer "valid or not" in a few
microseconds. ``jsonschema`` stays the arbiter: it runs only when the fast check says "invalid",
to find and describe the error; and a schema using any keyword not handled here gets no fast
check at all (``compile_check`` returns ``None``), so the fast path can never accept something
``jsonschema`` would refuse. A property test compares the two on generated data.

Semantics follow ``jsonschema``'s Draft 2020-12 validator without a format checker: ``format``
is an annotation, ``integer`` accepts ``5.0``, booleans are neither integers nor numbers,
``pattern`` is a search (anchors in the pattern itself).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

ANNOTATIONS = frozenset(
    {"description", "title", "examples", "example", "default", "deprecated", "$comment", "format", "discriminator"}
)
HANDLED = ANNOTATIONS | {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "enum",
    "const",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "items",
    "minItems",
    "maxItems",
    "allOf",
    "anyOf",
    "oneOf",
}


class Unsupported(Exception):
    """The schema uses something the fast path does not handle: use jsonschema alone."""


def compile_check(schema: Any) -> Check | None:
    """A function telling whether a value is valid against ``schema``, or ``None`` if not compilable."""
    try:
        return _compile(schema)
    except Unsupported:
        return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


TYPES: dict[str, Check] = {
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
}


def _compile(schema: Any) -> Check:
    if schema is True or schema == {}:
        return lambda value: True
    if schema is False:
        return lambda value: False
    if not isinstance(schema, Mapping):
        raise Unsupported(repr(schema)[:50])
    unknown = set(schema) - HANDLED
    if unknown:
        raise Unsupported(", ".join(sorted(unknown)))
    checks: list[Check] = []
    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if any(name not in TYPES for name in names):
            raise Unsupported(f"type {names}")
        type_checks = [TYPES[name] for name in names]
        if len(type_checks) == 1:
            checks.append(type_checks[0])
        else:
            checks.append(lambda v: any(check(v) for check in type_checks))
    if "enum" in schema or "const" in schema:
        allowed = schema["enum"] if "enum" in schema else [schema["const"]]
        if not all(isinstance(item, str) for item in allowed):
            raise Unsupported("enum of non-strings")  # equality rules of JSON Schema are subtle otherwise
        members = frozenset(allowed)
        checks.append(lambda v: isinstance(v, str) and v in members)
    checks.extend(_string_checks(schema))
    checks.extend(_number_checks(schema))
    checks.extend(_object_checks(schema))
    checks.extend(_array_checks(schema))
    for keyword in ("allOf", "anyOf", "oneOf"):
        if keyword in schema:
            checks.append(_combine(keyword, [_compile(part) for part in schema[keyword]]))
    if not checks:
        return lambda value: True
    if len(checks) == 1:
        return checks[0]
    return lambda value: all(check(value) for check in checks)


def _combine(keyword: str, parts: list[Check]) -> Check:
    def all_of(value: Any) -> bool:
        return all(part(value) for part in parts)

    def any_of(value: Any) -> bool:
        return any(part(value) for part in parts)

    def one_of(value: Any) -> bool:
        return sum(1 for part in parts if part(value)) == 1

    return {"allOf": all_of, "anyOf": any_of, "oneOf": one_of}[keyword]


def _string_checks(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    if "pattern" in schema:
        search = re.compile(schema["pattern"]).search
        checks.append(lambda v: not isinstance(v, str) or search(v) is not None)
    if "minLength" in schema:
        low = schema["minLength"]
        checks.append(lambda v: not isinstance(v, str) or len(v) >= low)
    if "maxLength" in schema:
        high = schema["maxLength"]
        checks.append(lambda v: not isinstance(v, str) or len(v) <= high)
    return checks


def _number_checks(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    if "minimum" in schema:
        low = schema["minimum"]
        checks.append(lambda v: not _is_number(v) or v >= low)
    if "maximum" in schema:
        high = schema["maximum"]
        checks.append(lambda v: not _is_number(v) or v <= high)
    if "exclusiveMinimum" in schema:
        xlow = schema["exclusiveMinimum"]
        checks.append(lambda v: not _is_number(v) or v > xlow)
    if "exclusiveMaximum" in schema:
        xhigh = schema["exclusiveMaximum"]
        checks.append(lambda v: not _is_number(v) or v < xhigh)
    return checks


def _object_checks(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    properties = {name: _compile(sub) for name, sub in (schema.get("properties") or {}).items()}
    required = tuple(schema.get("required") or ())
    extra = schema.get("additionalProperties", True)
    extra_check = None if extra is True else _compile(extra)

    def check_object(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for name in required:
            if name not in value:
                return False
        for name, item in value.items():
            sub = properties.get(name)
            if sub is not None:
                if not sub(item):
                    return False
            elif extra_check is not None and not extra_check(item):
                return False
        return True

    if properties or required or extra_check is not None:
        checks.append(check_object)
    return checks


def _array_checks(schema: Mapping[str, Any]) -> list[Check]:
    checks: list[Check] = []
    if "items" in schema:
        item_check = _compile(schema["items"])
        checks.append(lambda v: not isinstance(v, list) or all(item_check(item) for item in v))
    if "minItems" in schema:
        low = schema["minItems"]
        checks.append(lambda v: not isinstance(v, list) or len(v) >= low)
    if "maxItems" in schema:
        high = schema["maxItems"]
        checks.append(lambda v: not isinstance(v, list) or len(v) <= high)
    return checks
