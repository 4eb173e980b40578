"""A parsed scenario: what the runner needs, in the model's own units."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from firmware_model.config import PumpConfig


@dataclass(frozen=True, slots=True)
class Step:
    index: int  # position in the file, from 0, as error and refusal lines name it
    at_us: int
    action: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scenario:
    config: PumpConfig
    steps: tuple[Step, ...]
    until_us: int | None  # None: run until end of service
    horizon_us: int  # the furthest an end-of-service run may go
