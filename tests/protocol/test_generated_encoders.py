"""Payload encoders generated from the construct declarations (issue 11: a log page's encode
was mostly ``dataclasses.asdict`` and construct's build). Construct stays the declaration:
every generated encoder must give exactly the bytes construct builds, and fail where it does.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import LogClass, LogPage, LogRecord, Message, encode_payload
from protocol.messages import all_message_classes, build_with_construct
from tests.protocol.strategies import message_strategy

VARIABLE = [cls for cls in all_message_classes() if cls.FAST is None]


def test_every_variable_layout_has_a_generated_encoder() -> None:
    assert {cls.__name__ for cls in VARIABLE} >= {"LogPage", "LogBurstPage", "LimitsReply"}
    assert all(cls.FAST_ENCODE is not None for cls in VARIABLE)


@pytest.mark.parametrize("cls", VARIABLE, ids=lambda c: c.__name__)
@given(data=st.data())
def test_the_generated_encoder_gives_constructs_bytes(
    cls: type[Message], data: st.DataObject
) -> None:
    message = data.draw(message_strategy(cls))
    assert encode_payload(message) == build_with_construct(message)


def test_a_log_page_is_encoded_without_deep_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> object:
        raise AssertionError("dataclasses.asdict called")

    monkeypatch.setattr(dataclasses, "asdict", refuse)
    records = tuple(LogRecord(i, 1_795_000_000, LogClass.LINK, "state", "a=1") for i in range(3))
    payload = encode_payload(LogPage(0, 3, 0, 0, records))
    assert len(payload) == 17 + 3 * (15 + len("state") + len("a=1"))


@pytest.mark.parametrize(
    "page",
    [
        LogPage(0, 1, 0, 0, (LogRecord(0, 0, LogClass.CLINICAL, "k" * 256, ""),)),  # text > 255
        LogPage(0, 1, 0, 0, (LogRecord(0, 0, LogClass.CLINICAL, "caf\u00e9", ""),)),  # not ASCII
        LogPage(0, 1, 0, 0, (LogRecord(0, -1, LogClass.CLINICAL, "k", ""),)),  # negative u64
        LogPage(0, 1, 0, 0, (LogRecord(0, 0, LogClass.CLINICAL, "k", ""),) * 256),  # count > 255
    ],
    ids=["long text", "not ascii", "negative", "too many"],
)
def test_what_does_not_fit_is_a_local_error_as_before(page: LogPage) -> None:
    with pytest.raises(ValueError, match="does not fit its wire layout"):
        encode_payload(page)
    with pytest.raises(Exception):  # noqa: B017, PT011 (construct refuses it too)
        build_with_construct(page)
