"""What can go wrong when programming a pump, each with the exit code the CLI returns.

A changing command ends in exactly one of three ways: done (a verified reply), not done
(``DeviceRefused`` or ``NotExecuted``: signed word from the pump that nothing ran), or
``OutcomeUnknown``. Nothing unsigned ever decides between them.
"""

from protocol import Reason


class ProgrammerError(Exception):
    exit_code = 1


class DeviceRefused(ProgrammerError):
    """The pump refused the request (signed, inside a session): nothing was executed."""

    exit_code = 1

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"pump refused: {reason.name}: {message}")
        self.reason = reason
        self.message = message


class WouldBeRefused(ProgrammerError):
    """What the pump would refuse, in its state or its limits, said before anything is sent:
    the same exit code as the pump's own refusal."""

    exit_code = 1


class OutsideLimits(WouldBeRefused):
    """A value outside the limits the pump reported (signed, GET_LIMITS)."""


class UsageError(ProgrammerError):
    """The command line cannot be carried out as given (a missing --yes, a role too low)."""

    exit_code = 2


class NotExecuted(ProgrammerError):
    """The pump says, signed, that it never ran the request and never will: safe to resend."""

    exit_code = 1


class PortError(ProgrammerError):
    """The port could not be opened, or failed while in use."""

    exit_code = 3


class LinkError(ProgrammerError):
    """The port is open but no valid answer came back."""

    exit_code = 4


class LinkTimeout(LinkError):
    pass


class UnexpectedReply(LinkError):
    pass


class KeyProblem(ProgrammerError):
    """No usable key for this pump and role: missing, unreadable or for another pump."""

    exit_code = 5


class OutcomeUnknown(ProgrammerError):
    """A changing request may or may not have run, and the pump could not be asked.

    Retrying blindly could deliver a dose twice: interrogate the pump (status, event log)
    before sending it again.
    """

    exit_code = 6

    def __init__(self, what: str, why: str) -> None:
        super().__init__(f"outcome unknown: interrogate the pump before retrying ({what}: {why})")
        self.what = what
        self.why = why
