"""Faults set live: reproducible noise per seed, rates as asked, delays kept, order kept."""

from __future__ import annotations

import itertools
import math
import threading
import time

import pytest

from tests.transport.fakes import FakeChannel, FakeClock
from transport import FaultyChannel, NoiseModel

DATA = bytes(range(256)) * 40  # 10 240 bytes
NOISY = NoiseModel(flip=0.02, drop=0.02, duplicate=0.02)


def faulty(seed: int = 0) -> tuple[FaultyChannel, FakeChannel, FakeClock]:
    clock = FakeClock()
    inner = FakeChannel(clock)
    return FaultyChannel(inner, seed=seed, clock=clock), inner, clock


def read_all(channel: FaultyChannel, inner: FakeChannel) -> bytes:
    got = bytearray()
    while inner.arrivals or channel.pending_in_bytes:
        got += channel.read_some(0.05)
    return bytes(got)


def run(seed: int, settings: list[tuple[NoiseModel | None, NoiseModel | None]]) -> list[bytes]:
    """Each setting in turn, DATA both ways; what came out of each direction."""
    channel, inner, _ = faulty(seed)
    outputs = []
    for to_device, from_device in settings:
        channel.set_faults(to_device, from_device)
        inner.arrive(0.0, DATA)
        outputs.append(read_all(channel, inner))
        inner.writes.clear()
        channel.write(DATA)
        outputs.append(inner.written())
    return outputs


def test_the_same_seed_and_settings_damage_the_same_bytes() -> None:
    settings = [(NOISY, NOISY), (NOISY, None), (None, NOISY)]
    first = run(7, settings)
    assert first == run(7, settings)
    assert first != run(8, settings)
    assert first[0] != DATA  # noisy both ways
    assert first[1] != DATA
    assert first[3] == DATA  # clean where no model was set
    assert first[4] == DATA
    assert first[0] != first[2]  # a new setting draws new seeds: not the same damage again


def test_off_is_clean_and_counts_nothing() -> None:
    assert run(1, [(None, None)]) == [DATA, DATA]
    channel, _, _ = faulty()
    assert all(counts.bytes_in == 0 for counts in channel.counts().values())


@pytest.mark.timeout(120)
def test_rates_are_as_asked_over_100k_bytes_each_way() -> None:
    model = NoiseModel(flip=0.01, drop=0.02, duplicate=0.03)
    channel, inner, _ = faulty(seed=3)
    channel.set_faults(model, model)
    data = bytes(range(256)) * 400  # 102 400 bytes
    inner.arrive(0.0, data)
    received = read_all(channel, inner)
    channel.write(data)
    counts = channel.counts()
    assert set(counts) == {"to_device", "from_device"}
    assert len(received) == len(data) - counts["to_device"].dropped + counts["to_device"].duplicated
    assert (
        len(inner.written())
        == len(data) - counts["from_device"].dropped + counts["from_device"].duplicated
    )
    for direction in counts.values():
        assert direction.bytes_in == len(data)
        for seen, rate in (
            (direction.flipped, model.flip),
            (direction.dropped, model.drop),
            (direction.duplicated, model.duplicate),
        ):
            expected = len(data) * rate
            assert abs(seen - expected) < 5 * math.sqrt(expected), (seen, expected)


def test_a_delay_holds_each_direction_back_by_that_long() -> None:
    channel, inner, clock = faulty()
    channel.set_faults(None, None, delay_s=0.5)
    channel.write(b"reply")
    assert inner.written() == b""
    assert channel.next_due_s() == 0.5
    clock.now_s = 0.499
    channel.flush_due()
    assert inner.written() == b""
    clock.now_s = 0.5
    channel.flush_due()
    assert inner.writes == [(0.5, b"reply")]
    inner.arrive(1.0, b"request")
    got = b""
    while not got:
        got = channel.read_some(0.05)
    assert got == b"request"
    assert clock.now_s == pytest.approx(1.5)


def test_turning_faults_off_releases_what_is_held_back_in_order() -> None:
    channel, inner, clock = faulty()
    channel.set_faults(None, None, delay_s=1.0)
    channel.write(b"abc")
    channel.faults_off()
    clock.now_s = 0.1
    channel.write(b"def")  # no delay now, but it may not overtake
    assert inner.written() == b""
    clock.now_s = 1.0
    channel.flush_due()
    assert inner.written() == b"abcdef"


@pytest.mark.parametrize("delay_s", [-0.1, 60.5, math.nan, math.inf])
def test_a_delay_outside_0_to_60_s_is_refused(delay_s: float) -> None:
    channel, _, _ = faulty()
    with pytest.raises(ValueError, match=r"delay .* outside 0\.\.60 s"):
        channel.set_faults(None, None, delay_s=delay_s)


def test_a_rate_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ValueError, match=r"flip rate 1\.5 outside 0\.\.1"):
        NoiseModel(flip=1.5)


def test_a_setting_that_is_not_a_noise_model_is_refused() -> None:
    channel, _, _ = faulty()
    with pytest.raises(ValueError, match="to_device"):
        channel.set_faults(0.1, None)  # type: ignore[arg-type]


@pytest.mark.timeout(120)
def test_settings_change_safely_while_the_line_runs() -> None:
    """Every byte duplicated, or none, switched from another thread: what came out is the
    input in order with some bytes doubled, and always agrees with the counts."""
    channel, inner, _ = faulty(seed=5)
    doubling = NoiseModel(flip=0.0, drop=0.0, duplicate=1.0)
    stop = threading.Event()
    switches = 0

    def control() -> None:
        nonlocal switches
        while not stop.is_set():
            channel.set_faults(doubling, doubling, delay_s=0.001)
            channel.counts()
            channel.faults_off()
            switches += 1

    thread = threading.Thread(target=control)
    thread.start()
    received = bytearray()
    sent = 0
    deadline_s = time.monotonic() + 60
    try:
        # Until both settings have been seen, however the threads are scheduled.
        while sent < 20_000 or not 0 < channel.counts()["to_device"].duplicated < sent:
            assert time.monotonic() < deadline_s, "the control thread never got a turn"
            inner.arrive(inner.clock.now_s, b"0123456789")
            received += channel.read_some(0.0)
            channel.write(b"abcdefghij")
            sent += 10
        channel.faults_off()
        while channel.pending_in_bytes or channel.pending_out_bytes or inner.arrivals:
            received += channel.read_some(0.01)
    finally:
        stop.set()
        thread.join()
    counts = channel.counts()
    assert switches > 0
    assert len(received) == sent + counts["to_device"].duplicated
    assert len(inner.written()) == sent + counts["from_device"].duplicated
    for stream, unit in ((bytes(received), b"0123456789"), (inner.written(), b"abcdefghij")):
        runs = [(key, len(list(group))) for key, group in itertools.groupby(stream)]
        assert bytes(key for key, _ in runs) == unit * (sent // 10)
        assert {length for _, length in runs} <= {1, 2}


def test_faults_off_releases_what_a_long_delay_still_holds() -> None:
    # Found by attack: a 60 s delay switched off kept the line for a minute.
    clock = FakeClock()
    inner = FakeChannel(clock)
    channel = FaultyChannel(inner, clock=clock)
    channel.set_faults(None, None, delay_s=60.0)
    channel.write(b"reply")
    inner.arrive(0.0, b"request")
    assert channel.read_some(0.01) == b""
    channel.faults_off()
    assert channel.read_some(0.01) == b"request"
    assert inner.written() == b"reply"
    assert clock.now_s < 1.0
