"""Run a scenario headless: a stream of plain records, events in time order, then a summary.

Records are the pump's event-log entries as they happen (``{"t_s", "kind", ...}``), a
``refused`` record for each step the pump refused, and a final ``summary``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from firmware_model import state_machine as sm
from firmware_model.errors import PumpRefusal
from firmware_model.event_log import LogEntry
from firmware_model.prescription import Basal, PatientLimits, Prescription
from firmware_model.pump import Pump
from firmware_model.scenario.spec import Scenario, Step
from firmware_model.units import NG_PER_UG, NL_PER_UL, PPM, QUANTA_PER_NL, US_PER_S

Record = dict[str, Any]


def seconds(t_us: int) -> int | float:
    """Whole seconds as an int; otherwise to the microsecond."""
    whole, rest = divmod(t_us, US_PER_S)
    return whole if not rest else t_us / US_PER_S


def run_scenario(scenario: Scenario, pump: Pump | None = None) -> Iterator[Record]:
    """The scenario's records; ``pump`` (new, built from ``scenario.config``) lets a caller
    look at the pump afterwards."""
    pump = Pump(scenario.config) if pump is None else pump
    pending: list[Record] = []

    def collect(entry: LogEntry) -> None:
        if entry.kind == "refused":  # the runner reports refusals with their step
            return
        pending.append({"t_s": seconds(entry.t_us), "kind": entry.kind, **entry.detail})
        if entry.kind == "refill_discrepancy":  # the step ran; the person running it is told
            expected, measured = entry.detail["expected_nl"], entry.detail["measured_nl"]
            pending.append(
                {
                    "t_s": seconds(entry.t_us),
                    "kind": "warning",
                    "warning": "refill_discrepancy",
                    "message": (
                        f"measured residual {_ml(measured)} differs from the expected "
                        f"{_ml(expected)} by more than the pump's threshold: drug in the "
                        "pocket, or a leaking or blocked catheter?"
                    ),
                }
            )

    pump.log.listeners.append(collect)
    until_eos = scenario.until_us is None
    end_us = scenario.horizon_us if until_eos else scenario.until_us
    assert end_us is not None
    for step in scenario.steps:
        if step.at_us > end_us or _advance(pump, step.at_us, until_eos):
            break
        yield from pending
        pending.clear()
        try:
            _APPLY[step.action](pump, step)
        except PumpRefusal as refusal:
            pending.append(
                {
                    "t_s": seconds(pump.t_us),
                    "kind": "refused",
                    "step": step.index,
                    "action": step.action,
                    "reason": refusal.reason.value,
                    "message": refusal.message,
                }
            )
        yield from pending
        pending.clear()
    else:
        _advance(pump, end_us, until_eos)
    yield from pending
    yield summary(pump)


def _ml(nl: object) -> str:
    return f"{int(str(nl)) / 1_000_000:g} mL"


def _advance(pump: Pump, t_us: int, until_eos: bool) -> bool:
    """Advance to ``t_us``; when running until end of service, stop there. True: stopped."""
    if not until_eos:
        pump.advance_to(t_us)
        return False
    return pump.advance_through(t_us, sm.END_OF_SERVICE)


def summary(pump: Pump) -> Record:
    status = pump.status()
    accounts = pump.accounts()
    # Filled is whole nL; remaining and withdrawn round down to whole nL; pumped is what makes
    # the balance hold exactly, within 2 nL of the exact figure kept in quanta.
    filled_nl = accounts.filled_q // QUANTA_PER_NL
    withdrawn_nl = accounts.withdrawn_q // QUANTA_PER_NL
    pumped_nl = filled_nl - withdrawn_nl - status.reservoir_nl
    return {
        "t_s": seconds(status.t_us),
        "kind": "summary",
        "state": status.state,
        "mode": status.mode,
        "alarms": sorted(alarm.value for alarm in status.alarms),
        "reservoir_ul": _to_thousandths(status.reservoir_nl, NL_PER_UL),
        "infused_ug": _to_thousandths(status.infused_ng, NG_PER_UG),
        "pumped_ul": _to_thousandths(pumped_nl, NL_PER_UL),
        "filled_ul": _to_thousandths(filled_nl, NL_PER_UL),
        "withdrawn_ul": _to_thousandths(withdrawn_nl, NL_PER_UL),
        "battery_fraction": status.battery_ppm / PPM,
        "log_entries": len(pump.log),
        "log_overflowed": pump.log.overflowed,
        "log_clinical_lost": pump.log.clinical_lost,
        "log_link_lost": pump.log.link_lost,
    }


def _to_thousandths(amount: int, per_unit: int) -> int | float:
    whole, rest = divmod(amount, per_unit)
    return whole if not rest else amount / per_unit


def _refill(pump: Pump, step: Step) -> None:
    p = step.params
    pump.refill(
        p["volume_nl"],
        p["concentration_ug_per_ml"],
        drug=p["drug"],
        measured_nl=p["measured_nl"],
        prescription=None if p["basal"] is None else _with_basal(pump, p["basal"]),
    )


def _with_basal(pump: Pump, basal: Basal) -> Prescription:
    """Re-enter the dose, keeping the patient limits and alarm volume in force."""
    return Prescription(basal, pump.patient_limits, pump.low_reservoir_nl)


def _program(pump: Pump, step: Step) -> None:
    if step.params.get("stop"):
        pump.stop(confirm=step.params["confirm"])
    else:
        # Steps built in code (benchmarks) may omit start: scenarios default to starting.
        pump.program(step.params["basal"], start=step.params.get("start", True))


def _patient_limits(pump: Pump, step: Step) -> None:
    pump.set_patient_limits(PatientLimits(**step.params))


_APPLY: dict[str, Callable[[Pump, Step], None]] = {
    "refill": _refill,
    "program": _program,
    "start": lambda pump, step: pump.start(),
    "bolus": lambda pump, step: pump.clinician_bolus(**step.params),
    "prime": lambda pump, step: pump.prime(step.params["volume_nl"]),
    "patient_limits": _patient_limits,
    "patient_bolus": lambda pump, step: pump.patient_bolus(),
    "temperature": lambda pump, step: pump.expose_temperature(**step.params),
    "mri": lambda pump, step: pump.mri(**step.params),
    "occlusion": lambda pump, step: pump.occlude(**step.params),
    "acknowledge": lambda pump, step: pump.acknowledge(step.params["alarm"]),
    "interrogate": lambda pump, step: pump.interrogate(),
    "low_reservoir_alarm": lambda pump, step: pump.set_low_reservoir_alarm(**step.params),
}
