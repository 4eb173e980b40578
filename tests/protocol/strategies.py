"""Hypothesis strategies for every message, from the dataclass fields and their wire widths."""

from __future__ import annotations

import dataclasses
from enum import Enum, IntFlag
from typing import Any, get_args, get_origin, get_type_hints

from hypothesis import strategies as st

from protocol import AlarmFlags, Message

U8 = {
    "protocol_version", "min_version", "max_version", "role", "request_type",
    "patient_max_per_day", "max_entries", "raised", "silenced", "log_class", "reply_type",
    "max_flex_steps", "max_patient_boluses_per_day", "basal_on", "start", "max_pages", "page",
    "pages",
}  # fmt: skip
U16 = {"idle_timeout_s", "max_dose_increase_pct"}
U64 = {"clock_s", "at_s", "raised_s", "t_s", "min_clock_s", "max_clock_s", "patient_bolus_ends_s"}
I32 = {"discrepancy_nl"}
BYTES = {"digest": 16, "programmer_nonce": 16, "pump_nonce": 16, "proof": 16, "tag": 8}
VARIABLE_BYTES = {"reply": 64}  # length-prefixed byte strings: any length up to this
TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=24)


# Values a pump meets in practice, and the edges of its limits: random 32-bit numbers almost
# never pass the first check of a request, so the checks behind it would go untried.
PLAUSIBLE = (
    0, 1, 2, 3, 5, 10, 24, 25, 40, 50, 60, 100, 200, 300, 500, 900, 1_000, 1_800, 2_000,
    3_600, 19_000, 20_000, 28_800, 86_399, 86_400, 200_000, 1_000_000, 2_000_000,
    20_000_000, 24_000_000, 946_684_800, 1_795_000_000, 4_102_444_799,
)  # fmt: skip


def _within(low: int, high: int) -> st.SearchStrategy[int]:
    plausible = [v for v in PLAUSIBLE if low <= v <= high] + [low, high]
    return st.one_of(st.integers(low, high), st.sampled_from(plausible))


def _int_strategy(name: str) -> st.SearchStrategy[int]:
    if name in U8:
        return _within(0, 0xFF)
    if name in U16:
        return _within(0, 0xFFFF)
    if name in U64:
        return _within(0, 2**64 - 1)
    if name in I32:
        return _within(-(2**31), 2**31 - 1)
    return _within(0, 2**32 - 1)


def _strategy(name: str, hint: Any) -> st.SearchStrategy[Any]:
    if isinstance(hint, type) and issubclass(hint, IntFlag):
        return st.integers(0, 63).map(AlarmFlags)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return st.sampled_from(list(hint))
    if hint is bytes and name in VARIABLE_BYTES:
        return st.binary(max_size=VARIABLE_BYTES[name])
    if hint is bytes:
        return st.binary(min_size=BYTES[name], max_size=BYTES[name])
    if hint is str:
        return TEXT
    if get_origin(hint) is tuple:
        return st.lists(dataclass_strategy(get_args(hint)[0]), max_size=4).map(tuple)
    return _int_strategy(name)


def dataclass_strategy(cls: type[Any]) -> st.SearchStrategy[Any]:
    hints = get_type_hints(cls)
    fields = {f.name: _strategy(f.name, hints[f.name]) for f in dataclasses.fields(cls)}
    return st.builds(cls, **fields)


def message_strategy(cls: type[Message]) -> st.SearchStrategy[Message]:
    return dataclass_strategy(cls)
