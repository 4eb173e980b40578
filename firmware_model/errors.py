"""Why the pump refuses a request. A refused request changes nothing."""

from enum import Enum


class Refusal(Enum):
    OUT_OF_RANGE = "out_of_range"
    WRONG_STATE = "wrong_state"
    CONFIRMATION_REQUIRED = "confirmation_required"
    NO_DRUG = "no_drug"


class PumpRefusal(Exception):
    def __init__(self, reason: Refusal, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
