"""A local tty read and written by its descriptor: what pyserial did for a device path, kept."""

from __future__ import annotations

import logging
import os
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from transport import PortOpenError, PtyChannel, SerialChannel, TtyChannel, open_port


@pytest.fixture
def pty() -> Iterator[PtyChannel]:
    channel = PtyChannel()
    yield channel
    channel.close()


def read_exactly(channel: PtyChannel | TtyChannel, size: int) -> bytes:
    got = b""
    deadline = time.monotonic() + 10.0
    while len(got) < size and time.monotonic() < deadline:
        got += channel.read_some(0.05)
    return got


def test_a_device_path_gets_the_descriptor_channel_and_urls_keep_pyserial(
    pty: PtyChannel,
) -> None:
    local = open_port(pty.path)
    assert isinstance(local, TtyChannel)
    local.close()
    loop = open_port("loop://")
    assert isinstance(loop, SerialChannel)
    loop.close()
    odd_baud = open_port(pty.path, baudrate=123_457)  # no termios constant: pyserial's BOTHER
    assert isinstance(odd_baud, SerialChannel)
    odd_baud.close()


def test_bytes_pass_both_ways_untouched_by_any_line_discipline(pty: PtyChannel) -> None:
    channel = TtyChannel(pty.path, 115_200)
    try:
        # CR, LF, ^C, ^S/^Q, ^D, DEL and the frame delimiter: raw mode keeps every one.
        awkward = bytes([0x0D, 0x0A, 0x03, 0x13, 0x11, 0x04, 0x7F, 0xC0, 0x00, 0xFF]) * 3
        channel.write(awkward)
        assert read_exactly(pty, len(awkward)) == awkward
        pty.write(awkward)
        assert read_exactly(channel, len(awkward)) == awkward
    finally:
        channel.close()


def test_the_port_is_set_up_raw_8n1_at_the_baud_asked(pty: PtyChannel) -> None:
    channel = TtyChannel(pty.path, 9_600)
    try:
        fd = os.open(pty.path, os.O_RDWR | os.O_NOCTTY)  # a second look at the same tty
        try:
            iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
        finally:
            os.close(fd)
    finally:
        channel.close()
    assert ispeed == ospeed == termios.B9600
    assert cflag & termios.CSIZE == termios.CS8
    assert not cflag & (termios.PARENB | termios.CSTOPB | termios.CRTSCTS)
    assert not lflag & (termios.ICANON | termios.ECHO | termios.ISIG | termios.IEXTEN)
    assert not oflag & termios.OPOST
    assert not iflag & (termios.ICRNL | termios.IXON | termios.IXOFF | termios.ISTRIP)
    assert cc[termios.VMIN] == 0
    assert cc[termios.VTIME] == 0


def test_a_read_with_nothing_to_read_returns_empty_after_its_timeout(pty: PtyChannel) -> None:
    channel = TtyChannel(pty.path, 115_200, poll_interval_s=0.02)
    try:
        started = time.monotonic()
        assert channel.read_some(0.05) == b""
        assert channel.read_some() == b""  # the poll interval
        assert channel.read_some(0.0) == b""
        assert time.monotonic() - started >= 0.05
    finally:
        channel.close()


def test_a_second_open_is_refused_as_in_use_by_either_kind_of_channel(pty: PtyChannel) -> None:
    first = TtyChannel(pty.path, 115_200)
    try:
        with pytest.raises(PortOpenError) as info:
            TtyChannel(pty.path, 115_200)
        assert str(info.value) == (
            f"cannot open port {pty.path}: port in use (another program has it open)"
        )
        with pytest.raises(PortOpenError, match="port in use"):
            SerialChannel(pty.path)  # pyserial's flock and ours are the same lock
        TtyChannel(pty.path, 115_200, exclusive=False).close()  # sharing, when asked
    finally:
        first.close()
    held = SerialChannel(pty.path)
    try:
        with pytest.raises(PortOpenError, match="port in use"):
            open_port(pty.path)
    finally:
        held.close()
    TtyChannel(pty.path, 115_200).close()  # free again once closed


def test_a_missing_port_and_a_file_that_is_no_tty_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(PortOpenError, match="No such file or directory") as info:
        open_port("/dev/no-such-port")
    assert str(info.value) == "cannot open port /dev/no-such-port: No such file or directory"
    not_a_tty = tmp_path / "file"
    not_a_tty.write_bytes(b"")
    with pytest.raises(PortOpenError, match=f"cannot open port {not_a_tty}: ") as info:
        open_port(str(not_a_tty))
    assert "in use" not in str(info.value)


def test_a_closed_channel_refuses_reads_and_writes_and_closes_twice(pty: PtyChannel) -> None:
    channel = TtyChannel(pty.path, 115_200)
    channel.close()
    channel.close()
    with pytest.raises(OSError, match="port closed"):
        channel.read_some(0.01)
    with pytest.raises(OSError, match="port closed"):
        channel.write(b"x")


def test_a_vanished_device_is_an_os_error_not_an_endless_stream_of_nothing() -> None:
    pty = PtyChannel()
    channel = TtyChannel(pty.path, 115_200)
    try:
        pty.close()  # the other end goes away, as a pulled USB dongle does
        failure: OSError | None = None
        for _ in range(100):
            try:
                channel.read_some(0.05)
            except OSError as exc:
                failure = exc
                break
        assert failure is not None
    finally:
        channel.close()


def test_a_write_nobody_reads_is_dropped_after_the_write_timeout(
    pty: PtyChannel, caplog: pytest.LogCaptureFixture
) -> None:
    channel = TtyChannel(pty.path, 115_200, write_timeout_s=0.2)
    try:
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="transport.tty_channel"):
            channel.write(bytes(4 * 1024 * 1024))  # far more than a pty buffers
        assert time.monotonic() - started < 30.0  # bounded by the timeout, not by a reader
        assert "write timed out, dropped" in caplog.text
    finally:
        channel.close()
