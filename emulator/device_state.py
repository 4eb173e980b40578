"""An emulated device as versioned plain data: everything that decides a future reply.

That is the pump (``firmware_model.persistence``: its own format and version, dose-change
window and patient-bolus history included), the memory of what became of changing requests
(``protocol.outcomes``: GET_OUTCOME after a lost reply) and the identity the keys belong to.
It leaves out what dies with a session or a process: the open session, staged prescriptions,
outstanding challenges, the retransmission cache, the key-verification budget (a back-off
about people at a programmer, on the link's clock) and the link-refusal audit's minute.

Layers of versions: this form's own (``VERSION``, migrated here one version at a time), the
pump part's (migrated by ``firmware_model.persistence``), and a state file's envelope around
it (``emulator.state_file``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from firmware_model import persistence
from firmware_model.pump import Pump
from protocol import OutcomeMemory

if TYPE_CHECKING:
    from emulator.device import Identity

FORMAT = "itb-emulated-device"
VERSION = 1

# version: a function turning that version's plain form into the next version's. None yet.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class DeviceStateError(ValueError):
    """Plain data that is not a device this emulator can rebuild: one line, says why."""


@dataclass(frozen=True, slots=True)
class DeviceState:
    """A device's state rebuilt from plain data, not yet serving."""

    model: str
    serial_number: str
    firmware_version: str
    pump: Pump
    outcomes: OutcomeMemory


def to_plain(identity: Identity, pump: Pump, outcomes: OutcomeMemory) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "identity": {
            "model": identity.model,
            "serial_number": identity.serial_number,
            "firmware_version": identity.firmware_version,
        },
        "pump": persistence.to_plain(pump),
        "outcomes": outcomes.to_plain(),
    }


def identity_of(plain: dict[str, Any]) -> tuple[str, str]:
    """(model, serial number) of a saved device, without rebuilding it: to find its keys."""
    data = _current(plain)
    try:
        identity = data["identity"]
        return _text(identity["model"]), _text(identity["serial_number"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DeviceStateError(f"damaged device state: identity: {exc}") from exc


def from_plain(plain: dict[str, Any]) -> DeviceState:
    """The device ``plain`` describes; DeviceStateError (or its pump's StateFormatError,
    also a ValueError) naming what is wrong, versions included."""
    data = _current(plain)
    model, serial = identity_of(data)
    try:
        pump = persistence.from_plain(data["pump"])
        outcomes = OutcomeMemory.from_plain(data["outcomes"])
        firmware = _text(data["identity"].get("firmware_version", ""))
    except persistence.StateFormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        raise DeviceStateError(f"damaged device state: {type(exc).__name__}: {exc}") from exc
    return DeviceState(model, serial, firmware, pump, outcomes)


def require_same_pump(state: DeviceState, identity: Identity) -> None:
    """A state is restored only into the pump it was saved from: the keys are per pump."""
    if (state.model, state.serial_number) != (identity.model, identity.serial_number):
        raise DeviceStateError(
            f"the state is of {state.model} serial {state.serial_number}, this pump is "
            f"{identity.model} serial {identity.serial_number}"
        )


def _current(plain: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(plain, dict) or plain.get("format") != FORMAT:
        found = plain.get("format") if isinstance(plain, dict) else type(plain).__name__
        raise DeviceStateError(f"not an emulated device's state: format {found!r}")
    version = plain.get("version")
    if isinstance(version, bool) or version not in (*MIGRATIONS, VERSION):
        migrates = ", ".join(map(str, MIGRATIONS)) or "none"
        raise DeviceStateError(
            f"device state version {version!r}: this emulator reads version {VERSION} "
            f"(and migrates {migrates})"
        )
    data = plain
    while data["version"] != VERSION:
        data = MIGRATIONS[data["version"]](data)
    return data


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not text")
    return value
