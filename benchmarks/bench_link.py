"""Authenticated status round trips over one socat pty pair, interleaved with the floor (a
raw echo of the same sizes) and with pymodbus (10 holding registers), and the emulator's
memory over 100,000 requests.

Ours: ``pump-emulator --port A`` in its own process; at end B the programmer library, one
session, ``Programmer.status()`` again and again. Each program on end A is started for its
phase and stopped after it; the pair stays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks import peer_echo, peer_modbus
from benchmarks.harness import interleave, median, p99, ratio_median
from benchmarks.peers import PeerProcess, rss_mb
from benchmarks.settings import Settings
from benchmarks.socat_pair import SocatPair
from programmer import Programmer

FREE_SESSIONS = ("--telemetry-session-cost", "0s")


@dataclass(frozen=True, slots=True)
class Sizes:
    """Bytes on the wire of one status request and its reply, as measured."""

    request: int
    reply: int


@dataclass(frozen=True, slots=True)
class Run:
    """One phase: each round trip's time (s) and the phase's wall time (s)."""

    times_s: list[float]
    wall_s: float

    @property
    def per_s(self) -> float:
        return len(self.times_s) / self.wall_s


def emulator_on(port: str, workdir: Path, *extra: str) -> PeerProcess:
    """``pump-emulator --port PORT``: keys in ``workdir`` (made on the first start), the
    default log level (nothing per request). ``extra``: more options (``--telemetry-session-
    cost 0s`` for a pump made from the options; a loaded ``--state`` refuses it)."""
    return PeerProcess(
        ["emulator", "--port", port, "--port-file", str(workdir / "emulator.port"),
         "--key-file", str(workdir / "keys.json"), "--new-keys", *extra],
        workdir / "emulator.port",
        workdir / "emulator.log",
    )  # fmt: skip


def status_round_trips(port: str, key_file: Path, count: int, warmup: int) -> tuple[Run, Sizes]:
    """``count`` timed ``status()`` calls in one session, after ``warmup`` untimed ones."""
    sent: list[int] = []
    received = [0]

    def trace(direction: str, data: bytes) -> None:
        if direction == "tx":
            sent.append(len(data))
        else:
            received[0] += len(data)

    with Programmer.open(port, key_file=key_file, trace=trace) as programmer:
        sent.clear()
        received[0] = 0
        for _ in range(warmup):
            programmer.status()
        sizes = Sizes(max(sent), received[0] // max(len(sent), 1))
        programmer.link.trace = None  # the timed requests pay for no trace
        status = programmer.status
        clock = time.perf_counter
        times: list[float] = []
        started = clock()
        for _ in range(count):
            t0 = clock()
            status()
            times.append(clock() - t0)
        wall = clock() - started
    return Run(times, wall), sizes


def bench_link(settings: Settings, workdir: Path) -> dict[str, float]:
    with SocatPair(workdir) as pair:
        key_file = workdir / "keys.json"
        sizes: list[Sizes] = []

        def ours() -> Run:
            with emulator_on(pair.a, workdir, *FREE_SESSIONS):
                run, size = status_round_trips(
                    pair.b, key_file, settings.link_requests, settings.link_warmup
                )
            sizes.append(size)
            return run

        def echo() -> Run:
            size = sizes[-1]
            ready = workdir / "echo.ready"
            args = ["benchmarks.peer_echo", pair.a, str(size.request), str(size.reply), str(ready)]
            with PeerProcess(args, ready, workdir / "echo.log"):
                peer_echo.round_trips(pair.b, size.request, size.reply, settings.link_warmup)
                started = time.perf_counter()
                times = peer_echo.round_trips(
                    pair.b, size.request, size.reply, settings.link_requests
                )
                return Run(times, time.perf_counter() - started)

        def modbus() -> Run:
            ready = workdir / "modbus.ready"
            with PeerProcess(["benchmarks.peer_modbus", pair.a, str(ready)], ready,
                             workdir / "modbus.log"):  # fmt: skip
                times, wall_s = peer_modbus.round_trips(
                    pair.b, settings.link_requests, settings.link_warmup
                )
                return Run(times, wall_s)

        print("link: ours, echo, pymodbus over one socat pty pair", flush=True)
        runs = interleave([("ours", ours), ("echo", echo), ("modbus", modbus)], settings.rounds)
        print("link: emulator memory", flush=True)
        rss_first, rss_last = emulator_rss(pair.a, pair.b, workdir, settings)

    ours_rtt = [median(r.times_s) for r in runs["ours"]]
    echo_rtt = [median(r.times_s) for r in runs["echo"]]
    modbus_rtt = [median(r.times_s) for r in runs["modbus"]]
    ours_rate = [r.per_s for r in runs["ours"]]
    modbus_rate = [r.per_s for r in runs["modbus"]]
    return {
        "rtt_us_median": median(ours_rtt) * 1e6,
        "rtt_us_p99": median([p99(r.times_s) for r in runs["ours"]]) * 1e6,
        "requests_per_s": median(ours_rate),
        "pty_echo_rtt_us": median(echo_rtt) * 1e6,
        "pymodbus_requests_per_s": median(modbus_rate),
        "pymodbus_rtt_us_median": median(modbus_rtt) * 1e6,
        "pymodbus_rtt_us_p99": median([p99(r.times_s) for r in runs["modbus"]]) * 1e6,
        "rtt_vs_echo": ratio_median(ours_rtt, echo_rtt),
        "req_vs_pymodbus": ratio_median(ours_rate, modbus_rate),
        "status_request_bytes": float(sizes[0].request),
        "status_reply_bytes": float(sizes[0].reply),
        "emulator_rss_mb": rss_last,
        "emulator_rss_growth_mb": rss_last - rss_first,
    }


def emulator_rss(
    port_a: str, port_b: str, workdir: Path, settings: Settings
) -> tuple[float, float]:
    """The emulator's VmRSS (MB) after ``rss_first`` and after ``rss_last`` status requests
    in one session."""
    with (
        emulator_on(port_a, workdir, *FREE_SESSIONS) as emulator,
        Programmer.open(port_b, key_file=workdir / "keys.json") as programmer,
    ):
        status = programmer.status
        for _ in range(settings.rss_first):
            status()
        first = rss_mb(emulator.pid)
        for _ in range(settings.rss_last - settings.rss_first):
            status()
        last = rss_mb(emulator.pid)
    return first, last
