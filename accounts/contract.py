"""The core-banking contract (``docs/core-banking.openapi.yaml``) as JSON Schema validators.

The portal checks every event core banking sends against the contract's own schemas, so the
file stays the single source of what is accepted; the tests check the portal's requests the
same way.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:core-banking-contract"


def spec_path() -> Path:
    return Path(settings.BASE_DIR) / "docs" / "core-banking.openapi.yaml"


@cache
def spec() -> dict[str, Any]:
    with spec_path().open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.safe_load(handle)
    return loaded


@cache
def _registry() -> Registry:
    return Registry().with_resource(SPEC_URI, Resource.from_contents(spec(), default_specification=DRAFT202012))


@cache
def schema_validator(name: str) -> Draft202012Validator:
    """A validator for ``#/components/schemas/<name>``."""
    return Draft202012Validator(
        {"$ref": f"{SPEC_URI}#/components/schemas/{name}"},
        registry=_registry(),
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def event_schema_name(event_type: str) -> str | None:
    """The contract's schema for an event type (its discriminator mapping), or None if unknown."""
    mapping: dict[str, str] = spec()["components"]["schemas"]["CoreEvent"]["discriminator"]["mapping"]
    ref = mapping.get(event_type)
    return ref.rsplit("/", 1)[-1] if ref else None


def event_types() -> list[str]:
    return list(spec()["components"]["schemas"]["CoreEvent"]["discriminator"]["mapping"])


def first_error(validator: Draft202012Validator, instance: Any) -> str | None:
    """The most relevant contract violation, as a sentence naming the field; None if valid."""
    error: ValidationError | None = best_match(validator.iter_errors(instance))
    if error is None:
        return None
    where = "/".join(str(part) for part in error.absolute_path) or "the body"
    return f"{where}: {error.message}"[:500]
