"""A device served on TCP: pyserial's socket:// reaches it, one client at a time."""

from __future__ import annotations

import logging
import socket
import struct
import time
from collections.abc import Callable, Iterator

import pytest
import serial

from transport import PortOpenError, TcpListenChannel, is_loopback, parse_tcp_url

DEADLINE_S = 10.0


@pytest.fixture
def events() -> list[str]:
    return []


@pytest.fixture
def listener(events: list[str]) -> Iterator[TcpListenChannel]:
    channel = TcpListenChannel(
        "tcp://127.0.0.1:0",
        on_connect=lambda peer: events.append(f"connect {peer}"),
        on_disconnect=lambda peer: events.append(f"disconnect {peer}"),
    )
    yield channel
    channel.close()


def pump_until(channel: TcpListenChannel, done: Callable[[], bool]) -> bytes:
    """Drive the channel as the serve loop does until ``done``; what it read meanwhile."""
    got = bytearray()
    deadline_s = time.monotonic() + DEADLINE_S
    while not done():
        assert time.monotonic() < deadline_s, "condition not reached"
        got += channel.read_some(0.02)
    return bytes(got)


def read_exactly(channel: TcpListenChannel, size: int) -> bytes:
    got = bytearray()
    deadline_s = time.monotonic() + DEADLINE_S
    while len(got) < size:
        assert time.monotonic() < deadline_s, f"only {bytes(got)!r} arrived"
        got += channel.read_some(0.02)
    return bytes(got)


def client_address(client: socket.socket) -> str:
    host, port = client.getsockname()[:2]
    return f"{host}:{port}"


def test_port_0_binds_an_ephemeral_port(listener: TcpListenChannel) -> None:
    host, port = listener.address
    assert host == "127.0.0.1"
    assert port != 0
    assert listener.description == f"tcp://127.0.0.1:{port}"


def test_pyserial_socket_url_talks_to_it_both_ways(listener: TcpListenChannel) -> None:
    port = listener.address[1]
    client = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=DEADLINE_S)
    try:
        client.write(b"request")
        assert read_exactly(listener, 7) == b"request"
        assert listener.peer is not None
        listener.write(b"reply")
        assert client.read(5) == b"reply"
    finally:
        client.close()


def test_a_new_client_replaces_the_old_which_sees_eof(
    listener: TcpListenChannel, events: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    first = socket.create_connection(listener.address, timeout=DEADLINE_S)
    second = socket.create_connection(listener.address, timeout=DEADLINE_S)
    try:
        with caplog.at_level(logging.INFO, logger="transport.tcp_listen"):
            pump_until(listener, lambda: listener.connections == 2)
        assert first.recv(1) == b""  # EOF, at once
        assert listener.replaced_connections == 1
        assert listener.peer == client_address(second)
        assert events == [
            f"connect {client_address(first)}",
            f"disconnect {client_address(first)}",
            f"connect {client_address(second)}",
        ]
        assert (
            f"connection from {client_address(second)} replaces {client_address(first)}"
            in caplog.text
        )
        second.sendall(b"still here")
        assert read_exactly(listener, 10) == b"still here"
    finally:
        first.close()
        second.close()


def test_accepted_connections_have_nagle_off(listener: TcpListenChannel) -> None:
    client = socket.create_connection(listener.address, timeout=DEADLINE_S)
    try:
        pump_until(listener, lambda: listener.peer is not None)
        accepted = listener._conn  # the option lives on the server's side of the connection
        assert accepted is not None
        assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        client.close()


def test_a_write_with_no_client_is_dropped_and_counted(listener: TcpListenChannel) -> None:
    listener.write(b"nobody")
    listener.write(b"")
    assert listener.dropped_bytes == 6


def test_a_client_that_leaves_is_forgotten_and_the_next_is_served(
    listener: TcpListenChannel, events: list[str]
) -> None:
    client = socket.create_connection(listener.address, timeout=DEADLINE_S)
    pump_until(listener, lambda: listener.peer is not None)
    client.close()
    pump_until(listener, lambda: listener.peer is None)
    assert events[-1] == f"disconnect {events[0].removeprefix('connect ')}"
    listener.write(b"gone")
    assert listener.dropped_bytes == 4
    again = socket.create_connection(listener.address, timeout=DEADLINE_S)
    try:
        pump_until(listener, lambda: listener.peer is not None)
        listener.write(b"hello")
        assert again.recv(5) == b"hello"
    finally:
        again.close()


def test_a_write_to_a_reset_peer_is_dropped_never_raised(listener: TcpListenChannel) -> None:
    client = socket.create_connection(listener.address, timeout=DEADLINE_S)
    pump_until(listener, lambda: listener.peer is not None)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.close()  # RST, not FIN
    deadline_s = time.monotonic() + DEADLINE_S
    while listener.peer is not None:  # the first writes may still be taken by the kernel
        assert time.monotonic() < deadline_s
        listener.write(b"x" * 1000)
        listener.read_some(0.01)
    dropped = listener.dropped_bytes
    listener.write(b"after")
    assert listener.dropped_bytes == dropped + 5


def test_a_taken_port_is_refused_naming_the_address(listener: TcpListenChannel) -> None:
    port = listener.address[1]
    with pytest.raises(PortOpenError, match=f"cannot listen on tcp://127.0.0.1:{port}: "):
        TcpListenChannel(f"tcp://127.0.0.1:{port}")


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:7000",
        "socket://127.0.0.1:7000",
        "tcp://127.0.0.1",
        "tcp://:7000",
        "tcp://127.0.0.1:70000",
        "tcp://127.0.0.1:port",
        "tcp://127.0.0.1:7000/path",
        "tcp://127.0.0.1:7000?x=1",
    ],
)
def test_a_bad_url_is_refused_in_one_line(url: str) -> None:
    with pytest.raises(PortOpenError, match=r"bad address .*expected tcp://HOST:PORT") as info:
        TcpListenChannel(url)
    assert url in str(info.value)
    assert "\n" not in str(info.value)


def test_an_unknown_host_is_refused_naming_it() -> None:
    with pytest.raises(PortOpenError, match=r"cannot listen on tcp://no-such-host.invalid:7000"):
        TcpListenChannel("tcp://no-such-host.invalid:7000")


def test_urls_parse_to_host_and_port() -> None:
    assert parse_tcp_url("tcp://127.0.0.1:0") == ("127.0.0.1", 0)
    assert parse_tcp_url("TCP://[::1]:7000/") == ("::1", 7000)
    assert parse_tcp_url("tcp://0.0.0.0:7000") == ("0.0.0.0", 7000)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("pump.localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.20", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
