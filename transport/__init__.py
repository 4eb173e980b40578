"""Byte channels by pyserial URL, and a pty for a virtual port: one API for virtual and real."""

from transport.capture import CapturingChannel, OnBytes
from transport.channel import POLL_INTERVAL_S, ByteChannel, PortOpenError
from transport.faulty import FaultyChannel
from transport.noise import LineNoise, NoiseCounts, NoiseModel
from transport.paced import PacedChannel
from transport.pty_channel import PtyChannel
from transport.schedule import ReleaseSchedule
from transport.serial_url import DEFAULT_BAUDRATE, SerialChannel, open_port
from transport.tcp_listen import TcpListenChannel, is_loopback, parse_tcp_url
from transport.tty_channel import TtyChannel

__all__ = [
    "DEFAULT_BAUDRATE",
    "POLL_INTERVAL_S",
    "ByteChannel",
    "CapturingChannel",
    "FaultyChannel",
    "LineNoise",
    "NoiseCounts",
    "NoiseModel",
    "OnBytes",
    "PacedChannel",
    "PortOpenError",
    "PtyChannel",
    "ReleaseSchedule",
    "SerialChannel",
    "TcpListenChannel",
    "TtyChannel",
    "is_loopback",
    "open_port",
    "parse_tcp_url",
]
