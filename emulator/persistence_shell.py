"""``--state FILE``: the live emulator's device, kept durable, so it survives restarts.

The rule: no byte leaves the emulator while the state it reflects is not durable. The serve
loop hands every output to ``DurableDevice.persist`` before writing it; when something that
matters changed since the last save (``EmulatedDevice.revision``: a clinical log entry, a
session opened, a changing request answered) the state is saved first. If that save fails
the bytes are withheld: the programmer retransmits, the pump answers from its cache, and the
save is tried again before that answer goes out. When only time moved (or link records
were written), a save comes at most every ``period_s``, never holding a reply back.

At start, ``open_state`` loads the newest valid generation (``state_file``), and
``resumed_device``/``start_time_us`` rebuild the device and say where simulated time
resumes: where it stopped, or (catch-up) plus the downtime at the given speed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator import device_state
from emulator.device import EmulatedDevice
from emulator.state_file import Loaded, StateFile, StateFileError
from protocol import Keyring

log = logging.getLogger(__name__)

DEFAULT_PERIOD_S = 10.0  # [M] at most this much of time passing is lost to a crash
RETRY_S = 1.0  # a failing save is tried again this often when nothing waits on it

# Options that build the pump: refused with a loaded state unless it is reset.
PUMP_OPTIONS = (
    "--serial-number",
    "--reservoir-ml",
    "--fill-ml",
    "--concentration-ug-per-ml",
    "--dose-ug-per-day",
    "--telemetry-session-cost",
)


@dataclass(frozen=True, slots=True)
class Opened:
    """A locked state file, and what it held (None: start from the options)."""

    file: StateFile
    loaded: Loaded | None
    notes: tuple[str, ...]


def open_state(path: Path, *, reset: bool, given: tuple[str, ...] = ()) -> Opened:
    """Lock and load ``path``. ``given``: the pump options on the command line, refused
    (StateFileError) with a loaded state unless ``reset``, which ignores what was saved
    (the next saves replace it; sequence numbers go on growing)."""
    state_file = StateFile(path)
    state_file.lock()
    try:
        loaded = state_file.load()
    except StateFileError:
        if not reset:
            state_file.unlock()
            raise
        return Opened(state_file, None, (f"{path}: --reset-state: the saved state is replaced",))
    if loaded is None:
        return Opened(state_file, None, ())
    notes = loaded.notes
    if reset:
        replaced = f"{path}: --reset-state: the saved pump (sequence {loaded.sequence}) is replaced"
        return Opened(state_file, None, (*notes, replaced))
    if given:
        state_file.unlock()
        raise StateFileError(
            f"{', '.join(given)} would change the pump loaded from {loaded.path} "
            f"(sequence {loaded.sequence}): drop {'it' if len(given) == 1 else 'them'}, "
            "or add --reset-state to start afresh"
        )
    return Opened(state_file, loaded, notes)


def saved_identity(loaded: Loaded) -> tuple[str, str]:
    """(model, serial number) of the saved pump: whose keys to look for."""
    try:
        return device_state.identity_of(loaded.state)
    except ValueError as exc:
        raise StateFileError(f"{loaded.path}: {exc}") from None


def resumed_device(loaded: Loaded, keyring: Keyring, **device_options: Any) -> EmulatedDevice:
    """The saved device, with no session open; StateFileError naming the file and why
    (another version of the device or pump state: both versions named)."""
    try:
        return EmulatedDevice.from_plain(loaded.state, keyring, **device_options)
    except ValueError as exc:
        raise StateFileError(f"{loaded.path}: {exc}") from None


def start_time_us(
    loaded: Loaded | None,
    pump_t_us: int,
    speed: float,
    *,
    catch_up: bool,
    now_unix_us: Callable[[], int] = lambda: time.time_ns() // 1_000,
) -> int:
    """Simulated time to resume at: where the pump stopped, plus (``catch_up``) the wall
    time since it was saved at ``speed``, as if the emulator had never stopped."""
    if loaded is None or not catch_up:
        return pump_t_us
    down_us = max(0, now_unix_us() - loaded.saved_unix_us)
    return pump_t_us + int(down_us * speed)


class DurableDevice:
    """A device and its state file: the serve loop's one call is ``persist``."""

    def __init__(
        self,
        device: EmulatedDevice,
        state_file: StateFile,
        *,
        period_s: float = DEFAULT_PERIOD_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device = device
        self.file = state_file
        self.period_s = period_s
        self._monotonic = monotonic
        self.saves = 0
        self.failures = 0  # failed saves in a row
        self._saved: tuple[int, int, int] | None = None  # revision, t_us, log entries
        self._saved_at = monotonic()
        self._failing_since: float | None = None

    def save(self) -> None:
        """Save now; StateFileError when it cannot be made durable."""
        mark = self._mark()
        self.file.save(self.device.to_plain())
        self._saved, self._saved_at = mark, self._monotonic()
        self.saves += 1

    def persist(self, out: bytes) -> bytes:
        """After ``receive``/``tick``, before writing: ``out`` once what it reflects is
        durable, else b"" (one error line; the programmer's retransmission resolves it)."""
        mark = self._mark()
        if mark == self._saved:
            return out
        now = self._monotonic()
        resting = self._failing_since is not None and now - self._failing_since < RETRY_S
        if self._saved is not None and mark[0] == self._saved[0]:  # only time or link records
            if now - self._saved_at >= self.period_s and not resting:
                self._try(now, holding=b"")
            return out
        if not out and resting:
            return out  # nothing waits on it: do not hammer a failing disk
        return out if self._try(now, holding=out) else b""

    def restore(self, plain: dict[str, Any]) -> None:
        """Replace the device's state with ``plain`` (a snapshot), durable first: checked,
        saved, then installed. ValueError or StateFileError, and nothing changed, if it
        cannot be."""
        state = device_state.from_plain(plain)
        identity = self.device.identity
        self.device.check_state(state)  # same pump, in range, answerable: or nothing changes
        self.file.save(device_state.to_plain(identity, state.pump, state.outcomes))
        self.device.install(state)
        self._saved, self._saved_at = self._mark(), self._monotonic()
        self.saves += 1

    def close(self) -> None:
        """A last save at a clean stop (best effort: the last durable one stands)."""
        try:
            if self._mark() != self._saved:
                self.save()
        except StateFileError as exc:
            log.error("state not saved at stop: %s", exc)
        finally:
            self.file.unlock()

    def _try(self, now: float, *, holding: bytes) -> bool:
        try:
            self.save()
        except StateFileError as exc:
            self.failures += 1
            if self._failing_since is None:
                held = f"; {len(holding)} bytes held back" if holding else ""
                log.error("state not saved, the last saved state stands: %s%s", exc, held)
            self._failing_since = now
            return False
        if self._failing_since is not None:
            log.warning("state saved again after %d failed attempts", self.failures)
            self._failing_since = None
        self.failures = 0
        return True

    def _mark(self) -> tuple[int, int, int]:
        pump = self.device.pump
        return self.device.revision, pump.t_us, pump.log.written
