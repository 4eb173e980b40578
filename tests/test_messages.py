"""Every message survives the wire, and no payload can make decoding raise anything untyped."""

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (
    AlarmFlags,
    ErrorReply,
    Flags,
    Frame,
    Kind,
    Message,
    MessageError,
    PumpState,
    Reason,
    decode_message,
    encode_payload,
)
from protocol.messages import MAX_TEXT_LEN, all_message_classes

U32 = st.integers(0, 0xFFFF_FFFF)
TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=32)
FIELD_STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "state": st.sampled_from(PumpState),
    "alarms": st.sampled_from(list(AlarmFlags)),
    "reason": st.sampled_from(Reason),
    "request_type": st.integers(0, 0xFF),
    "protocol_version": st.integers(0, 0xFF),
    "clock_s": st.integers(0, 2**64 - 1),
    "message": TEXT,
    "model": TEXT,
    "serial_number": TEXT,
    "firmware_version": TEXT,
}


def message_strategy(cls: type[Message]) -> st.SearchStrategy[Message]:
    fields = {f.name: FIELD_STRATEGIES.get(f.name, U32) for f in dataclasses.fields(cls)}
    return st.builds(cls, **fields)


def frame_for(message: Message, seq: int = 1) -> Frame:
    return Frame(message.KIND.flags, seq, int(message.TYPE), encode_payload(message))


@pytest.mark.parametrize("cls", all_message_classes(), ids=lambda c: c.__name__)
@given(data=st.data())
def test_every_message_round_trips(cls: type[Message], data: st.DataObject) -> None:
    message = data.draw(message_strategy(cls))
    assert decode_message(frame_for(message)) == message


@pytest.mark.parametrize("cls", all_message_classes(), ids=lambda c: c.__name__)
@given(payload=st.binary(max_size=80))
def test_arbitrary_payloads_decode_or_raise_message_error(
    cls: type[Message], payload: bytes
) -> None:
    frame = Frame(cls.KIND.flags, 1, int(cls.TYPE), payload)
    reason: Reason | None = None
    try:
        decoded = decode_message(frame)
    except MessageError as exc:
        reason = exc.reason
    else:
        # Whatever decodes is canonical: it encodes back to exactly the bytes received.
        assert encode_payload(decoded) == payload
    assert reason in (None, Reason.BAD_PAYLOAD)


def test_unknown_type_is_typed() -> None:
    with pytest.raises(MessageError) as error:
        decode_message(Frame(Flags.NONE, 1, 0x6E, b""))
    assert error.value.reason is Reason.UNKNOWN_MESSAGE


def test_error_text_is_cut_to_fit_and_made_ascii() -> None:
    long = ErrorReply(Reason.WRONG_STATE, 3, "µ" + "x" * 500)
    decoded = decode_message(frame_for(long))
    assert isinstance(decoded, ErrorReply)
    assert decoded.message.startswith("?x")
    assert len(decoded.message) == MAX_TEXT_LEN


def test_value_that_does_not_fit_is_a_local_error() -> None:
    from protocol import SetDose

    with pytest.raises(ValueError, match="SetDose"):
        encode_payload(SetDose(-1))


def test_kinds_map_to_flags_and_back() -> None:
    for kind in Kind:
        assert Kind.of(kind.flags) is kind
