"""``make faults``, decoder campaign, short: mutated and random inputs to every decoder on both
ends, and nothing but typed protocol errors (``python -m faults.decoder_inputs`` for the
million)."""

from __future__ import annotations

import pytest

import faults.decoder_inputs as decoder_inputs
from faults.decoder_inputs import run
from protocol import Frame, Message, MessageType, decode_message


def test_twenty_thousand_inputs_reach_every_decoder_and_none_fails() -> None:
    figures = run(20_000, seed=7)
    print(figures.summary())
    assert figures.inputs == 20_000
    assert figures.failures == 0, figures.examples
    assert figures.rss_growth_mb < decoder_inputs.MAX_RSS_GROWTH_MB
    # The mutations reach past the frame checks: messages decode, requests reach the pump's
    # application behind a good tag, the programmer takes signed replies.
    assert figures.frames > 5_000
    assert figures.messages > 1_000
    assert figures.requests_handed_up > 100
    assert figures.replies_taken > 100
    assert set(figures.by_mutator) == {
        "bit flips",
        "truncation",
        "splice",
        "length lie",
        "stuffing error",
        "random bytes",
        "payload behind a good CRC",
        "payload behind a good tag",
    }
    assert set(figures.to_programmer) == set(figures.by_mutator)  # both ends get every kind


def test_an_untyped_exception_in_a_decoder_is_counted_as_a_failure(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = decode_message

    def fragile(frame: Frame) -> Message:
        if frame.msg_type == MessageType.GET_STATUS:
            raise KeyError("a decoder bug")
        return real(frame)

    monkeypatch.setattr("faults.decoder_inputs.decode_message", fragile)
    figures = run(3_000, seed=7)
    assert figures.failures > 0
    assert "KeyError: 'a decoder bug'" in figures.examples[0]
