from protocol import Reason


class DeviceRefusal(Exception):
    """A request refused by the device before it reaches the pump model (wire-level sense)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
