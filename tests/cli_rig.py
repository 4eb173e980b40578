"""A pump served on a pty by a thread of the test process, and the programmer's command line
run in-process against it: a person at a terminal, answers included, in milliseconds.

The emulator's own serve loop (``emulator.rig.Rig``) serves an ``EmulatedDevice`` on a
fresh pty, exactly as ``pump-emulator --pty`` does, so the command line goes through a real
port; only the process boundary is left out. Inspect the pump after ``stop()``.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from emulator.device import EmulatedDevice, Identity
from emulator.rig import Rig
from emulator.sim_clock import SimClock
from firmware_model import Pump
from programmer import cli
from protocol import Keyring
from tests.protocol.pair import seeded
from transport import PtyChannel

SERIAL = "EMU000001"
CLOCK_S = 1_795_000_000


def worked_example() -> Pump:
    """`make run`'s pump: 20 mL of 500 ug/mL at 200 ug/day (docs/domain.md, worked example)."""
    pump = Pump()
    pump.set_clock(CLOCK_S * 1_000_000)
    pump.refill(20_000_000, 500)
    pump.set_dose(200)
    return pump


@dataclass
class ServedPump:
    port: str
    key_file: Path
    device: EmulatedDevice
    _stop: threading.Event = field(repr=False)
    _thread: threading.Thread = field(repr=False)
    _channel: PtyChannel = field(repr=False)

    @property
    def pump(self) -> Pump:
        return self.device.pump

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._channel.close()


@contextlib.contextmanager
def served_pump(tmp_path: Path, pump: Pump | None = None) -> Iterator[ServedPump]:
    keyring = Keyring.generate(SERIAL, seeded(21))
    key_file = tmp_path / "keys.json"
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(keyring.to_plain(), handle)
    device = EmulatedDevice(pump or worked_example(), Identity(serial_number=SERIAL), keyring)
    channel = PtyChannel(poll_interval_s=0.005)
    stop = threading.Event()
    clock = SimClock(start_us=device.pump.t_us)
    rig = Rig(device, clock, channel)
    thread = threading.Thread(target=rig.serve, kwargs={"should_stop": stop.is_set})
    thread.start()
    served = ServedPump(channel.path, key_file, device, stop, thread, channel)
    try:
        yield served
    finally:
        if not stop.is_set():
            served.stop()


@dataclass
class Run:
    code: int
    out: str
    err: str
    asked: list[str]

    @property
    def error(self) -> str:
        return self.err.strip().splitlines()[-1] if self.err.strip() else ""


def run_cli(
    served: ServedPump,
    *argv: str,
    answers: list[str] | None = None,
    monkeypatch: pytest.MonkeyPatch,
    on_ask: object = None,
    operator: str | None = "tester",
) -> Run:
    """``pump-programmer --port PORT --key-file KEYS ARGV``; a terminal when ``answers``."""
    asked: list[str] = []
    pending = list(answers or [])

    def answer(question: str) -> str:
        asked.append(question)
        if callable(on_ask):
            on_ask(len(asked))
        if not pending:
            raise EOFError  # what input() raises at Ctrl-D or a closed stdin
        return pending.pop(0)

    monkeypatch.setattr(builtins, "input", answer)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: answers is not None, raising=False)
    out, err = io.StringIO(), io.StringIO()
    args = ["--port", served.port, "--key-file", str(served.key_file)]
    if operator is not None:
        args += ["--operator", operator]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main([*args, *argv])
        except SystemExit as exit_:  # argparse: --help, or input that is not a value
            code = int(exit_.code or 0)
    return Run(code, out.getvalue(), err.getvalue(), asked)
