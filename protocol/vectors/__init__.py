"""The published test vectors (v2.json, schema.json) and the JSON form of their fields."""

from __future__ import annotations

import dataclasses
import enum
from typing import Any


def plain(value: Any) -> Any:
    """Message fields as the vectors file writes them: enums and flags by name, bytes in hex."""
    if isinstance(value, enum.Flag):
        return [m.name for m in type(value) if m.value and m in value]
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value
