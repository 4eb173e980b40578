"""Fail fast, say it once: open the device before any test does, and stop the run with one line
when it cannot be used, instead of a traceback per test and a timeout per request.

The check opens the port, sends HELLO (two tries), opens a session in the run's role (the key
file), and asks the control channel for the state when there is one. Each failure names the
URL and what to look at: the port (URL, held by another program), the baud rate and the cable
when nothing answers, the key file when the pump refuses it.
"""

from __future__ import annotations

from pathlib import Path

from programmer import (
    DeviceRefused,
    KeyProblem,
    LinkError,
    LinkTimeout,
    PortError,
    Programmer,
    ProgrammerError,
    load_keyring,
)
from protocol import HelloReply, Role
from rig_control import ControlClient, ControlError, ControlUnavailable

HEALTH_RETRIES = 1  # HELLO twice: once more for a frame lost on a line just opened
EXIT_UNUSABLE = 3  # the run's exit status when the device cannot be used (as the CLI's port)
EXIT_REFUSED = 4  # a run refused: the device is another's, or not the one allowed (usage)
CONTROL_TIMEOUT_S = 5.0


class DeviceUnusable(Exception):
    """The device cannot be tested; the message is the run's one line."""

    def __init__(self, message: str, exit_code: int = EXIT_UNUSABLE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def check_device(
    url: str,
    *,
    baudrate: int,
    timeout_s: float,
    key_file: Path | None,
    role: Role,
    control: str | None,
) -> HelloReply:
    """The device's HELLO once it has answered, opened a session and (if given) its control
    channel has answered; DeviceUnusable otherwise."""
    try:
        programmer = Programmer.open(
            url, session=False, baudrate=baudrate, timeout_s=timeout_s, retries=HEALTH_RETRIES
        )
    except PortError as exc:
        raise DeviceUnusable(
            f"pump device {url}: {_unprefixed(exc, url)}: check the URL, the cable, and that no "
            "other program holds the port"
        ) from None
    except ProgrammerError as exc:
        raise DeviceUnusable(_silent(url, baudrate, timeout_s, exc)) from None
    hello = programmer.identity
    assert hello is not None  # Programmer.open said hello
    try:
        programmer.open_session(role, load_keyring(hello.serial_number, key_file))
    except KeyProblem as exc:
        raise DeviceUnusable(
            f"pump device {url} (serial {hello.serial_number}): {exc}: give its key file with "
            "--device-key-file (or $PUMP_KEY_FILE), or a lower --device-role"
        ) from None
    except DeviceRefused as exc:
        raise DeviceUnusable(
            f"pump device {url}: refused a {role.label} session ({exc.reason.name}: "
            f"{exc.message}): check the key file and --device-role"
        ) from None
    except ProgrammerError as exc:
        raise DeviceUnusable(
            f"pump device {url} answered HELLO but not the session opening ({exc}): check the "
            f"baud rate ({baudrate}, --device-baud) and the cable"
        ) from None
    finally:
        programmer.close()
    if control is not None:
        check_control(control)
    return hello


def check_control(address: str) -> None:
    try:
        with ControlClient(address, timeout_s=CONTROL_TIMEOUT_S) as client:
            client.state()
    except (ControlUnavailable, ControlError, OSError, ValueError) as exc:
        raise DeviceUnusable(
            f"emulator control {address}: {exc}: check --emulator-control (the address given "
            "to pump-emulator --control)"
        ) from None


def _silent(url: str, baudrate: int, timeout_s: float, exc: ProgrammerError) -> str:
    if isinstance(exc, LinkTimeout):
        return (
            f"pump device {url}: no answer to HELLO in {HEALTH_RETRIES + 1} tries of "
            f"{timeout_s:g} s: check the baud rate ({baudrate}, --device-baud), the cable "
            "(TX and RX crossed: a null-modem between two computers), that the device is on "
            "and serving this port"
        )
    if isinstance(exc, LinkError):
        return (
            f"pump device {url}: {exc}: not this protocol at this baud rate? check "
            f"--device-baud ({baudrate}) and the cable"
        )
    return f"pump device {url}: {exc}"


def _unprefixed(exc: Exception, url: str) -> str:
    """pyserial's reason, without repeating the URL the line already names."""
    text = str(exc)
    prefix = f"cannot open port {url}: "
    return "cannot open the port: " + text[len(prefix) :] if text.startswith(prefix) else text
