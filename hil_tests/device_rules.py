"""What a test may do to the device, and how the device is left as found afterwards.

- ``emulator_only``: an emulator, else skipped;
- ``needs_control``: a control channel, else skipped;
- ``destructive``: an emulator, with a control channel to snapshot and restore it (not
  ``--no-snapshot``), or ``--allow-destructive``; never hardware;
- ``changes_therapy``: on hardware only with ``--allow-therapy-changes SERIAL``, a clinician
  key, and a device found stopped or infusing with a prescription programmed. Before it, the
  therapy is checked and, if an unmarked test changed it, put back; after it, the emulator's
  snapshot is restored, or the therapy is put back over the wire; either way it is then
  verified as found (as_found.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hil_tests.as_found import NotAsFound, differences, read_therapy, restore, verify
from hil_tests.device import DeviceUnderTest
from hil_tests.options import RunOptions
from programmer import Programmer, ProgrammerError
from programmer.link import Trace
from protocol import Role
from rig_control import ControlClient

RULED = ("emulator_only", "needs_control", "destructive", "changes_therapy")
CONTROL_TIMEOUT_S = 60.0  # a snapshot of a pump with a long log, on a loaded machine


def refusal(marked: set[str], device: DeviceUnderTest, options: RunOptions) -> str | None:
    """Why a test with these markers may not run on this device (None: it may)."""
    if "emulator_only" in marked and not device.emulated:
        return "emulator_only: needs the emulator"
    if "needs_control" in marked and device.control is None:
        return "needs_control: no control channel (give --emulator-control ADDR)"
    if "destructive" in marked:
        if not device.emulated:
            return "destructive: never on hardware"
        if not snapshots(options, device) and not options.allow_destructive:
            return (
                "destructive: needs a control channel to snapshot and restore the emulator, "
                "or --allow-destructive"
            )
    if "changes_therapy" in marked:
        return _therapy_refusal(device, options)
    return None


def _therapy_refusal(device: DeviceUnderTest, options: RunOptions) -> str | None:
    if not device.emulated and device.serial_number not in options.therapy_serials:
        return "changes_therapy: on hardware only with --allow-therapy-changes SERIAL"
    if not device.grants(Role.CLINICIAN):
        return f"changes_therapy: needs the clinician role; the key file grants {device.role.label}"
    found = device.as_found
    if found is None:
        return "changes_therapy: the therapy found at the start could not be read"
    if found.not_restorable is not None:
        return (
            f"changes_therapy: the device started with {found.not_restorable}; it must start "
            "stopped or infusing with a prescription programmed"
        )
    return None


def snapshots(options: RunOptions, device: DeviceUnderTest) -> bool:
    return device.control is not None and not options.no_snapshot


def take_snapshot(device: DeviceUnderTest) -> dict[str, Any]:
    assert device.control is not None
    with ControlClient(device.control, timeout_s=CONTROL_TIMEOUT_S) as client:
        return client.snapshot()


def restore_snapshot(device: DeviceUnderTest, snapshot: dict[str, Any]) -> None:
    assert device.control is not None
    with ControlClient(device.control, timeout_s=CONTROL_TIMEOUT_S) as client:
        client.restore(snapshot)


def put_back_before(
    device: DeviceUnderTest, options: RunOptions, trace: Trace | None
) -> tuple[list[str], str | None]:
    """Before a changes_therapy test: its snapshot and its verdict must start from the therapy
    found, not from what an earlier test left (one that changed therapy without the marker).
    Returns what differed, now put back, and the failure (None: as found now)."""
    found = device.as_found
    assert found is not None  # the test would have been skipped
    different: list[str] = []
    try:
        with device.programmer(trace=trace) as programmer:
            different = differences(found, read_therapy(programmer))
            if different:
                restore(programmer, found, wait_a_day=wait_a_day(device, options))
                verify(programmer, found)
    except (NotAsFound, ProgrammerError) as exc:
        return different, f"device not as found before this test, and not put back: {exc}"
    return different, None


def put_back(
    device: DeviceUnderTest, options: RunOptions, trace: Trace | None, *, restored: bool
) -> str | None:
    """After a changes_therapy test: put the therapy back over the wire (unless a snapshot
    was restored) and verify it; the failure in one line, or None."""
    found = device.as_found
    assert found is not None  # the test would have been skipped
    try:
        with device.programmer(trace=trace) as programmer:
            if not restored:
                restore(programmer, found, wait_a_day=wait_a_day(device, options))
            verify(programmer, found)
    except (NotAsFound, ProgrammerError) as exc:
        how = "after restoring the snapshot" if restored else "after putting it back"
        return f"device not as found {how}: {exc}"
    return None


def wait_a_day(device: DeviceUnderTest, options: RunOptions) -> Callable[[], None] | None:
    """A day of the pump's time, for the dose-change cap: only where the run may spoil the
    emulator's time (a control channel, and --allow-destructive)."""
    control = device.control
    if control is None or not options.allow_destructive:
        return None

    def wait() -> None:
        with ControlClient(control, timeout_s=CONTROL_TIMEOUT_S) as client:
            client.advance("1d1s")

    return wait


def at_end(device: DeviceUnderTest, suspects: str) -> tuple[str, str | None]:
    """At the end of the run: put the therapy back if a test left it changed. Returns what
    was found, and the failure (None: as found). ``suspects``: the tests since the last check."""
    found = device.as_found
    if found is None:
        return "not checked (the role cannot read the prescription)", None
    if device.emulator is not None and not device.emulator.running:
        return "not checked (the emulator died)", None
    whole = found.not_restorable is None and device.grants(Role.CLINICIAN)
    try:
        with reader(device) as programmer:
            different = differences(found, read_therapy(programmer), state=whole)
            done = restore(programmer, found) if whole else []
            verify(programmer, found, state=whole)
    except (NotAsFound, ProgrammerError) as exc:
        failure = (
            f"pump {device.serial_number} not as found at the end of the run: {exc}; changed "
            f"by {suspects}"
        )
        return f"NOT as found: {exc}", failure
    if done:
        return (
            f"as found ({found.describe()}), put back at the end ({'; '.join(different)}; "
            f"changed by {suspects}): {', '.join(done)}",
            None,
        )
    return f"as found ({found.describe()})", None


def reader(device: DeviceUnderTest) -> Programmer:
    """A programmer in the least role that reads the prescription (clinician or read-only)."""
    role = Role.CLINICIAN if device.grants(Role.CLINICIAN) else Role.READ_ONLY
    return device.programmer(role)
