"""The implanted pump as a pure, deterministic model: no ports, no threads, no wall clock."""

from firmware_model.alarms import Alarm
from firmware_model.config import PumpConfig
from firmware_model.drug_library import BACLOFEN, DrugLimits
from firmware_model.errors import PumpRefusal, Refusal
from firmware_model.event_log import EventLog, LogEntry
from firmware_model.interlocks import rate_for_dose
from firmware_model.prescription import Continuous, Flex, FlexStep, PatientLimits, Prescription
from firmware_model.pump import Accounts, Pump, PumpStatus

__all__ = [
    "BACLOFEN",
    "Accounts",
    "Alarm",
    "Continuous",
    "DrugLimits",
    "EventLog",
    "Flex",
    "FlexStep",
    "LogEntry",
    "PatientLimits",
    "Prescription",
    "Pump",
    "PumpConfig",
    "PumpRefusal",
    "PumpStatus",
    "Refusal",
    "rate_for_dose",
]
