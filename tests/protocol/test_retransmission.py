"""A retransmission is never refused as a replay, however the bytes arrive (issue 7, point 1).

Version 1 answered a request and its copy arriving in one read with a *signed* REPLAYED for
the copy, then executed the original: a programmer that believed the refusal sent the bolus
again. Here every chunking of the bytes is tried.
"""

from __future__ import annotations

import pytest

from protocol import (
    ErrorReply,
    GetStatus,
    Message,
    PatientBolus,
    Reason,
    Refused,
    ReplyReceived,
    Retransmitted,
    StaleRequest,
)
from protocol.pump_connection import WINDOW
from tests.protocol.pair import Pair


def opened() -> Pair:
    pair = Pair()
    pair.open_session()
    return pair


def signed_refusals(pair: Pair, data: bytes) -> list[ErrorReply]:
    events = pair.deliver_to_programmer(data)
    return [
        e.message
        for e in events
        if isinstance(e, ReplyReceived) and e.authenticated and isinstance(e.message, ErrorReply)
    ]


def replies(pair: Pair, data: bytes) -> list[Message]:
    return [e.message for e in pair.deliver_to_programmer(data) if isinstance(e, ReplyReceived)]


def test_window_is_at_least_four() -> None:
    assert WINDOW >= 4  # docs/protocol.md, section 5 states K = 8


def test_both_copies_in_one_read_run_once_and_nothing_is_refused() -> None:
    pair = opened()
    _, data = pair.programmer.request(PatientBolus())
    out = pair.deliver_to_pump(data + data)
    assert pair.executed.count(PatientBolus()) == 1
    assert signed_refusals(pair, out) == []
    assert not any(isinstance(e, Refused) for e in pair.pump_events)
    # The copy is looked at only once the original is answered: it gets that reply.
    assert any(isinstance(e, Retransmitted) for e in pair.pump_events)


def test_split_at_every_byte_the_copy_gets_the_reply_and_runs_nothing() -> None:
    template = opened()
    _, data = template.programmer.request(PatientBolus())
    stream = data + data
    for cut in range(len(stream) + 1):
        pair = opened()
        _, same = pair.programmer.request(PatientBolus())
        assert same == data  # seeded: the same session, counter and tag every time
        out = pair.deliver_to_pump(stream[:cut]) + pair.deliver_to_pump(stream[cut:])
        assert pair.executed.count(PatientBolus()) == 1, cut
        assert signed_refusals(pair, out) == [], cut


def test_copies_interleaved_with_later_requests_each_get_their_reply() -> None:
    pair = opened()
    frames = [pair.programmer.request(m)[1] for m in (PatientBolus(), GetStatus(), GetStatus())]
    first, second, third = frames
    stream = first + second + first + third + second + first
    out = pair.deliver_to_pump(stream)
    assert pair.executed.count(PatientBolus()) == 1
    assert pair.executed.count(GetStatus()) == 2
    got = replies(pair, out)
    # Copies answered from the cache carry counters the programmer has taken: dropped.
    assert len(got) == 3
    assert not any(isinstance(m, ErrorReply) for m in got)


@pytest.mark.parametrize("cut", [1, 7, 15])
def test_a_copy_that_arrives_while_pending_gets_the_reply_when_it_exists(cut: int) -> None:
    pair = opened()
    seq, data = pair.programmer.request(PatientBolus())
    # The first copy is cut short and arrives whole only with the second: two copies,
    # the first one broken, then one more in the same read.
    out = pair.deliver_to_pump(data[:-cut] + data + data)
    got = replies(pair, out)
    assert [type(m).__name__ for m in got if not isinstance(m, ErrorReply)] == [
        "StatusReply"  # the Pair's application answers everything with a status
    ]
    assert pair.executed.count(PatientBolus()) == 1
    assert seq


def test_each_of_the_last_k_requests_is_answered_from_the_cache() -> None:
    pair = opened()
    frames = [pair.programmer.request(GetStatus())[1] for _ in range(WINDOW)]
    answers = [pair.deliver_to_pump(f) for f in frames]
    executed = len(pair.executed)
    for frame, answer in zip(frames, answers, strict=True):
        assert pair.deliver_to_pump(frame) == answer
    assert len(pair.executed) == executed


def test_a_copy_older_than_the_window_is_dropped_without_a_reply() -> None:
    pair = opened()
    old = pair.programmer.request(PatientBolus())[1]
    pair.deliver_to_pump(old)
    for _ in range(WINDOW):
        pair.deliver_to_pump(pair.programmer.request(GetStatus())[1])
    assert pair.deliver_to_pump(old) == b""  # it may have run: no refusal may be signed
    assert isinstance(pair.pump_events[-1], StaleRequest)
    assert pair.executed.count(PatientBolus()) == 1


def test_a_signed_refusal_is_cached_like_any_reply() -> None:
    pair = opened()
    data = pair.programmer.request(PatientBolus())[1]
    pair.app = lambda event: ErrorReply(Reason.LOCKOUT, event.frame.msg_type, "locked out")
    first = pair.deliver_to_pump(data)
    assert pair.deliver_to_pump(data) == first
    assert pair.executed.count(PatientBolus()) == 1


def test_the_application_must_answer_before_the_next_frame_is_looked_at() -> None:
    pair = opened()
    a = pair.programmer.request(GetStatus())[1]
    b = pair.programmer.request(GetStatus())[1]
    pair.pump.receive_data(a + b, pair.now_us)
    events = pair.pump.events()
    next(events)  # the first request, not answered
    with pytest.raises(RuntimeError, match="answer the request"):
        next(events)
