"""The compiled fast checks agree with jsonschema on every request schema of the contract."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from corebank.contract import Contract, SchemaValidator
from corebank.fastcheck import compile_check
from corebank.faults import SCHEMA as FAULTS_SCHEMA

CONTRACT = Contract.load()
VALIDATORS: dict[str, SchemaValidator] = {"faults": SchemaValidator(FAULTS_SCHEMA)}
for op in CONTRACT.operations.values():
    if op.body_validator is not None:
        VALIDATORS[f"{op.operation_id} body"] = op.body_validator
    for param in op.parameters:
        VALIDATORS[f"{op.operation_id} {param.location} {param.name}"] = param.validator

# Values that sit on the edges of the contract's patterns, types and bounds.
EDGES: st.SearchStrategy[Any] = st.sampled_from(
    [
        "1000.00",
        "0.00",
        "01.00",
        "1000.0",
        "1000.00\n",
        "LA0000012345",
        "la0000012345",
        "LA00000",
        "tok_1",
        "tok 1",
        "x" * 36,
        "x" * 37,
        "ACTIVE",
        "UNACTIVATED",
        "API",
        "00",
        "17",
        "working_capital",
        "Mobile app",
        "line\u0007",
        "",
        "0",
        "9" * 19,
        "abcdefgh",
        "abc",
        0,
        1,
        -1,
        10_000,
        10_001,
        5.0,
        0.5,
        True,
        False,
        None,
        [],
        {},
    ]
)
SCALARS = st.one_of(EDGES, st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40))
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)


def field_names(schema: Any) -> list[str]:
    names: set[str] = set()
    if isinstance(schema, dict):
        names.update((schema.get("properties") or {}).keys())
        for part in schema.get("allOf", []) + schema.get("oneOf", []) + schema.get("anyOf", []):
            names.update(field_names(part))
    return sorted(names) or ["x"]


@pytest.mark.parametrize("name", sorted(VALIDATORS))
@settings(max_examples=150, deadline=None, database=None)
@given(data=st.data())
def test_the_fast_check_agrees_with_jsonschema(name: str, data: st.DataObject) -> None:
    validator = VALIDATORS[name]
    fast = compile_check(validator.schema)
    assert fast is not None, f"{name} has no fast path"
    names = field_names(validator.schema)
    value = data.draw(
        st.one_of(
            JSON,
            EDGES,
            st.dictionaries(st.sampled_from([*names, "extra"]), st.one_of(EDGES, JSON), max_size=len(names) + 1),
        )
    )

    assert fast(value) == Draft202012Validator(validator.schema).is_valid(value), value
