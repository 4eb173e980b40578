"""The emulator's line options end to end: --baud-pace, --listen, and faults from the rig."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pytest
import serial

from emulator.line_stack import AdjustablePacing, build_line
from faults.control_faults import QUICK_COMMANDS
from faults.control_faults import quick_run as control_faults_quick
from hil_tests.emulator_process import EmulatorProcess
from programmer.client import Programmer
from protocol import Hello, HelloReply, ProgrammerConnection, ReplyReceived
from protocol.capture import CaptureWriter
from tests.transport.fakes import FakeChannel, FakeClock
from transport import SerialChannel

BAUD = 9600  # the figure: 960 bytes a second at 10 bits a byte


def _hello_replies_after(port: SerialChannel, burst: bytes, programmer: ProgrammerConnection,
                         expected: int) -> float:  # fmt: skip
    """Seconds from writing ``burst`` to the last of ``expected`` HelloReplies."""
    port.write(burst)
    started = time.monotonic()
    replies = 0
    while replies < expected and time.monotonic() < started + 30:
        programmer.receive_data(port.read_some())
        replies += sum(
            isinstance(e, ReplyReceived) and isinstance(e.message, HelloReply)
            for e in programmer.events()
        )
    assert replies == expected
    return time.monotonic() - started


@pytest.mark.timeout(120)
def test_baud_pace_9600_a_1200_byte_burst_and_a_1200_byte_reply_take_uart_time(
    tmp_path: Path,
) -> None:
    programmer = ProgrammerConnection()
    with EmulatorProcess(tmp_path, extra_args=("--baud-pace", str(BAUD), "--speed", "0")) as emu:
        port = SerialChannel(emu.port, poll_interval_s=0.005)
        try:
            # 1,200 bytes at once, the HELLO last: it reaches the protocol only when the
            # burst's last bit would have arrived, 1.25 s; its 32-byte reply adds 0.03 s.
            hello = programmer.request(Hello())[1]
            burst = b"\x55" * (1_200 - len(hello)) + hello
            request_s = _hello_replies_after(port, burst, programmer, 1)
            # HELLOs whose replies make 1,200 bytes or more: the replies take 1.25 s.
            frames = [programmer.request(Hello())[1] for _ in range(38)]
            reply_s = _hello_replies_after(port, b"".join(frames), programmer, 38)
        finally:
            port.close()
    # Never below the physics; 2.0 s above leaves room for a busy 2-core machine.
    assert 1.24 <= request_s <= 2.0
    assert 1.24 <= reply_s <= 2.0


def test_pacing_switched_on_and_off_keeps_every_byte_in_order() -> None:
    clock = FakeClock()
    inner = FakeChannel(clock)
    pacing = AdjustablePacing(inner, None, clock)  # the test's clock: no real time passes
    pacing.write(b"fast")
    assert inner.written() == b"fast"
    pacing.set_baud(BAUD)
    pacing.write(b"x" * 96)  # 0.1 s at 9600 baud
    assert inner.written() == b"fast"
    pacing.set_baud(None)  # what the old pacing held goes out at once, in order
    assert inner.written() == b"fast" + b"x" * 96
    assert pacing.description == inner.description


@pytest.mark.timeout(120)
def test_listen_serves_socket_urls_and_a_new_programmer_replaces_the_old(tmp_path: Path) -> None:
    with EmulatorProcess(
        tmp_path, port_args=("--listen", "tcp://127.0.0.1:0"), extra_args=("--speed", "0")
    ) as emu:
        assert emu.port.startswith("socket://127.0.0.1:")
        first = serial.serial_for_url(emu.port, timeout=5)
        try:
            with Programmer.open(emu.port, key_file=emu.key_file, operator="listen") as pump:
                # the second connection replaced the first: the first sees the end
                assert pump.status().reservoir_ul > 0
                with pytest.raises(serial.SerialException, match="disconnected"):
                    first.read(1)
        finally:
            first.close()
        assert emu.running
        assert "programmer connected from" in emu.log_tail()


@pytest.mark.timeout(300)
def test_programming_through_faults_the_emulator_injects_applies_each_once() -> None:
    """Issue 11's noisy_link campaign, short (``python -m faults.control_faults 10000``)."""
    figures = control_faults_quick()
    print(figures.summary())
    result = figures.as_campaign()
    assert set(result) == {
        "noisy_link_commands", "noisy_link_done", "noisy_link_not_done", "noisy_link_unknown",
        "noisy_link_refused_by_state", "noisy_link_unresolved", "noisy_link_wrong_outcome",
        "noisy_link_duplicates",
    }  # fmt: skip
    assert result["noisy_link_commands"] == QUICK_COMMANDS
    assert result["noisy_link_wrong_outcome"] == 0
    assert result["noisy_link_duplicates"] == 0
    assert result["noisy_link_done"] >= 0.95 * QUICK_COMMANDS
    assert result["noisy_link_unresolved"] <= 0.01 * QUICK_COMMANDS
    assert figures.broken_promises() == []
    assert figures.retransmissions > 0  # the faults were on: the link had to work for it


class FullDisk(io.RawIOBase):
    """Takes the pcap header, then the disk is full."""

    def __init__(self) -> None:
        self.writes = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.writes += 1
        if self.writes > 1:
            raise OSError(28, "No space left on device")
        return len(data)


def test_a_capture_that_cannot_be_written_stops_and_the_line_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    inner = FakeChannel(clock)
    stream = FullDisk()
    line = build_line(inner, None, CaptureWriter(stream))  # type: ignore[arg-type]
    inner.arrive(0.0, b"\xc0request\xc0")
    assert line.channel.read_some(0.01) == b"\xc0request\xc0"
    line.channel.write(b"\xc0reply\xc0")
    line.channel.write(b"\xc0another\xc0")
    assert inner.written() == b"\xc0reply\xc0\xc0another\xc0"
    assert caplog.text.count("capture stopped") == 1
