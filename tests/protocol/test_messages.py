"""Every message survives the wire, and no payload can make decoding raise anything untyped."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import (
    AckAlarm,
    CommitPrescription,
    ErrorReply,
    Flags,
    Frame,
    GetOutcome,
    Kind,
    Message,
    MessageError,
    Reason,
    SessionAuth,
    SessionOpen,
    StatusReply,
    decode_message,
    encode_payload,
)
from protocol.messages import MAX_TEXT_LEN, all_message_classes
from tests.protocol.strategies import message_strategy


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
    # Layout problems are BAD_PAYLOAD; an unknown code in a request is a value problem.
    allowed = {None, Reason.BAD_PAYLOAD}
    if cls.KIND is Kind.REQUEST:
        allowed.add(Reason.VALUE_OUT_OF_RANGE)
    assert reason in allowed


def test_an_unknown_code_in_a_request_is_out_of_range_not_bad_layout() -> None:
    # docs/protocol.md, section 7: sizes, counts and text are layout; numbers are values.
    with pytest.raises(MessageError) as error:
        decode_message(Frame(Kind.REQUEST.flags, 1, int(AckAlarm.TYPE), b"\x06"))
    assert error.value.reason is Reason.VALUE_OUT_OF_RANGE
    with pytest.raises(MessageError) as error:
        decode_message(Frame(Kind.REPLY.flags, 1, int(AckAlarm.TYPE), b"\x01\x06" + bytes(9)))
    assert error.value.reason is Reason.BAD_PAYLOAD  # a reply we cannot read: layout


def test_text_outside_printable_ascii_is_bad_layout() -> None:
    payload = bytes([1]) + bytes(16) + b"\x03a\x07b"  # SessionOpen with a BEL in the operator
    with pytest.raises(MessageError) as error:
        decode_message(Frame(Kind.REQUEST.flags, 1, int(SessionOpen.TYPE), payload))
    assert error.value.reason is Reason.BAD_PAYLOAD


def test_fast_path_is_used_for_fixed_layouts_only() -> None:
    assert StatusReply.FAST is not None
    assert ErrorReply.FAST is None  # it has a text field


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
    with pytest.raises(ValueError, match="SessionOpen"):
        encode_payload(SessionOpen(256, bytes(16), "x"))


def test_kinds_map_to_flags_and_back() -> None:
    for kind in Kind:
        assert Kind.of(kind.flags) is kind


@pytest.mark.parametrize(
    ("cls", "payload"),
    [
        (SessionAuth, bytes(4 + 15)),  # a proof one byte short
        (CommitPrescription, bytes(16)),  # a digest, and no start byte
        (GetOutcome, bytes(8 + 7)),  # a tag one byte short
    ],
)
def test_a_fixed_size_byte_field_cut_short_is_bad_layout(
    cls: type[Message], payload: bytes
) -> None:
    # Found by a team writing a programmer from the specification: compiled construct reads
    # a short byte string at the end of a payload without complaint.
    with pytest.raises(MessageError) as error:
        decode_message(Frame(cls.KIND.flags, 1, int(cls.TYPE), payload))
    assert error.value.reason is Reason.BAD_PAYLOAD


def test_a_status_with_two_alarms_decodes_in_a_fresh_process() -> None:
    # Found by a new user: an empty pump (low and empty reservoir at once) could not be read.
    # Python makes a combination of flags a member only once it is first built, so the check
    # runs where nothing has built one yet: a fresh interpreter.
    import subprocess
    import sys

    program = (
        "from protocol import Frame, Kind, StatusReply, AlarmFlags, decode_message\n"
        "import struct\n"
        "payload = StatusReply.FAST.pack(2, 1, 3, 1, 0, 0, 0, 500, 400, 0, 10**6, 37000, 1, 1, 0)\n"
        "m = decode_message(Frame(Kind.REPLY.flags, 1, int(StatusReply.TYPE), payload))\n"
        "print(int(m.alarms), int(m.silenced))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "1"]


def test_alarm_bits_outside_the_defined_ones_are_refused() -> None:
    payload = StatusReply.FAST.pack(2, 1, 1 << 9, 0, 0, 0, 0, 500, 400, 0, 10**6, 37000, 1, 1, 0)  # type: ignore[union-attr]
    with pytest.raises(MessageError) as error:
        decode_message(Frame(Kind.REPLY.flags, 1, int(StatusReply.TYPE), payload))
    assert error.value.reason is Reason.BAD_PAYLOAD
    assert "bits outside" in error.value.detail
