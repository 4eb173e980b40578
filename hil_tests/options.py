"""The pump plugin's command-line options, each with its environment fallback, and how
repeated device options pair with pytest-xdist workers.

``--device-url``, ``--device-key-file`` and ``--emulator-control`` may be repeated: the Nth of
each belongs to the Nth device, and worker ``gwN`` tests device N. The environment gives one
value each (a lab's CI sets one device per job); the command line overrides it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from hil_tests.labgrid_support import labgrid_device_url
from protocol import Role

URL_ENV = "PUMP_DEVICE_URL"
BAUD_ENV = "PUMP_DEVICE_BAUD"
KEY_ENV = "PUMP_KEY_FILE"
ROLE_ENV = "PUMP_DEVICE_ROLE"
CONTROL_ENV = "PUMP_EMULATOR_CONTROL"
THERAPY_ENV = "PUMP_ALLOW_THERAPY_CHANGES"
DESTRUCTIVE_ENV = "PUMP_ALLOW_DESTRUCTIVE"
DEFAULT_BAUD = 115_200
ROLE_LABELS = tuple(role.label for role in Role)
OPTIONS = pytest.StashKey["RunOptions"]()


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("pump", "implanted pump device under test")
    group.addoption(
        "--device-url",
        action="append",
        metavar="URL",
        help=f"pyserial URL of the pump to test (default ${URL_ENV}; unset: the plugin starts "
        "an emulator); repeat for one device per xdist worker",
    )
    group.addoption(
        "--device-key-file",
        action="append",
        type=Path,
        metavar="PATH",
        help=f"key file of the pump under test (default ${KEY_ENV}, else by its serial); "
        "repeated, pairs with --device-url by position",
    )
    group.addoption(
        "--emulator-control",
        action="append",
        metavar="ADDR",
        help=f"control channel of an emulator started elsewhere (default ${CONTROL_ENV}): the "
        "device is then an emulator, and needs_control and destructive tests run; repeated, "
        "pairs with --device-url by position",
    )
    group.addoption(
        "--device-baud",
        type=int,
        metavar="BAUD",
        help=f"baud rate of the device (default ${BAUD_ENV}, else {DEFAULT_BAUD})",
    )
    group.addoption(
        "--device-role",
        choices=ROLE_LABELS,
        help=f"the highest role the key file grants (default ${ROLE_ENV}, else clinician): "
        "tests needing a higher one are skipped",
    )
    group.addoption(
        "--device-timeout",
        type=float,
        metavar="S",
        help="seconds to wait for each reply (default: the time a longest frame takes on the "
        "wire both ways at the baud rate, plus 2 s)",
    )
    group.addoption(
        "--allow-therapy-changes",
        action="append",
        metavar="SERIAL",
        help=f"run changes_therapy tests on hardware, on the device with this serial number "
        f"(default ${THERAPY_ENV}); a device reporting another one refuses the run",
    )
    group.addoption(
        "--allow-destructive",
        action="store_true",
        default=None,
        help=f"run destructive tests on an emulator with no snapshot to undo them (default "
        f"${DESTRUCTIVE_ENV}=1); never on hardware",
    )
    group.addoption(
        "--no-snapshot",
        action="store_true",
        help="undo changes through the wire only, even where a control channel could restore "
        "a snapshot",
    )
    group.addoption(
        "--capture-dir",
        type=Path,
        metavar="DIR",
        help="write each test's link as a pcap file here (pump-programmer --capture's format)",
    )
    group.addoption(
        "--link-log-dir",
        type=Path,
        metavar="DIR",
        help="where each test's link log goes (default: the run's folder under --reports-dir)",
    )


@dataclass(frozen=True)
class DeviceSpec:
    """One device given on the command line: its URL, key file and control channel."""

    url: str
    key_file: Path | None
    control: str | None


@dataclass(frozen=True)
class RunOptions:
    devices: tuple[DeviceSpec, ...]  # empty: the plugin starts its own emulator
    baudrate: int
    role: Role
    timeout_override_s: float | None
    therapy_serials: frozenset[str]
    allow_destructive: bool
    no_snapshot: bool
    capture_dir: Path | None
    link_log_dir: Path | None

    @classmethod
    def of(cls, config: pytest.Config) -> RunOptions:
        """The options of this run, read once; pytest.UsageError (one line) for bad ones."""
        cached = config.stash.get(OPTIONS, None)
        if cached is None:
            cached = config.stash[OPTIONS] = cls._read(config)
        return cached

    @classmethod
    def _read(cls, config: pytest.Config) -> RunOptions:
        urls = _listed(config.getoption("device_url"), URL_ENV)
        if not urls and (labgrid_url := labgrid_device_url(config)) is not None:
            urls = [labgrid_url]  # a labgrid place (--lg-env): its NetworkSerialPort
        keys = [Path(k) for k in _listed(config.getoption("device_key_file"), KEY_ENV)]
        controls = _listed(config.getoption("emulator_control"), CONTROL_ENV)
        timeout_s: float | None = config.getoption("device_timeout")
        if timeout_s is not None and timeout_s <= 0:
            raise pytest.UsageError(f"--device-timeout must be above 0 s, not {timeout_s:g}")
        destructive = config.getoption("allow_destructive")
        return cls(
            devices=_paired(urls, keys, controls),
            baudrate=_baudrate(config.getoption("device_baud")),
            role=_role(config.getoption("device_role")),
            timeout_override_s=timeout_s,
            therapy_serials=frozenset(
                serial
                for given in _listed(config.getoption("allow_therapy_changes"), THERAPY_ENV)
                for serial in given.replace(",", " ").split()
            ),
            allow_destructive=bool(destructive)
            if destructive is not None
            else os.environ.get(DESTRUCTIVE_ENV) == "1",
            no_snapshot=bool(config.getoption("no_snapshot")),
            capture_dir=config.getoption("capture_dir"),
            link_log_dir=config.getoption("link_log_dir"),
        )

    def device_for(self, worker: int) -> DeviceSpec | None:
        """The device worker number ``worker`` tests; None: the plugin starts an emulator."""
        if not self.devices:
            return None
        return self.devices[worker]

    def check_workers(self, workers: int) -> None:
        if self.devices and workers > len(self.devices):
            raise pytest.UsageError(
                f"{workers} xdist workers but {len(self.devices)} device(s): give one "
                "--device-url per worker (or fewer workers)"
            )


def worker_index(config: pytest.Config) -> tuple[int, str]:
    """This process's worker number and name: (0, "main") outside pytest-xdist."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None:
        return 0, "main"
    name = str(workerinput["workerid"])
    return int(name.removeprefix("gw")), name


def xdist_workers(config: pytest.Config) -> int:
    """How many workers the controller will start (0 without pytest-xdist)."""
    if hasattr(config, "workerinput"):
        return 0
    count = getattr(config.option, "numprocesses", None)
    return count if isinstance(count, int) else 0


def _listed(given: list[str] | None, env: str) -> list[str]:
    if given:
        return [str(value) for value in given]
    from_env = os.environ.get(env)
    return [from_env] if from_env else []


def _paired(urls: list[str], keys: list[Path], controls: list[str]) -> tuple[DeviceSpec, ...]:
    if not urls:
        if controls:
            raise pytest.UsageError(
                "--emulator-control needs --device-url: the plugin's own emulator has its own "
                "control channel"
            )
        return ()
    for name, values in (("--device-key-file", keys), ("--emulator-control", controls)):
        if values and len(values) != len(urls):
            raise pytest.UsageError(
                f"{len(urls)} --device-url but {len(values)} {name}: they pair by position, "
                "so give one each (or none)"
            )
    return tuple(
        DeviceSpec(
            url,
            keys[i] if keys else None,
            controls[i] if controls else None,
        )
        for i, url in enumerate(urls)
    )


def _baudrate(given: int | None) -> int:
    if given is None:
        text = os.environ.get(BAUD_ENV)
        if not text:
            return DEFAULT_BAUD
        try:
            given = int(text)
        except ValueError:
            raise pytest.UsageError(f"${BAUD_ENV}={text!r} is not a baud rate") from None
    if given <= 0:
        raise pytest.UsageError(f"baud rate {given} must be above 0")
    return given


def _role(given: str | None) -> Role:
    label = given or os.environ.get(ROLE_ENV) or Role.CLINICIAN.label
    if label not in ROLE_LABELS:
        raise pytest.UsageError(
            f"${ROLE_ENV}={label!r} is not a role: one of {', '.join(ROLE_LABELS)}"
        )
    return Role.from_label(label)
