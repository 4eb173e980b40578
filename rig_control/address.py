"""Where a control channel listens: ``tcp://HOST:PORT`` or ``unix:PATH``."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ControlAddress:
    kind: str  # "tcp" or "unix"
    host: str = ""
    port: int = 0
    path: str = ""

    def __str__(self) -> str:
        return f"unix:{self.path}" if self.kind == "unix" else f"tcp://{self.host}:{self.port}"

    @property
    def is_local(self) -> bool:
        """A unix socket, or TCP on a loopback address: only this machine can reach it."""
        if self.kind == "unix":
            return True
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def parse_address(text: str) -> ControlAddress:
    """``tcp://127.0.0.1:7001``, ``tcp://[::1]:7001`` or ``unix:/run/pump.sock``; ValueError
    with the expected forms otherwise."""
    forms = "expected tcp://HOST:PORT or unix:PATH"
    if text.startswith("unix:"):
        path = text.removeprefix("unix:").removeprefix("//")
        if not path:
            raise ValueError(f"no socket path in {text!r}: {forms}")
        return ControlAddress("unix", path=path)
    if text.startswith("tcp://"):
        rest = text.removeprefix("tcp://")
        host, sep, port_text = rest.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ValueError(f"bad control address {text!r}: {forms}")
        return ControlAddress("tcp", host=host, port=int(port_text))
    raise ValueError(f"bad control address {text!r}: {forms}")
