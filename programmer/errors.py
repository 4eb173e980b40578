"""What can go wrong when programming a pump, each with the exit code the CLI returns."""

from protocol import Reason


class ProgrammerError(Exception):
    exit_code = 1


class DeviceRefused(ProgrammerError):
    """The pump answered with an error reply; nothing was executed."""

    exit_code = 1

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(f"pump refused: {reason.name}: {message}")
        self.reason = reason
        self.message = message


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
