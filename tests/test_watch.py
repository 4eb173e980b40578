"""``pump-programmer watch`` (issue 9): one session held open, status changes and alarms
as they come, and a watcher that steps aside for any other programmer.

The watcher runs through simulated lines on a manual clock (its waits are recorded, never
slept); the command line runs in a subprocess against a served pump whose simulated time
the test moves on, and is stopped with a real Ctrl-C (SIGINT).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from emulator.device import EmulatedDevice, Identity
from emulator.rig import Rig as ServeLoop
from emulator.sim_clock import SimClock
from emulator.simulated_line import ManualClock, SimulatedLine
from faults.noisy_link import build_device
from programmer import KeyProblem, Link, PortError, Programmer
from programmer.cli import build_parser
from programmer.watch import (
    PortBusy,
    Session,
    Watcher,
    WatchEvent,
    least_privileged_role,
    status_changes,
)
from protocol import Key, Keyring, PumpState, Role, StatusReply
from tests.cli_rig import SERIAL, run_cli, served_pump, worked_example
from tests.protocol.pair import seeded
from transport import PtyChannel, SerialChannel, TcpListenChannel

US_PER_DAY = 86_400_000_000
AT_LEAST_S = 30.0  # issue 9: a replaced watcher waits at least 30 s (or Enter)
ROOT = Path(__file__).resolve().parent.parent


# -- the rig: a watcher on simulated lines, on one manual clock ---------------------------


class ScriptedLine(SimulatedLine):
    """A line on which things happen at set times (read by the watcher as it listens), and
    which may fail as a port fails, or hear what another programmer is told."""

    script: list[tuple[float, Callable[[], object]]]
    fail_reads: bool = False

    def read_some(self, timeout_s: float | None = None) -> bytes:
        while self.script and self.clock.now_s >= self.script[0][0]:
            _, action = self.script.pop(0)
            action()
        if self.fail_reads:
            raise OSError("device reports readiness to read but returned no data")
        return super().read_some(timeout_s)


@dataclass
class Rig:
    device: EmulatedDevice
    keys: Keyring
    clock: ManualClock = field(default_factory=ManualClock)
    events: list[tuple[float, WatchEvent]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    sleeps: list[float] = field(default_factory=list)
    connects: list[float] = field(default_factory=list)  # clock of each connection attempt
    lines: list[ScriptedLine] = field(default_factory=list)
    script: list[tuple[float, Callable[[], object]]] = field(default_factory=list)
    connect_failures: int = 0  # the next connection attempts that find no port
    busy_connects: int = 0  # the next connection attempts that find the port held
    enter: bool = False  # Enter pressed during every wait
    probe: Callable[[], None] | None = None
    seed: int = 3
    origin_us: int = 0  # the pump's time when the clock reads 0

    def __post_init__(self) -> None:
        self.origin_us = self.device.pump.t_us

    def connect(self) -> Session:
        self.connects.append(self.clock.now_s)
        if self.connect_failures:
            self.connect_failures -= 1
            raise PortError("cannot open port /dev/ttyUSB0: No such file or directory")
        if self.busy_connects:
            self.busy_connects -= 1
            raise PortBusy("cannot open port /dev/pts/3: port in use (another program has it open)")
        line = ScriptedLine(self.device, self.clock)
        line.sim_origin_us = self.origin_us  # one pump time for every line
        line.script = self.script  # shared: whichever line is read runs what is due
        self.lines.append(line)
        self.seed += 1
        link = Link(
            line,
            timeout_s=0.05,
            retries=2,
            clock=self.clock,
            sleep=self.clock.sleep,
            random_bytes=random.Random(self.seed).randbytes,
        )
        programmer = Programmer(link, "watcher")
        programmer.hello()
        link.reopen_lost_session = False
        opened = link.open_session(Role.READ_ONLY, self.keys.keys[Role.READ_ONLY], SERIAL, "w")
        return Session(programmer, Role.READ_ONLY, float(opened.idle_timeout_s))

    def wait_or_enter(self, wait_s: float) -> bool:
        self.waits.append(wait_s)
        if self.enter:
            return True
        self.clock.advance(wait_s)
        return False

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.advance(seconds)

    def watcher(self, *, interval_s: float = 2.0, peer_closes: bool = False) -> Watcher:
        return Watcher(
            self.connect,
            lambda event: self.events.append((self.clock.now_s, event)),
            interval_s=interval_s,
            peer_closes=peer_closes,
            probe_port=self.probe,
            clock=self.clock,
            sleep=self.sleep,
            wait_or_enter=self.wait_or_enter,
        )

    def at(self, when_s: float, action: Callable[[], object]) -> None:
        self.script.append((when_s, action))
        self.script.sort(key=lambda item: item[0])

    def kinds(self) -> list[str]:
        return [event.kind for _, event in self.events]

    def first(self, kind: str) -> tuple[float, WatchEvent]:
        return next((t, e) for t, e in self.events if e.kind == kind)

    def move_pump_on(self, days: float) -> None:
        self.origin_us += round(days * US_PER_DAY)
        for line in self.lines:
            line.sim_origin_us = self.origin_us

    def other_programmer(self, *, overheard: bool = False) -> Programmer:
        """A clinician opening a session on the same pump (its session replaces ours);
        ``overheard``: on the same wire, so the watcher hears the pump answer it."""
        line = _Overheard(self.device, self.clock)
        line.sim_origin_us = self.origin_us
        if overheard:
            line.listeners.append(self.lines[-1])
        link = Link(line, timeout_s=0.05, clock=self.clock, sleep=self.clock.sleep)
        clinician = Programmer(link, "clinician")
        clinician.hello()
        clinician.open_session(Role.CLINICIAN, self.keys)
        return clinician


class _Overheard(SimulatedLine):
    listeners: list[SimulatedLine]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.listeners = []

    def _deliver(self, out: bytes) -> None:
        super()._deliver(out)
        for other in self.listeners:
            other.inject_to_programmer(out)


def stop() -> None:
    raise KeyboardInterrupt


def rig() -> Rig:
    device, keys = build_device(3)  # the worked example: low reservoir at day 45
    device.pump.advance_to(device.pump.t_us + US_PER_DAY // 4)  # 19.9 mL: no mL is near
    return Rig(device, keys)


def session_entries(device: EmulatedDevice, kind: str) -> list[dict[str, object]]:
    return [e.detail for _, e in device.pump.log.page(0, 1 << 20) if e.kind == kind]


# -- status changes and alarms --------------------------------------------------------------


def test_an_alarm_is_shown_as_the_pump_sends_it_and_ctrl_c_closes_the_session() -> None:
    r = rig()
    r.at(5.0, lambda: r.move_pump_on(46))  # docs/domain.md: low reservoir at day 45
    r.at(20.0, stop)
    assert r.watcher(interval_s=2.0).run() == 0
    kinds = r.kinds()
    assert kinds[:2] == ["watching", "status"]
    assert kinds[-1] == "stopped"
    t_alarm, alarm = r.first("alarm")
    assert alarm.data["alarm"] == "low_reservoir"
    assert alarm.data["raised"] is True
    assert "low_reservoir" in alarm.data["active"]
    assert "ALARM raised: low_reservoir" in alarm.text
    assert alarm.text.count("UTC") == 1
    assert t_alarm < 6.0  # heard between polls (at 4 s and 6 s), not at the next poll
    changes = [e for _, e in r.events if e.kind == "status"]
    assert changes[0].data["changed"] == ["all"]
    assert changes[1].data["changed"] == ["alarms", "reservoir"]  # 19.9 mL down to 1.5
    second_status = [i for i, kind in enumerate(kinds) if kind == "status"][1]
    assert kinds.index("alarm") < second_status  # heard before the poll that shows it
    assert len(changes) == 2
    assert r.events[-1][1].data["alarms"] == 1
    closed = session_entries(r.device, "session_closed")
    assert [c["why"] for c in closed] == ["closed"]  # Ctrl-C closed it, politely
    assert len(session_entries(r.device, "session_opened")) == 1
    assert r.waits == []


def test_nothing_is_printed_while_nothing_clinically_relevant_changes() -> None:
    r = rig()
    r.at(60.0, stop)
    r.watcher(interval_s=2.0).run()
    assert r.kinds() == ["watching", "status", "stopped"]  # 30 polls, one status line


def test_the_change_rule_whole_millilitres_state_and_alarms() -> None:
    before = _status(reservoir_ul=19_999)
    assert status_changes(None, before) == ["all"]
    assert status_changes(before, _status(reservoir_ul=19_001)) == []
    assert status_changes(before, _status(reservoir_ul=18_999)) == ["reservoir"]
    stopped = _status(reservoir_ul=19_500, state=PumpState.STOPPED)
    assert status_changes(before, stopped) == ["state"]


def _status(*, reservoir_ul: int, state: PumpState = PumpState.INFUSING) -> StatusReply:
    from protocol import AlarmFlags, Mode

    return StatusReply(
        state, Mode.CONTINUOUS, AlarmFlags(0), AlarmFlags(0), 200, 400_000, 400_000, 500,
        reservoir_ul, 0, 1_000_000, 37_000, 1_795_000_000, 1, 0,
    )  # fmt: skip


# -- stepping aside -----------------------------------------------------------------------


def test_a_replaced_session_waits_30_s_then_longer_each_time_before_reopening() -> None:
    r = rig()
    r.at(5.0, lambda: r.other_programmer().close())
    r.at(40.0, lambda: r.other_programmer().close())  # taken again soon after reopening
    r.at(500.0, stop)
    assert r.watcher(interval_s=2.0).run() == 0
    assert r.waits == [AT_LEAST_S, 2 * AT_LEAST_S]
    replaced = [(t, e) for t, e in r.events if e.kind == "session_replaced"]
    reopened = [t for t, e in r.events if e.kind == "reconnected"]
    assert len(replaced) == 2
    assert "another programmer" in replaced[0][1].text
    for (t_lost, event), t_back in zip(replaced, reopened, strict=True):
        assert t_back - t_lost >= event.data["wait_s"] >= AT_LEAST_S
    watcher_sessions = [s for s in session_entries(r.device, "session_opened") if s["by"] == "w"]
    assert len(watcher_sessions) == 3  # never more often than that


def test_enter_reopens_at_once_after_a_replacement() -> None:
    r = rig()
    r.enter = True
    r.at(5.0, lambda: r.other_programmer().close())
    r.at(12.0, stop)
    r.watcher().run()
    t_lost, _ = r.first("session_replaced")
    t_back, _ = r.first("reconnected")
    assert r.waits == [AT_LEAST_S]
    assert t_back - t_lost < 1.0


def test_another_session_heard_on_the_line_makes_the_watcher_step_aside_at_once() -> None:
    r = rig()
    r.at(5.0, lambda: r.other_programmer(overheard=True).status())
    r.at(100.0, stop)
    r.watcher(interval_s=30.0).run()  # no poll between 0 s and 30 s: it was heard
    t_lost, event = r.first("session_replaced")
    assert t_lost < 30.0
    assert "talking on this line" in event.data["why"]
    assert r.waits == [AT_LEAST_S]


def test_a_tcp_connection_closed_by_the_emulator_is_a_replaced_session() -> None:
    r = rig()
    r.at(5.0, lambda: setattr(r.lines[-1], "fail_reads", True))
    r.at(100.0, stop)
    r.watcher(peer_closes=True).run()
    _, event = r.first("session_replaced")
    assert "closed at the pump's end" in event.data["why"]
    assert r.waits == [AT_LEAST_S]
    assert "port_failed" not in r.kinds()


def test_a_port_another_program_reads_is_left_to_it() -> None:
    r = rig()
    r.probe = lambda: None  # the port opens again at once: nothing was unplugged
    r.at(5.0, lambda: setattr(r.lines[-1], "fail_reads", True))
    r.at(100.0, stop)
    r.watcher().run()
    _, event = r.first("session_replaced")
    assert "another program is using this port" in event.data["why"]
    assert r.waits == [AT_LEAST_S]


def test_a_port_another_programmer_holds_is_left_to_it_until_it_lets_go() -> None:
    r = rig()

    def held() -> None:
        raise PortBusy("cannot open port /dev/pts/3: port in use (another program has it open)")

    def taken() -> None:
        r.lines[-1].fail_reads = True
        r.busy_connects = 2  # still theirs after the first two waits

    r.probe = held
    r.at(5.0, taken)
    r.at(1000.0, stop)
    r.watcher().run()
    _, event = r.first("session_replaced")
    assert "another program holds this port" in event.data["why"]
    assert r.waits == [AT_LEAST_S, 2 * AT_LEAST_S, 4 * AT_LEAST_S]
    assert r.sleeps == []  # never the quick retries of a port failure
    assert "port_failed" not in r.kinds()
    assert r.kinds().count("reconnected") == 1


def test_watch_refuses_a_port_another_program_holds_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with served_pump(tmp_path) as pump:
        clinician = SerialChannel(pump.port)  # a programmer holding the port (its lock)
        try:
            run = run_cli(pump, "watch", monkeypatch=monkeypatch)
        finally:
            clinician.close()
    assert run.code == 3
    assert "port in use" in run.error
    assert "Traceback" not in run.err


def test_a_port_failure_reconnects_at_once_then_backs_off_modestly() -> None:
    r = rig()

    def unplug() -> None:
        r.lines[-1].fail_reads = True
        r.connect_failures = 3

    def gone() -> None:
        raise PortError("cannot open port /dev/ttyUSB0: No such file or directory")

    r.probe = gone
    r.at(5.0, unplug)
    r.at(60.0, stop)
    assert r.watcher().run() == 0
    t_failed, event = r.first("port_failed")
    assert "failed" in event.text
    assert r.connects[1] == t_failed  # at once
    assert r.sleeps == [1.0, 2.0, 5.0]  # then modestly slower
    assert r.waits == []  # a port failure is not another programmer: no 30 s wait
    assert "reconnected" in r.kinds()
    assert r.events[-1][1].data["port_failures"] == 1


def test_no_reply_is_said_once_and_the_same_session_goes_on() -> None:
    r = rig()
    r.at(5.0, lambda: setattr(r.lines[-1], "to_pump", _Deaf()))
    r.at(15.0, lambda: setattr(r.lines[-1], "to_pump", None))
    r.at(30.0, stop)
    r.watcher().run()
    kinds = r.kinds()
    assert kinds.count("no_reply") == 1
    assert kinds.count("replying") == 1
    assert "session_replaced" not in kinds
    assert len(session_entries(r.device, "session_opened")) == 1


class _Deaf:
    """A line that carries nothing to the pump."""

    def apply(self, data: bytes) -> bytes:
        return b""


# -- roles ----------------------------------------------------------------------------------


def test_the_least_privileged_role_the_key_file_holds() -> None:
    keys = {role: Key(seeded(role.value)(32)) for role in Role}
    everything = Keyring(SERIAL, keys)
    assert least_privileged_role(Role.CLINICIAN, everything, "f") is Role.READ_ONLY
    assert least_privileged_role(Role.PATIENT, everything, "f") is Role.PATIENT
    no_read_only = Keyring(SERIAL, {r: k for r, k in keys.items() if r is not Role.READ_ONLY})
    assert least_privileged_role(Role.CLINICIAN, no_read_only, "f") is Role.PATIENT
    clinician_only = Keyring(SERIAL, {Role.CLINICIAN: keys[Role.CLINICIAN]})
    assert least_privileged_role(Role.CLINICIAN, clinician_only, "f") is Role.CLINICIAN
    with pytest.raises(KeyProblem, match="no read-only key"):
        least_privileged_role(Role.READ_ONLY, clinician_only, "f")


# -- the command line -----------------------------------------------------------------------


@dataclass
class Served:
    port: str
    key_file: Path
    device: EmulatedDevice
    jump_ns: list[int]


@contextlib.contextmanager
def served_with_a_clock(tmp_path: Path, *, tcp: bool = False) -> Iterator[Served]:
    """cli_rig's served pump, with simulated time the test can move on (a control channel);
    ``tcp``: served as ``pump-emulator --listen`` serves, one connection at a time."""
    keyring = Keyring.generate(SERIAL, seeded(21))
    key_file = tmp_path / "keys.json"
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(keyring.to_plain(), handle)
    device = EmulatedDevice(worked_example(), Identity(serial_number=SERIAL), keyring)
    jump_ns = [0]
    clock = SimClock(
        start_us=device.pump.t_us, monotonic_ns=lambda: time.monotonic_ns() + jump_ns[0]
    )
    channel: PtyChannel | TcpListenChannel
    if tcp:
        channel = TcpListenChannel("tcp://127.0.0.1:0", poll_interval_s=0.005)
        port = "socket://{}:{}".format(*channel.address)
    else:
        channel = PtyChannel(poll_interval_s=0.005)
        port = channel.path
    halt = threading.Event()
    loop = ServeLoop(device, clock, channel)
    thread = threading.Thread(target=loop.serve, kwargs={"should_stop": halt.is_set})
    thread.start()
    try:
        yield Served(port, key_file, device, jump_ns)
    finally:
        halt.set()
        thread.join(timeout=10)
        channel.close()


class Lines:
    """A subprocess's stdout, line by line, with a deadline on each."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        stdout = process.stdout

        def read() -> None:
            for line in stdout:
                self.queue.put(line)
            self.queue.put(None)

        threading.Thread(target=read, daemon=True).start()

    def until(self, found: Callable[[str], bool], deadline_s: float = 30.0) -> str:
        end = time.monotonic() + deadline_s
        while True:
            line = self.queue.get(timeout=max(0.01, end - time.monotonic()))
            assert line is not None, f"ended without it: {self.seen}"
            self.seen.append(line)
            if found(line):
                return line

    def rest(self) -> list[str]:
        out = []
        while (line := self.queue.get(timeout=30)) is not None:
            out.append(line)
        return out


def _watch(served: Served, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "programmer", "--port", served.port, "--key-file",
         str(served.key_file), "--operator", "tester", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )  # fmt: skip


@pytest.mark.timeout(120)
@pytest.mark.parametrize("before", [True, False])
def test_watch_json_prints_one_object_per_event_and_ctrl_c_exits_0(
    tmp_path: Path, before: bool
) -> None:
    with served_with_a_clock(tmp_path) as served:
        args = ["--json", "watch"] if before else ["watch", "--json"]
        process = _watch(served, *args, "--interval-s", "0.5")
        try:
            lines = Lines(process)
            first = json.loads(lines.until(lambda line: '"watching"' in line))
            assert first["role"] == "read-only"  # the least privileged the key file holds
            status = json.loads(lines.until(lambda line: '"status"' in line))
            assert status["status"]["state"] == "infusing"
            served.jump_ns[0] = 46 * US_PER_DAY * 1_000  # the control channel: 46 days on
            alarm = json.loads(lines.until(lambda line: '"alarm"' in line))
            assert (alarm["alarm"], alarm["raised"]) == ("low_reservoir", True)
            assert alarm["at"].endswith("Z")
            process.send_signal(signal.SIGINT)
            rest = [json.loads(line) for line in lines.rest()]
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()
            process.wait()
        assert rest[-1]["event"] == "stopped"
        assert rest[-1]["alarms"] >= 1
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()
        closed = session_entries(served.device, "session_closed")
        assert [c["why"] for c in closed] == ["closed"]


@pytest.mark.timeout(120)
def test_watch_prints_lines_with_utc_times(tmp_path: Path) -> None:
    with served_with_a_clock(tmp_path) as served:
        capture = tmp_path / "watch.pcap"
        process = _watch(served, "--capture", str(capture), "watch", "--interval-s", "0.5")
        try:
            lines = Lines(process)
            lines.until(lambda line: "status: infusing" in line)
            served.jump_ns[0] = 46 * US_PER_DAY * 1_000
            alarm = lines.until(lambda line: "ALARM" in line)
            process.send_signal(signal.SIGINT)
            rest = lines.rest()
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()
            process.wait()
    assert "ALARM raised: low_reservoir at 2027-01-0" in alarm
    assert alarm[19] == "Z"  # stamped with this computer's time, UTC
    assert "stopped after" in rest[-1]
    decoded = subprocess.run(
        [sys.executable, "-m", "programmer", "decode", "--capture", str(capture)],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert "request GET_STATUS" in decoded.stdout  # --capture records what watch said
    assert "request SESSION_CLOSE" in decoded.stdout


@pytest.mark.timeout(120)
def test_a_programmer_connecting_over_listen_takes_the_pump_and_watch_steps_aside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with served_with_a_clock(tmp_path, tcp=True) as served:
        process = _watch(served, "watch", "--json", "--interval-s", "0.5")
        try:
            lines = Lines(process)
            lines.until(lambda line: '"status"' in line)
            clinician = subprocess.run(
                [sys.executable, "-m", "programmer", "--port", served.port, "--key-file",
                 str(served.key_file), "--operator", "clinician", "--yes", "set-dose", "210"],
                capture_output=True, text=True, timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL,
            )  # fmt: skip
            replaced = json.loads(lines.until(lambda line: '"session_replaced"' in line))
            process.send_signal(signal.SIGINT)
            rest = [json.loads(line) for line in lines.rest()]
            assert process.wait(timeout=30) == 0
        finally:
            process.kill()
            process.wait()
        assert clinician.returncode == 0, clinician.stderr
        assert "closed at the pump's end" in replaced["why"]
        assert replaced["wait_s"] >= AT_LEAST_S
        assert [e["event"] for e in rest] == ["stopped"]  # it waited: it did not reopen
        programmed = [e for e in served.device.pump.log if e.kind == "programmed"]
        assert programmed[-1].detail["dose_ug_per_day"] == 210


def test_json_goes_before_or_after_every_command() -> None:
    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    subcommands = cast(dict[str, argparse.ArgumentParser], choices)
    assert {"watch", "log"} <= set(subcommands)
    for name, sub in subcommands.items():
        assert any("--json" in action.option_strings for action in sub._actions), name
    for argv in (["--json", "watch"], ["watch", "--json"], ["--json", "log"], ["log", "--json"]):
        assert parser.parse_args(argv).json is True
    assert parser.parse_args(["watch"]).json is False


def test_watch_interval_is_a_positive_number_of_seconds() -> None:
    parser = build_parser()
    assert parser.parse_args(["watch", "--interval-s", "5"]).interval_s == 5.0
    with pytest.raises(SystemExit):
        parser.parse_args(["watch", "--interval-s", "0.01"])
