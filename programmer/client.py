"""The clinician programmer as a library: typed calls over a link to one pump.

``Programmer.open(url)`` greets the pump, finds its key file by serial number, and opens an
authenticated session in the chosen role. Programming is always two-step: the prescription
is staged, the pump reads it back with a digest, the programmer checks the read-back against
what it asked for (the side-by-side confirm screen), and only then commits with the digest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from programmer.errors import DeviceRefused, KeyProblem, UnexpectedReply, WouldBeRefused
from programmer.keys import key_source, load_keyring
from programmer.link import (
    DEFAULT_BUDGET_S,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_S,
    Link,
    Notice,
    Trace,
)
from programmer.operator import default_operator
from protocol import (
    CHANGING,
    NO_DIGEST,
    NOT_MEASURED,
    STOP_CONFIRMATION,
    AckAlarm,
    AckAlarmReply,
    AlarmCode,
    AlarmsReply,
    Bolus,
    BolusReply,
    ClockReply,
    ClockSet,
    CommitPrescription,
    Committed,
    GetAlarms,
    GetClock,
    GetLimits,
    GetPrescription,
    GetStatus,
    Hello,
    HelloReply,
    Keyring,
    LimitsReply,
    LogPage,
    LogRecord,
    Message,
    Mode,
    PatientBolus,
    PatientBolusReply,
    PrescriptionReply,
    Prime,
    PrimeReply,
    ReadLog,
    Reason,
    Refill,
    RefillReply,
    Role,
    SetClock,
    Staged,
    StagePrescription,
    Start,
    Started,
    StatusReply,
    Stop,
    Stopped,
    WireStep,
    as_stage_request,
    prescription_digest,
)
from transport import DEFAULT_BAUDRATE

R = TypeVar("R", bound=Message)
LOG_PAGE = 8
_GET_STATUS = GetStatus()  # no fields: one request object serves every poll


@dataclass(frozen=True)
class Change:
    """A committed programming transaction: what was in force, what now is."""

    before: PrescriptionReply
    staged: Staged
    committed: Committed


class Programmer:
    def __init__(self, link: Link, operator: str | None = None) -> None:
        self.link = link
        self.operator = operator or default_operator()
        self.identity: HelloReply | None = None
        self.last_log_page: LogPage | None = None

    @classmethod
    def open(
        cls,
        url: str,
        *,
        role: Role = Role.CLINICIAN,
        key_file: Path | None = None,
        keyring: Keyring | None = None,
        session: bool = True,
        baudrate: int = DEFAULT_BAUDRATE,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        budget_s: float = DEFAULT_BUDGET_S,
        operator: str | None = None,
        trace: Trace | None = None,
        notice: Notice | None = None,
    ) -> Programmer:
        """Open the port, greet the pump and (unless told not to) open a session."""
        link = Link.open(
            url,
            baudrate=baudrate,
            timeout_s=timeout_s,
            retries=retries,
            budget_s=budget_s,
            trace=trace,
            notice=notice,
        )
        programmer = cls(link, operator)
        try:
            hello = programmer.hello()
            if session:
                keys = keyring or load_keyring(hello.serial_number, key_file)
                source = "the keys given" if keyring else key_source(hello.serial_number, key_file)
                try:
                    programmer.open_session(role, keys)
                except DeviceRefused as refusal:
                    if refusal.reason is not Reason.AUTH_FAILED:
                        raise
                    raise KeyProblem(
                        f"the pump refused the {role.label} key of {source}: "
                        f"not this pump's key ({refusal.message})"
                    ) from None
        except BaseException:
            link.close()
            raise
        return programmer

    def open_session(self, role: Role, keyring: Keyring) -> None:
        key = keyring.keys.get(role)
        if key is None:
            raise KeyProblem(f"the key file holds no {role.label} key")
        serial = self.identity.serial_number if self.identity else keyring.serial_number
        self.link.open_session(role, key, serial, self.operator)

    def close(self) -> None:
        try:
            self.link.close_session()
        except Exception:  # closing a session on a dead link must not hide the first error
            pass
        finally:
            self.link.close()

    def __enter__(self) -> Programmer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- interrogation -------------------------------------------------------------------

    def hello(self) -> HelloReply:
        self.identity = self._call(Hello(), HelloReply)
        return self.identity

    def status(self) -> StatusReply:
        return self._call(_GET_STATUS, StatusReply)

    def prescription(self) -> PrescriptionReply:
        return self._call(GetPrescription(), PrescriptionReply)

    def alarms(self) -> AlarmsReply:
        return self._call(GetAlarms(), AlarmsReply)

    def read_log(self, first: int = 0, max_entries: int = LOG_PAGE) -> LogPage:
        page = self._call(ReadLog(first, max_entries), LogPage)
        self.last_log_page = page
        return page

    def log_entries(self, first: int = 0) -> Iterator[LogRecord]:
        """Every entry from ``first`` (or the oldest still held) to the newest, page by page."""
        while True:
            page = self.read_log(first)
            yield from page.entries
            if not page.entries or page.entries[-1].index + 1 >= page.next:
                return
            first = page.entries[-1].index + 1

    def clock(self) -> int:
        return self._call(GetClock(), ClockReply).clock_s

    def can_read_limits(self) -> bool:
        return self.link.connection.session_role in (Role.CLINICIAN, Role.READ_ONLY)

    def limits(self) -> LimitsReply:
        """The pump's limits, signed: what a request is checked against before it is sent."""
        return self._call(GetLimits(), LimitsReply)

    # -- two-step programming ------------------------------------------------------------

    def stage(self, request: StagePrescription) -> Staged:
        """Step one; raises UnexpectedReply when the read-back differs from the request."""
        staged = self._call(request, Staged)
        read_back = as_stage_request(staged)
        if read_back != request:
            raise UnexpectedReply(f"the pump read back {read_back}, not {request}")
        if staged.digest != prescription_digest(request):
            raise UnexpectedReply("the pump's digest is not that of the prescription read back")
        return staged

    def commit(self, staged: Staged, *, start: bool = False) -> Committed:
        """Step two. A stopped pump stays stopped unless ``start``: programming never
        restarts delivery by itself."""
        return self._call(CommitPrescription(staged.digest, int(start)), Committed)

    def program(self, request: StagePrescription, *, start: bool = False) -> Change:
        before = self.prescription()
        staged = self.stage(request)
        return Change(before, staged, self.commit(staged, start=start))

    def set_dose(self, dose_ug_per_day: int, *, start: bool = False) -> Change:
        """Simple continuous delivery at this dose; limits and alarm volume kept."""
        return self.program(continuous(self.prescription(), dose_ug_per_day), start=start)

    def set_flex(self, steps: tuple[WireStep, ...], *, start: bool = False) -> Change:
        return self.program(flex(self.prescription(), steps), start=start)

    def set_patient_limits(
        self, dose_ug: int, duration_s: int, lockout_s: int, max_per_day: int
    ) -> Change:
        current = programmed(self.prescription())
        return self.program(
            replace(
                current,
                patient_dose_ug=dose_ug,
                patient_duration_s=duration_s,
                patient_lockout_s=lockout_s,
                patient_max_per_day=max_per_day,
            )
        )

    def set_low_reservoir_alarm(self, volume_ul: int) -> Change:
        return self.program(replace(programmed(self.prescription()), low_reservoir_ul=volume_ul))

    # -- delivery ------------------------------------------------------------------------

    def bolus(self, dose_ug: int, duration_s: int) -> BolusReply:
        return self._call(Bolus(dose_ug, duration_s), BolusReply)

    def prime(self, volume_nl: int = 0) -> PrimeReply:
        return self._call(Prime(volume_nl), PrimeReply)

    def patient_bolus(self) -> PatientBolusReply:
        return self._call(PatientBolus(), PatientBolusReply)

    def stop(self, *, confirm_withdrawal_risk: bool) -> Stopped:
        """Stopping baclofen risks withdrawal: the confirmation is carried on the wire."""
        return self._call(Stop(STOP_CONFIRMATION if confirm_withdrawal_risk else 0), Stopped)

    def start(self) -> Started:
        return self._call(Start(), Started)

    def refill(
        self,
        volume_nl: int,
        concentration_ug_per_ml: int,
        *,
        measured_nl: int | None = None,
        dose_ug_per_day: int | None = None,
        prescription: StagePrescription | None = None,
        drug: str = "baclofen",
    ) -> RefillReply:
        """Withdraw, measure, fill; a new concentration re-enters the dose (staged first):
        ``prescription``, or a continuous ``dose_ug_per_day`` on the current one."""
        if dose_ug_per_day is not None:
            prescription = continuous(self.prescription(), dose_ug_per_day)
        digest = NO_DIGEST if prescription is None else self.stage(prescription).digest
        return self.refill_staged(volume_nl, concentration_ug_per_ml, digest, measured_nl, drug)

    def refill_staged(
        self,
        volume_nl: int,
        concentration_ug_per_ml: int,
        digest: bytes,
        measured_nl: int | None = None,
        drug: str = "baclofen",
    ) -> RefillReply:
        """The refill itself, quoting what was staged (``NO_DIGEST``: nothing)."""
        measured = NOT_MEASURED if measured_nl is None else measured_nl
        return self._call(
            Refill(volume_nl, concentration_ug_per_ml, measured, digest, drug), RefillReply
        )

    def acknowledge(self, alarm: AlarmCode) -> AckAlarmReply:
        return self._call(AckAlarm(alarm), AckAlarmReply)

    def set_clock(self, clock_s: int) -> int:
        return self._call(SetClock(clock_s), ClockSet).clock_s

    def _call(self, request: Message, expected: type[R]) -> R:
        if request.TYPE in CHANGING:
            # A commit, or a refill quoting a digest, needs what was staged in the session
            # it was sent in: after the session is lost it cannot simply be sent again.
            staged = isinstance(request, CommitPrescription) or (
                isinstance(request, Refill) and request.digest != NO_DIGEST
            )
            reply = self.link.transact_changing(request, resend_if_not_received=not staged)
        else:
            reply = self.link.transact(request)
        if not isinstance(reply, expected):
            raise UnexpectedReply(
                f"{type(request).__name__} answered with {type(reply).__name__}, "
                f"expected {expected.__name__}"
            )
        return reply


def continuous(current: PrescriptionReply, dose_ug_per_day: int) -> StagePrescription:
    """The prescription in force with its basal replaced by continuous delivery at a dose."""
    return replace(
        as_stage_request(current), mode=Mode.CONTINUOUS, steps=(WireStep(0, dose_ug_per_day),)
    )


def flex(current: PrescriptionReply, steps: tuple[WireStep, ...]) -> StagePrescription:
    """The prescription in force with its basal replaced by a daily schedule."""
    return replace(as_stage_request(current), mode=Mode.FLEX, steps=steps)


def programmed(current: PrescriptionReply) -> StagePrescription:
    """The prescription in force, which must exist (limits and alarms change a basal)."""
    if current.mode == Mode.NONE:
        raise WouldBeRefused("nothing is programmed yet: program a dose first (set-dose, flex)")
    return as_stage_request(current)
