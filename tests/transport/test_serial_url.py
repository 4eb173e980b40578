"""Serial ports by URL: a local port is held exclusively; each class gets only its options."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import serial
import serial.rfc2217

from transport import PortOpenError, PtyChannel, SerialChannel
from transport.tcp_listen import TcpListenChannel


@pytest.fixture
def pty() -> Iterator[PtyChannel]:
    channel = PtyChannel()
    yield channel
    channel.close()


def read_exactly(channel: SerialChannel, size: int) -> bytes:
    got = b""
    for _ in range(200):
        got += channel.read_some(0.05)
        if len(got) >= size:
            break
    return got


def test_a_second_open_of_a_held_port_is_refused_as_in_use(pty: PtyChannel) -> None:
    first = SerialChannel(pty.path)
    try:
        with pytest.raises(PortOpenError) as info:
            SerialChannel(pty.path)
        assert str(info.value) == (
            f"cannot open port {pty.path}: port in use (another program has it open)"
        )
        first.write(b"still mine")
        assert pty.read_some(5.0) == b"still mine"
    finally:
        first.close()
    SerialChannel(pty.path).close()  # free again once closed


def test_exclusive_false_shares_the_port(pty: PtyChannel) -> None:
    first = SerialChannel(pty.path)
    second = SerialChannel(pty.path, exclusive=False)
    second.close()
    first.close()


def test_a_missing_port_is_not_called_in_use() -> None:
    with pytest.raises(PortOpenError, match="No such file or directory") as info:
        SerialChannel("/dev/no-such-port")
    assert "in use" not in str(info.value)


def test_socket_urls_open_without_a_lock_and_keep_their_write_timeout() -> None:
    server = TcpListenChannel("tcp://127.0.0.1:0")
    try:
        client = SerialChannel(f"socket://127.0.0.1:{server.address[1]}", write_timeout_s=0.5)
        port = client._port  # the pyserial object: which options it was given
        assert port.exclusive is None
        assert port.write_timeout == 0.5
        client.write(b"hi")
        got = b""
        for _ in range(200):
            got += server.read_some(0.05)
            if got == b"hi":
                break
        assert got == b"hi"
        client.close()
    finally:
        server.close()


def test_loop_urls_open_without_a_lock() -> None:
    channel = SerialChannel("loop://")
    try:
        assert channel._port.exclusive is None
        channel.write(b"echo")
        assert read_exactly(channel, 4) == b"echo"
    finally:
        channel.close()


def test_an_unknown_scheme_is_a_port_error() -> None:
    with pytest.raises(PortOpenError, match="cannot open port nosuch://x: invalid URL"):
        SerialChannel("nosuch://x")


def test_a_bad_option_at_open_is_a_port_error() -> None:
    with pytest.raises(PortOpenError, match="cannot open port loop://"):
        SerialChannel("loop://", write_timeout_s=-1.0)


class Rfc2217Server:
    """pyserial's RFC 2217 port manager over a loop:// port: a minimal real server."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._serve, daemon=True)]
        self._threads[0].start()

    def _serve(self) -> None:
        conn, _ = self._listener.accept()
        conn.settimeout(0.05)
        device = serial.serial_for_url("loop://", timeout=0.05)
        # The stub asks for rfc2217.Serial twice; pyserial takes any port and any writer.
        manager = serial.rfc2217.PortManager(device, _Connection(conn))  # type: ignore[arg-type]

        def to_network() -> None:
            while not self._stop.is_set():
                data = device.read(device.in_waiting or 1)
                if data:
                    conn.sendall(b"".join(manager.escape(data)))

        thread = threading.Thread(target=to_network, daemon=True)
        self._threads.append(thread)
        thread.start()
        while not self._stop.is_set():
            try:
                data = conn.recv(1024)
            except TimeoutError:
                continue
            if not data:
                break
            device.write(b"".join(manager.filter(data)))
        conn.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(5)


class _Connection:
    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn

    def write(self, data: bytes) -> None:
        self._conn.sendall(data)


@pytest.mark.timeout(60)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pyserial's own setDaemon()
def test_rfc2217_opens_with_no_write_timeout_and_carries_bytes() -> None:
    server = Rfc2217Server()
    try:
        channel = SerialChannel(f"rfc2217://127.0.0.1:{server.port}")
        try:
            assert channel._port.write_timeout is None
            assert channel._port.exclusive is None
            channel.write(b"over telnet")
            assert read_exactly(channel, 11) == b"over telnet"
        finally:
            channel.close()
    finally:
        server.close()


@pytest.mark.timeout(60)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pyserial's own setDaemon()
def test_an_rfc2217_read_timeout_change_renegotiates_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """pyserial's own class renegotiates the whole port on each timeout change (a round trip
    and at least 50 ms); the programmer shortens the timeout at every deadline's tail."""
    server = Rfc2217Server()
    renegotiations: list[float | None] = []
    try:
        channel = SerialChannel(f"rfc2217://127.0.0.1:{server.port}")
        try:
            original = serial.rfc2217.Serial._reconfigure_port  # type: ignore[attr-defined]  # private in the stub

            def counted(port: serial.rfc2217.Serial) -> None:
                renegotiations.append(port.timeout)
                original(port)

            monkeypatch.setattr(serial.rfc2217.Serial, "_reconfigure_port", counted)
            assert channel.read_some(0.01) == b""
            assert channel.read_some(0.2) == b""
            channel.write(b"still carried")
            assert read_exactly(channel, 13) == b"still carried"
            assert renegotiations == []
            assert channel._port.timeout == 0.05
        finally:
            channel.close()
    finally:
        server.close()


@pytest.mark.timeout(60)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pyserial's own setDaemon()
def test_an_rfc2217_server_that_never_confirms_modem_control_gets_the_remedy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ser2net on a pty confirms no DTR/RTS change: pyserial's message does not say why."""

    def unconfirmed(port: serial.rfc2217.Serial, value: bytes) -> None:
        raise serial.SerialException("timeout while waiting for option 'control'")

    monkeypatch.setattr(serial.rfc2217.Serial, "rfc2217_set_control", unconfirmed)
    server = Rfc2217Server()
    try:
        with pytest.raises(PortOpenError, match=r"add \?ign_set_control to the URL\)$"):
            SerialChannel(f"rfc2217://127.0.0.1:{server.port}")
    finally:
        server.close()
