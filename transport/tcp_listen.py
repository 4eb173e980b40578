"""A device served over TCP: pyserial's ``socket://HOST:PORT`` reaches it as a serial port.

For a programmer on another machine, or in a container without the emulator's ptys. The
channel listens on ``tcp://HOST:PORT`` and carries one connection at a time, like the one
cable of a serial port: a new connection replaces the old one (a programmer that crashed and
came back must not find the pump taken), and the old peer sees EOF. With no connection,
written bytes fall on the floor, as on an unplugged cable, and are counted.
"""

from __future__ import annotations

import ipaddress
import logging
import select
import socket
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from transport.channel import POLL_INTERVAL_S, PortOpenError

log = logging.getLogger(__name__)

SCHEME = "tcp"
_RECV_BYTES = 65_536
_SEND_FLAGS = getattr(socket, "MSG_NOSIGNAL", 0)  # a dead peer raises, never signals


def parse_tcp_url(url: str) -> tuple[str, int]:
    """``tcp://HOST:PORT`` (IPv6 as ``[::1]``) to ``(host, port)``; PortOpenError if not."""
    usage = f"bad address {url!r}: expected tcp://HOST:PORT, e.g. tcp://127.0.0.1:7000"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise PortOpenError(f"{usage} ({exc})") from exc
    host = parts.hostname
    if (
        parts.scheme.lower() != SCHEME
        or not host
        or port is None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
    ):
        raise PortOpenError(usage)
    return host, port


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (no name lookup: a name other than
    ``localhost`` counts as reachable from outside)."""
    name = host.strip().removeprefix("[").removesuffix("]").rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def format_address(address: tuple[str, int]) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class TcpListenChannel:
    """A listening socket with at most one live connection (module docstring).

    ``on_connect(peer)`` and ``on_disconnect(peer)`` are called from ``read_some`` when a
    peer comes, is replaced, closes or fails. Reading and writing belong to one thread.
    """

    def __init__(
        self,
        url: str,
        poll_interval_s: float = POLL_INTERVAL_S,
        on_connect: Callable[[str], None] | None = None,
        on_disconnect: Callable[[str], None] | None = None,
    ) -> None:
        host, port = parse_tcp_url(url)
        self._listener = _listen(host, port)
        bound = self._listener.getsockname()
        self.address: tuple[str, int] = (str(bound[0]), int(bound[1]))
        self.description = f"{SCHEME}://{format_address(self.address)}"
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.dropped_bytes = 0
        self.connections = 0
        self.replaced_connections = 0
        self._poll_interval_s = poll_interval_s
        self._conn: socket.socket | None = None
        self._peer = ""
        self._closed = False

    @property
    def peer(self) -> str | None:
        """``host:port`` of the connected peer, or None."""
        return self._peer if self._conn is not None else None

    def read_some(self, timeout_s: float | None = None) -> bytes:
        """Bytes from the connected peer; accepts a new peer (replacing the old) meanwhile."""
        wait_s = self._poll_interval_s if timeout_s is None else max(0.0, timeout_s)
        deadline_s = time.monotonic() + wait_s
        while True:
            conn = self._conn
            watched = [self._listener] if conn is None else [self._listener, conn]
            ready, _, _ = select.select(watched, [], [], max(0.0, deadline_s - time.monotonic()))
            if self._listener in ready:
                self._accept()
            elif conn is not None and conn in ready:
                data = self._receive(conn)
                if data:
                    return data
            if time.monotonic() >= deadline_s:
                return b""

    def write(self, data: bytes) -> None:
        """Send to the peer; with no peer, a peer that stopped reading or a dead one, the
        bytes are dropped (counted in ``dropped_bytes``), never waited for."""
        conn = self._conn
        if conn is None:
            self.dropped_bytes += len(data)
            return
        view = memoryview(data)
        while view:
            try:
                sent = conn.send(view, _SEND_FLAGS)
            except BlockingIOError:
                log.warning("%s: peer not reading, dropped %d bytes", self._peer, len(view))
                self.dropped_bytes += len(view)
                return
            except OSError as exc:
                self.dropped_bytes += len(view)
                self._drop(f"failed ({exc.strerror or exc})")
                return
            view = view[sent:]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._conn is not None:
            _shut(self._conn)
            self._conn = None
        self._listener.close()

    def _accept(self) -> None:
        try:
            conn, address = self._listener.accept()
        except OSError as exc:  # the client gave up between select and accept
            log.debug("%s: accept failed: %s", self.description, exc)
            return
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = format_address((str(address[0]), int(address[1])))
        old, old_peer = self._conn, self._peer
        self._conn, self._peer = conn, peer
        self.connections += 1
        if old is None:
            log.info("%s: connection from %s", self.description, peer)
        else:
            self.replaced_connections += 1
            log.info("%s: connection from %s replaces %s", self.description, peer, old_peer)
            _shut(old)
            if self.on_disconnect is not None:
                self.on_disconnect(old_peer)
        if self.on_connect is not None:
            self.on_connect(peer)

    def _receive(self, conn: socket.socket) -> bytes:
        try:
            data = conn.recv(_RECV_BYTES)
        except BlockingIOError:
            return b""
        except OSError as exc:
            self._drop(f"failed ({exc.strerror or exc})")
            return b""
        if not data:
            self._drop("closed")
        return data

    def _drop(self, why: str) -> None:
        """The peer is gone: forget it and wait for the next."""
        conn, peer = self._conn, self._peer
        if conn is None:
            return
        self._conn = None
        _shut(conn)
        log.info("%s: connection from %s %s", self.description, peer, why)
        if self.on_disconnect is not None:
            self.on_disconnect(peer)


def _listen(host: str, port: int) -> socket.socket:
    where = f"{SCHEME}://{format_address((host, port))}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError as exc:  # gaierror: unknown host
        raise PortOpenError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
    family, kind, proto, _, sockaddr = infos[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(sockaddr)
        listener.listen(1)
        listener.setblocking(False)
    except OSError as exc:
        listener.close()
        raise PortOpenError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
    return listener


def _shut(conn: socket.socket) -> None:
    """Shut down and close: the peer sees EOF at once, not when the process exits."""
    try:
        conn.shutdown(socket.SHUT_RDWR)
    except OSError:
        log.debug("socket already disconnected")
    conn.close()
