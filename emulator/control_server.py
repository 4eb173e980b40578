"""The control channel's socket: JSON lines on TCP (loopback by default) or a unix socket.

Never the pump's serial link: a test rig reaches the emulator's internals here, so by default
only this machine can connect. Each connection gets a thread; each request runs under the
rig's lock, between two serial requests. A malformed line gets an error object and the
connection stays open; nothing a client sends stops the emulator.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import threading
from pathlib import Path
from typing import Any

from emulator.control_verbs import handle
from emulator.rig import Rig
from rig_control import ControlAddress

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 16 * 1024 * 1024  # a restore carries a snapshot: about 1 MiB, full log
MAX_CONNECTIONS = 8  # a test rig needs one or two; each may buffer a request


class ControlServerError(Exception):
    """The control channel cannot listen where asked; the message names the address."""


class _Handler(socketserver.StreamRequestHandler):
    server: _TcpServer | _UnixServer

    def handle(self) -> None:
        with self.server.slots:
            if self.server.connections >= MAX_CONNECTIONS:
                self._send(_error("busy", f"{MAX_CONNECTIONS} control connections already open"))
                return
            self.server.connections += 1
        try:
            self._serve_lines()
        finally:
            with self.server.slots:
                self.server.connections -= 1

    def _serve_lines(self) -> None:
        rig = self.server.rig
        peer = self.client_address or "unix client"
        log.info("control: connection from %s", peer)
        while True:
            try:
                line = self.rfile.readline(MAX_REQUEST_BYTES + 1)
            except OSError:
                return
            if not line:
                return
            if len(line) > MAX_REQUEST_BYTES:
                self._send(_error("too_long", "request longer than 16 MiB"))
                return
            if not line.strip():
                continue
            try:
                request: Any = json.loads(line.decode("utf-8"))
            except UnicodeDecodeError as exc:
                self._send(_error("bad_json", f"not UTF-8 at byte {exc.start}"))
                continue
            except ValueError as exc:
                self._send(_error("bad_json", f"not JSON: {exc}"))
                continue
            except RecursionError:
                self._send(_error("bad_json", "not JSON this channel reads: nested too deep"))
                continue
            reply = handle(rig, request)
            verb = request.get("verb") if isinstance(request, dict) else None
            verb = verb if isinstance(verb, str) else "a malformed request"
            if reply["ok"]:
                log.info("control: %s", verb)
            else:
                log.warning("control: %s refused: %s", verb, reply["error"]["message"])
            if not self._send(reply):
                return

    def _send(self, reply: dict[str, Any]) -> bool:
        try:
            self.wfile.write(json.dumps(reply, separators=(",", ":")).encode() + b"\n")
            self.wfile.flush()
        except OSError:
            return False
        return True


def _error(code: str, message: str) -> dict[str, Any]:
    return {"id": None, "ok": False, "error": {"code": code, "message": message}}


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], rig: Rig, ipv6: bool) -> None:
        self.address_family = socket.AF_INET6 if ipv6 else socket.AF_INET
        self.rig = rig
        self.slots = threading.Lock()
        self.connections = 0
        super().__init__(address, _Handler)


class _UnixServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, rig: Rig) -> None:
        self.rig = rig
        self.slots = threading.Lock()
        self.connections = 0
        super().__init__(path, _Handler)


class ControlServer:
    """Serves the control channel on a thread of its own until ``close``."""

    def __init__(self, address: ControlAddress, rig: Rig) -> None:
        self.address = address
        self._unix_path: Path | None = None
        server: _TcpServer | _UnixServer
        try:
            if address.kind == "unix":
                path = Path(address.path)
                if path.is_socket():
                    _refuse_if_alive(path)
                    path.unlink()
                server = _UnixServer(address.path, rig)
                os.chmod(address.path, 0o600)
                self._unix_path = path
            else:
                server = _TcpServer((address.host, address.port), rig, ":" in address.host)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ControlServerError(f"cannot listen for control on {address}: {reason}") from exc
        self._server = server
        if address.kind == "tcp":
            bound: Any = server.server_address
            self.address = ControlAddress("tcp", host=str(bound[0]), port=int(bound[1]))
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._unix_path is not None:
            self._unix_path.unlink(missing_ok=True)


def _refuse_if_alive(path: Path) -> None:
    """A socket file nobody answers on is stale and may go; a live one belongs to another."""
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return
    finally:
        probe.close()
    raise OSError(98, f"another emulator answers on {path}")
