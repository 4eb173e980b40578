"""The pump's end of the link under random and mangled input: typed events only, therapy safe.

Valid frames with bytes flipped, dropped, duplicated or cut off, and plain random bytes, go
to a pump connection with a session open. Nothing may raise, no request may be executed
that was not sent intact, and the next intact request must still be answered.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import GetStatus, PatientBolus, StatusReply
from tests.protocol.pair import Pair

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mangled(draw: st.DrawFn, frame: bytes) -> bytes:
    data = bytearray(frame)
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["flip", "drop", "duplicate", "truncate", "insert"]))
        if not data:
            break
        index = draw(st.integers(0, len(data) - 1))
        if operation == "flip":
            data[index] ^= 1 << draw(st.integers(0, 7))
        elif operation == "drop":
            del data[index]
        elif operation == "duplicate":
            data.insert(index, data[index])
        elif operation == "truncate":
            del data[index:]
        else:
            data.insert(index, draw(st.integers(0, 255)))
    return bytes(data)


def session_pair() -> Pair:
    pair = Pair()
    pair.open_session()
    return pair


@SETTINGS
@given(st.data())
def test_mangled_frames_are_never_executed_and_never_crash(data: st.DataObject) -> None:
    pair = session_pair()
    _, frame = pair.programmer.request(PatientBolus())
    damaged = data.draw(mangled(frame))
    before = len(pair.executed)
    pair.deliver_to_pump(damaged)
    if damaged != frame:
        # A damaged frame may at most be identical in meaning to the intact one (a dropped
        # delimiter, a duplicated one); it is never a different request.
        assert all(m == PatientBolus() for m in pair.executed[before:])
    assert isinstance(pair.ask(GetStatus()), StatusReply)


@SETTINGS
@given(st.binary(max_size=2_000))
def test_random_bytes_never_crash_and_the_link_recovers(noise: bytes) -> None:
    pair = session_pair()
    before = len(pair.executed)
    pair.deliver_to_pump(noise)
    assert len(pair.executed) == before  # noise carries no valid tag: nothing is executed
    assert isinstance(pair.ask(GetStatus()), StatusReply)
