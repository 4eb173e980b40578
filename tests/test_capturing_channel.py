"""CapturingChannel: every byte read or written is reported, and nothing else changes."""

from __future__ import annotations

import pytest

from transport import ByteChannel, CapturingChannel


class FakeChannel:
    description = "fake port"

    def __init__(self, incoming: list[bytes]) -> None:
        self.incoming = incoming
        self.written: list[bytes] = []
        self.closed = False
        self.timeouts: list[float | None] = []

    def read_some(self, timeout_s: float | None = None) -> bytes:
        self.timeouts.append(timeout_s)
        return self.incoming.pop(0) if self.incoming else b""

    def write(self, data: bytes) -> None:
        if data == b"boom":
            raise OSError("port failed")
        self.written.append(data)

    def close(self) -> None:
        self.closed = True


def test_reads_and_writes_are_reported_in_order_and_passed_through() -> None:
    seen: list[tuple[str, bytes]] = []
    inner = FakeChannel([b"\xc0\x01", b""])
    channel: ByteChannel = CapturingChannel(inner, lambda way, data: seen.append((way, data)))
    assert channel.description == "fake port"
    channel.write(b"\xc0\x02\xc0")
    assert channel.read_some(0.25) == b"\xc0\x01"
    assert channel.read_some() == b""  # nothing arrived: nothing reported
    channel.close()
    assert seen == [("tx", b"\xc0\x02\xc0"), ("rx", b"\xc0\x01")]
    assert inner.written == [b"\xc0\x02\xc0"]
    assert inner.timeouts == [0.25, None]
    assert inner.closed


def test_a_write_that_fails_is_not_reported_as_sent() -> None:
    seen: list[tuple[str, bytes]] = []
    channel = CapturingChannel(FakeChannel([]), lambda way, data: seen.append((way, data)))
    with pytest.raises(OSError, match="port failed"):
        channel.write(b"boom")
    assert seen == []
