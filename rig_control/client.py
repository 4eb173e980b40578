"""A blocking JSON-lines client for the emulator's control channel (docs/control.md)."""

from __future__ import annotations

import json
import socket
from types import TracebackType
from typing import Any

from rig_control.address import ControlAddress, parse_address

DEFAULT_TIMEOUT_S = 30.0
MAX_LINE_BYTES = 64 * 1024 * 1024  # a snapshot holds the whole event log


class ControlError(Exception):
    """The emulator refused a control request; ``code`` is the error object's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ControlUnavailable(Exception):
    """No control channel answers at that address (not started, gone, or not an emulator)."""


class ControlClient:
    """One connection, one request at a time; ``call`` returns the ``result`` object."""

    def __init__(self, address: str | ControlAddress, timeout_s: float = DEFAULT_TIMEOUT_S):
        self.address = parse_address(address) if isinstance(address, str) else address
        self._timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._next_id = 1

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self._buffer = b""

    def call(self, verb: str, **args: Any) -> dict[str, Any]:
        request_id = self._next_id
        self._next_id += 1
        line = json.dumps({"id": request_id, "verb": verb, "args": args}) + "\n"
        sock = self._connected()
        try:
            sock.sendall(line.encode())
            reply = self._read_reply()
        except OSError as exc:
            self.close()
            raise ControlUnavailable(f"control channel {self.address}: {exc}") from exc
        if reply.get("id") != request_id:
            self.close()
            raise ControlUnavailable(f"control channel {self.address}: reply to another request")
        if not reply.get("ok"):
            error = reply.get("error") or {}
            raise ControlError(str(error.get("code", "error")), str(error.get("message", "")))
        result = reply.get("result")
        return result if isinstance(result, dict) else {"value": result}

    # -- the verbs, as methods, for readable tests ----------------------------------------

    def state(self) -> dict[str, Any]:
        return self.call("state")

    def advance(self, duration: str | int) -> dict[str, Any]:
        return self.call("advance", duration=duration)

    def link_advance(self, duration: str | int) -> dict[str, Any]:
        return self.call("link-advance", duration=duration)

    def snapshot(self) -> dict[str, Any]:
        return self.call("snapshot")

    def restore(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        return self.call("restore", snapshot=snapshot)

    def reset(self, preset: str | None = None) -> dict[str, Any]:
        return self.call("reset") if preset is None else self.call("reset", preset=preset)

    # -- internals -------------------------------------------------------------------------

    def _connected(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        address = self.address
        try:
            if address.kind == "unix":
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self._timeout_s)
                sock.connect(address.path)
            else:
                sock = socket.create_connection(
                    (address.host, address.port), timeout=self._timeout_s
                )
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ControlUnavailable(f"no control channel at {address}: {reason}") from exc
        self._sock = sock
        return sock

    def _read_reply(self) -> dict[str, Any]:
        sock = self._connected()
        while b"\n" not in self._buffer:
            chunk = sock.recv(1 << 16)
            if not chunk:
                raise OSError("the emulator closed the control connection")
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE_BYTES:
                raise OSError("reply longer than any control reply")
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            reply = json.loads(line)
        except ValueError as exc:
            raise OSError(f"not a control reply: {line[:60]!r}") from exc
        if not isinstance(reply, dict):
            raise OSError(f"not a control reply: {line[:60]!r}")
        return reply
