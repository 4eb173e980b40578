"""The device under test, as the fixtures hand it to tests: where it is, whether it is an
emulator, how long to wait for it, who it says it is and what the run may do with it.

What is hardware: a device is an emulator when the plugin started it or its control channel
(``--emulator-control``) reaches it; anything else is hardware, and is treated as a patient's
pump would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hil_tests.as_found import Therapy
from hil_tests.emulator_process import EmulatorProcess
from programmer import Programmer
from programmer.link import DEFAULT_BUDGET_S, DEFAULT_RETRIES, Trace
from protocol import HelloReply, Role

# What each role may do, lowest first: a key file that grants a role grants those below it.
ROLE_RANK = {Role.READ_ONLY: 1, Role.PATIENT: 2, Role.CLINICIAN: 3}


@dataclass(frozen=True)
class DeviceUnderTest:
    url: str
    emulated: bool
    baudrate: int
    reply_timeout_s: float
    key_file: Path | None
    emulator: EmulatorProcess | None = None
    control: str | None = None  # the emulator's control channel (docs/control.md), if any
    identity: HelloReply | None = None  # its HELLO at the start of the run
    role: Role = Role.CLINICIAN  # the highest role the key file grants (--device-role)
    as_found: Therapy | None = None  # None: the role may not read the prescription
    worker: str = "main"  # the pytest-xdist worker testing it

    def programmer(
        self,
        role: Role = Role.CLINICIAN,
        *,
        session: bool = True,
        trace: Trace | None = None,
        timeout_s: float | None = None,
        retries: int = DEFAULT_RETRIES,
        budget_s: float = DEFAULT_BUDGET_S,
    ) -> Programmer:
        return Programmer.open(
            self.url,
            role=role,
            key_file=self.key_file,
            session=session,
            baudrate=self.baudrate,
            timeout_s=self.reply_timeout_s if timeout_s is None else timeout_s,
            retries=retries,
            budget_s=budget_s,
            trace=trace,
        )

    def grants(self, role: Role) -> bool:
        return ROLE_RANK[role] <= ROLE_RANK[self.role]

    @property
    def serial_number(self) -> str:
        return self.identity.serial_number if self.identity else "?"

    def properties(self) -> list[tuple[str, str]]:
        """Who the device is, for each JUnit test case that used it."""
        hello = self.identity
        return [
            ("device_url", self.url),
            ("device_emulated", str(self.emulated).lower()),
            ("device_model", hello.model if hello else ""),
            ("device_serial", hello.serial_number if hello else ""),
            ("device_firmware", hello.firmware_version if hello else ""),
            ("device_protocol_version", str(hello.protocol_version) if hello else ""),
            ("device_worker", self.worker),
        ]

    def describe(self) -> dict[str, object]:
        """The same, for the run's JSON record."""
        described: dict[str, object] = {
            name.removeprefix("device_"): v for name, v in self.properties()
        }
        described["emulated"] = self.emulated
        described["control"] = self.control
        described["baudrate"] = self.baudrate
        described["reply_timeout_s"] = self.reply_timeout_s
        described["role"] = self.role.label
        described["as_found"] = self.as_found.describe() if self.as_found else None
        return described
