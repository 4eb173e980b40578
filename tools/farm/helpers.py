"""Small steps of tools/farm/run that bash does badly: free ports, waiting for a listener,
the URL in ``labgrid-client show``, and round-trip figures through a port.

    python tools/farm/helpers.py free-port
    python tools/farm/helpers.py wait-listen PORT SECONDS
    labgrid-client -p PLACE show | python tools/farm/helpers.py place-url
    python tools/farm/helpers.py round-trip URL KEY_FILE [REQUESTS]
"""

from __future__ import annotations

import ast
import socket
import statistics
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def wait_listen(port: int, seconds: float) -> bool:
    """Connects (and hangs up at once) until something listens; the farm's servers, ser2net
    included, take a bare connection and its end in their stride."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection((HOST, port), timeout=1.0).close()
        except OSError:
            time.sleep(0.1)  # a real process starting up
            continue
        return True
    return False


def place_url(show: str) -> str | None:
    """The RFC 2217 URL of the place's acquired NetworkSerialPort: the block under "Acquired
    resource" is a Python literal (pformat); None while the exporter has no port for it yet."""
    lines = show.splitlines()
    for index, line in enumerate(lines):
        if not line.startswith("Acquired resource"):
            continue
        block = []
        for following in lines[index + 1 :]:
            if not following.startswith("  "):
                break
            block.append(following[2:])
        resource = ast.literal_eval("\n".join(block))
        params = resource.get("params", {})
        if resource.get("cls") != "NetworkSerialPort" or not params.get("port"):
            continue
        # ser2net on a pty confirms no DTR/RTS change: as labgrid's own SerialDriver does.
        return f"rfc2217://{params['host']}:{params['port']}?ign_set_control"
    return None


def round_trip(url: str, key_file: Path, requests: int) -> str:
    from programmer import Programmer  # the project's environment only

    started = time.perf_counter()
    with Programmer.open(url, key_file=key_file) as pump:
        opened = time.perf_counter()
        times_ms = []
        for _ in range(requests):
            before = time.perf_counter()
            pump.status()
            times_ms.append((time.perf_counter() - before) * 1000)
        closing = time.perf_counter()
    closed = time.perf_counter()
    times_ms.sort()
    p90 = times_ms[int(0.9 * (len(times_ms) - 1))]
    return (
        f"{url}: status round trip median {statistics.median(times_ms):.2f} ms, "
        f"p90 {p90:.2f} ms, max {times_ms[-1]:.2f} ms ({requests} requests); "
        f"open with session {(opened - started) * 1000:.0f} ms, "
        f"close {(closed - closing) * 1000:.0f} ms"
    )


def main(argv: list[str]) -> int:
    verb, args = (argv[0], argv[1:]) if argv else ("", [])
    if verb == "free-port" and not args:
        print(free_port())
        return 0
    if verb == "wait-listen" and len(args) == 2:
        return 0 if wait_listen(int(args[0]), float(args[1])) else 1
    if verb == "place-url" and not args:
        url = place_url(sys.stdin.read())
        if url is None:
            return 1
        print(url)
        return 0
    if verb == "round-trip" and len(args) in (2, 3):
        print(round_trip(args[0], Path(args[1]), int(args[2]) if len(args) == 3 else 50))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
