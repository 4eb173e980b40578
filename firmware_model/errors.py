"""Why the pump refuses a request. A refused request changes nothing but the event log."""

from enum import Enum


class Refusal(Enum):
    OUT_OF_RANGE = "value_out_of_range"  # the wire's reason name, lower case
    WRONG_STATE = "wrong_state"
    CONFIRMATION_REQUIRED = "confirmation_required"
    NO_DRUG = "no_drug"
    DRUG_LIMIT = "drug_limit"  # the drug library's hard limit
    DOSE_CHANGE_LIMIT = "dose_change_limit"  # too large a step in one transaction
    DOSE_REENTRY_REQUIRED = "dose_reentry_required"  # new concentration, dose not re-entered
    NOT_PERMITTED = "not_permitted"  # e.g. patient bolus with no limits programmed
    LOCKOUT = "lockout"  # patient bolus within the lockout interval
    DAILY_LIMIT = "daily_limit"  # patient bolus count over 24 h reached
    NO_SUCH_ALARM = "no_such_alarm"


class PumpRefusal(Exception):
    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
