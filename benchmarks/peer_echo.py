"""The floor: a raw ``os.read``/``os.write`` echo over the pair, with the sizes of our status
request and reply. Nothing but the two pseudo-terminals and socat between the ends.

``python -m benchmarks.peer_echo PORT REQUEST_BYTES REPLY_BYTES READY_FILE`` serves end A:
it reads a request's worth of bytes, then writes a reply's worth, until killed.
"""

from __future__ import annotations

import os
import sys
import time
import tty
from pathlib import Path


def open_raw(port: str) -> int:
    """The port in raw mode, a read blocking until a byte is there (VMIN 1, VTIME 0): the
    previous program on the port may have left it otherwise."""
    fd = os.open(port, os.O_RDWR | os.O_NOCTTY)
    tty.setraw(fd)
    return fd


def serve(port: str, request_bytes: int, reply_bytes: int, ready_file: Path) -> None:
    fd = open_raw(port)
    reply = bytes(reply_bytes)
    ready_file.write_text("ready\n")
    while True:
        got = 0
        while got < request_bytes:
            got += len(os.read(fd, request_bytes - got))
        os.write(fd, reply)


def round_trips(port: str, request_bytes: int, reply_bytes: int, count: int) -> list[float]:
    """``count`` echo round trips from end B, each timed, in seconds."""
    fd = open_raw(port)
    request = bytes(request_bytes)
    times: list[float] = []
    clock = time.perf_counter
    try:
        for _ in range(count):
            started = clock()
            os.write(fd, request)
            got = 0
            while got < reply_bytes:
                got += len(os.read(fd, reply_bytes - got))
            times.append(clock() - started)
    finally:
        os.close(fd)
    return times


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
