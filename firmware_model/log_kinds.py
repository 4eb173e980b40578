"""Every kind of event-log entry, its class, its detail keys and what it means: one table.

The class decides which ring of the event log keeps an entry. **Clinical** entries are the
pump's history: whatever changed the pump or its clock, every physical or alarm event, and
refusals of authenticated requests. **Link** entries are sessions, interrogations and
refusals of frames nobody authenticated. Link traffic only ever evicts link entries, so no
amount of it can wash the clinical history away. A kind missing from the table is clinical:
an entry nobody classified must never be evictable by the link.

The protocol documentation's log vocabulary is generated from ``vocabulary()``. Detail keys
are those the writer passes; an operator context (``EventLog.context``) adds its own keys to
clinical entries.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class LogClass(StrEnum):
    CLINICAL = "clinical"
    LINK = "link"


@dataclass(frozen=True, slots=True)
class Kind:
    log_class: LogClass
    keys: tuple[str, ...]  # detail keys the writer may pass; "<reason>": one key per reason
    meaning: str


CLINICAL = LogClass.CLINICAL
LINK = LogClass.LINK

KINDS: Mapping[str, Kind] = MappingProxyType(
    {
        # -- requests that change the pump or its clock -----------------------------------
        "programmed": Kind(
            CLINICAL,
            ("mode", "dose_ug_per_day", "steps"),
            "basal programmed: continuous (dose_ug_per_day) or flex (steps: [second, dose])",
        ),
        "patient_limits": Kind(
            CLINICAL,
            ("dose_ug", "duration_s", "lockout_s", "max_per_day"),
            "patient bolus limits set; dose_ug 0 alone: patient bolus withdrawn",
        ),
        "low_reservoir_alarm_set": Kind(
            CLINICAL, ("volume_nl",), "low-reservoir alarm volume changed"
        ),
        "refill": Kind(
            CLINICAL,
            (
                "drug",
                "expected_nl",
                "measured_nl",
                "discrepancy_nl",
                "added_nl",
                "concentration_ug_per_ml",
            ),
            "reservoir emptied (expected against measured) and refilled",
        ),
        "refill_discrepancy": Kind(
            CLINICAL,
            ("expected_nl", "measured_nl"),
            "a refill's measured residual differs from the expected by more than the threshold "
            "(pocket fill? catheter?)",
        ),
        "clock_set": Kind(
            CLINICAL, ("previous_s", "clock_s"), "pump clock set (Unix seconds before, after)"
        ),
        "bolus_started": Kind(
            CLINICAL,
            ("bolus", "duration_s", "volume_nl", "dose_ug"),
            "clinician or priming bolus started (dose_ug: clinician bolus only)",
        ),
        "bolus_completed": Kind(CLINICAL, ("bolus",), "bolus delivered in full"),
        "bolus_cancelled": Kind(CLINICAL, ("bolus", "reason"), "bolus ended early, and why"),
        "patient_bolus_started": Kind(CLINICAL, ("dose_ug",), "patient bolus started"),
        "patient_bolus_completed": Kind(CLINICAL, (), "patient bolus delivered in full"),
        "patient_bolus_cancelled": Kind(CLINICAL, ("reason",), "patient bolus ended early"),
        "alarm_acknowledged": Kind(CLINICAL, ("alarm",), "alarm silenced by a clinician"),
        "state": Kind(
            CLINICAL, ("state", "previous", "trigger"), "pump state changed, and what did it"
        ),
        "refused": Kind(
            CLINICAL,
            ("request", "reason", "message"),
            "request refused, nothing changed: which request, which check, why",
        ),
        # -- physical and alarm events ----------------------------------------------------
        "alarm": Kind(CLINICAL, ("alarm", "critical"), "alarm raised"),
        "alarm_cleared": Kind(CLINICAL, ("alarm",), "alarm's cause gone"),
        "temperature": Kind(
            CLINICAL, ("celsius",), "pump body temperature exposure began, or ended (37 °C)"
        ),
        "mri_started": Kind(
            CLINICAL, ("duration_s",), "MRI scan stopped the rotor (scan plus recovery delay)"
        ),
        "mri_ended": Kind(CLINICAL, (), "MRI hold over"),
        "occlusion_started": Kind(CLINICAL, ("duration_s",), "catheter occluded"),
        "occlusion_ended": Kind(CLINICAL, (), "catheter occlusion cleared"),
        "battery_drained": Kind(
            CLINICAL, ("fraction",), "battery set lower by a test rig (emulator control channel)"
        ),
        "motor_stall": Kind(CLINICAL, ("causes",), "motor stalled and delivery suspended"),
        "motor_recovered": Kind(CLINICAL, (), "motor free again, delivery resumed"),
        # -- the link ---------------------------------------------------------------------
        "interrogation": Kind(
            LINK, (), "telemetry session interrogated the pump (battery; ends an MRI hold)"
        ),
        "session_opened": Kind(
            LINK,
            ("role", "by", "session"),
            "authenticated session opened: role, operator, session id (hex)",
        ),
        "session_closed": Kind(
            LINK, ("role", "why", "session"), "session ended: closed, idle or replaced"
        ),
        "link_refused": Kind(
            LINK,
            ("reason", "message"),
            "a frame nobody authenticated refused, or a stale copy of an old request dropped "
            "(reason stale_request)",
        ),
        "link_refusals_suppressed": Kind(
            LINK,
            ("<reason>",),
            "link refusals counted, not written one by one: a count per reason",
        ),
    }
)


def class_of(kind: str) -> LogClass:
    """The class of ``kind``; clinical when the table does not know it."""
    known = KINDS.get(kind)
    return CLINICAL if known is None else known.log_class


def vocabulary() -> Iterator[tuple[str, LogClass, tuple[str, ...], str]]:
    """Rows (kind, class, detail keys, meaning), clinical kinds first, as the table lists them."""
    for log_class in LogClass:
        for name, kind in KINDS.items():
            if kind.log_class is log_class:
                yield name, log_class, kind.keys, kind.meaning
