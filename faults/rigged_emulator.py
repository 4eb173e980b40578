"""The emulator every live campaign drives: ``--speed 0``, no session cost, a control socket.

    pump-emulator --pty --speed 0 --telemetry-session-cost 0s --control unix:DIR/control.sock

Time moves only when the rig says (``advance``), and a session costs no simulated battery,
so a campaign's counts depend on what it sends, not on how fast the machine is. The folder
outlives the process: the whole emulator log is read once the emulator has stopped, so that
a line written while stopping (a failed save, a traceback) counts as well.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from hil_tests.emulator_process import EmulatorProcess
from rig_control import ControlClient

RIG_ARGS = ("--speed", "0", "--telemetry-session-cost", "0s")
WHOLE_LOG = 10**9  # lines: log_tail's count for "all of it"


@dataclass
class RiggedEmulator:
    emulator: EmulatorProcess
    rig: ControlClient
    log_lines: list[str] = field(default_factory=list)  # filled once the emulator has stopped

    @property
    def error_lines(self) -> list[str]:
        """Log lines at ERROR or of a traceback: a crash or a failure the pump survived."""
        return [line for line in self.log_lines if " ERROR " in line or "Traceback" in line]


@contextlib.contextmanager
def rigged_emulator(*extra_args: str) -> Iterator[RiggedEmulator]:
    """A running emulator and its open control channel; ``log_lines`` holds its log after."""
    with tempfile.TemporaryDirectory() as tmp:
        control = f"unix:{Path(tmp) / 'control.sock'}"
        emulator = EmulatorProcess(
            Path(tmp), extra_args=(*RIG_ARGS, "--control", control, *extra_args)
        )
        rigged: RiggedEmulator | None = None
        try:
            with emulator, ControlClient(control) as rig:
                rigged = RiggedEmulator(emulator, rig)
                yield rigged
        finally:
            if rigged is not None:
                rigged.log_lines = emulator.log_tail(WHOLE_LOG).splitlines()
