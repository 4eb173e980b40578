"""What every transport offers: a bidirectional byte channel that never blocks for long."""

from typing import Protocol

POLL_INTERVAL_S = 0.05


class PortOpenError(Exception):
    """The port named by the user cannot be opened; the message names the port."""


class ByteChannel(Protocol):
    description: str

    def read_some(self, timeout_s: float | None = None) -> bytes:
        """Whatever has arrived, waiting at most ``timeout_s`` (default: one poll interval);
        b"" if nothing did. A caller with a deadline passes what is left of it."""
        ...

    def write(self, data: bytes) -> None: ...

    def close(self) -> None: ...
