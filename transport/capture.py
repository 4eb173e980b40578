"""A channel that reports every byte it moves: the hook a capture of the link hangs on.

Transport knows nothing of frames or pumps: it says only "rx" (read) or "tx" (written). The
shell that wraps a channel knows which end of the link it is, maps the two to directions and
stamps the time (``protocol.capture.CaptureWriter`` shows how).
"""

from __future__ import annotations

from collections.abc import Callable

from transport.channel import ByteChannel

OnBytes = Callable[[str, bytes], None]  # ("rx" or "tx", bytes)


class CapturingChannel:
    """``inner``, with ``on_bytes("rx", data)`` after each read that returned bytes and
    ``on_bytes("tx", data)`` after each write that did not raise."""

    def __init__(self, inner: ByteChannel, on_bytes: OnBytes) -> None:
        self.inner = inner
        self.on_bytes = on_bytes
        self.description = inner.description

    def read_some(self, timeout_s: float | None = None) -> bytes:
        data = self.inner.read_some(timeout_s)
        if data:
            self.on_bytes("rx", data)
        return data

    def write(self, data: bytes) -> None:
        self.inner.write(data)
        if data:
            self.on_bytes("tx", bytes(data))

    def close(self) -> None:
        self.inner.close()
