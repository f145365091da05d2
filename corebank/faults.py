"""Fault injection: the ways a real core-banking system misbehaves, switched on through ``/sim/faults``.

The settings live in memory (every request reads them, so no per-request query) and are saved
in the ``faults`` table so that a restarted service keeps them. Random draws come from one
``random.Random`` reseeded from ``seed`` whenever the settings change: the same settings and the
same sequence of requests give the same failures, so a test run is repeatable.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from corebank.contract import SchemaValidator, check
from corebank.store import Store

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "down": {"type": "boolean"},
        "failure_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "timeout_rate": {"type": "number", "minimum": 0, "maximum": 1},
        "timeout_seconds": {"type": "number", "minimum": 0, "maximum": 600},
        "latency_ms": {"type": "integer", "minimum": 0, "maximum": 60_000},
        "config_fault_channels": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 60},
            "maxItems": 1000,
        },
        "seed": {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
    },
    "additionalProperties": False,
}
_VALIDATOR = SchemaValidator(SCHEMA)


@dataclass(frozen=True, slots=True)
class FaultSettings:
    down: bool = False
    failure_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 10.0
    latency_ms: int = 0
    config_fault_channels: tuple[str, ...] = field(default=())
    seed: int = 0

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["config_fault_channels"] = list(self.config_fault_channels)
        return data


class Faults:
    """The current fault settings and the seeded random draws made from them."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        saved = store.load_faults()
        self._settings = _apply(FaultSettings(), saved) if saved else FaultSettings()
        self._random = random.Random(self._settings.seed)  # noqa: S311 - repeatable draws, not secrets

    @property
    def settings(self) -> FaultSettings:
        return self._settings

    def update(self, patch: Any) -> FaultSettings:
        """Replace the keys given (others kept); :class:`corebank.contract.RequestInvalid` if invalid."""
        check(_VALIDATOR, patch, "body")
        with self._lock:
            self._settings = _apply(self._settings, patch)
            self._random = random.Random(self._settings.seed)  # noqa: S311 - repeatable draws, not secrets
            self._store.save_faults(self._settings.as_json())
            return self._settings

    def reset(self) -> FaultSettings:
        with self._lock:
            self._settings = FaultSettings()
            self._random = random.Random(self._settings.seed)  # noqa: S311 - repeatable draws, not secrets
            return self._settings

    def draw(self, rate: float) -> bool:
        """True with probability ``rate``; no draw at all for 0 (so unrelated settings keep the sequence)."""
        if rate <= 0:
            return False
        if rate >= 1:
            return True
        with self._lock:
            return self._random.random() < rate


def _apply(settings: FaultSettings, patch: dict[str, Any]) -> FaultSettings:
    known = {key: value for key, value in patch.items() if key in FaultSettings.__dataclass_fields__}
    if "config_fault_channels" in known:
        known["config_fault_channels"] = tuple(known["config_fault_channels"])
    for key in ("failure_rate", "timeout_rate", "timeout_seconds"):
        if key in known:
            known[key] = float(known[key])
    for key in ("latency_ms", "seed"):  # JSON Schema counts 5.0 as an integer
        if key in known:
            known[key] = int(known[key])
    return replace(settings, **known)
