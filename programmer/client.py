"""The clinician programmer as a library: typed calls over a link to one pump."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

from programmer.errors import UnexpectedReply
from programmer.link import DEFAULT_RETRIES, DEFAULT_TIMEOUT_S, Link
from protocol import (
    GetStatus,
    Hello,
    HelloReply,
    Message,
    SetDose,
    SetDoseReply,
    StatusReply,
)
from transport import DEFAULT_BAUDRATE

R = TypeVar("R", bound=Message)


class Programmer:
    """Open with ``Programmer.open(url)``; every call is one request and its reply."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.identity: HelloReply | None = None

    @classmethod
    def open(
        cls,
        url: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        hello: bool = True,
    ) -> Programmer:
        """Open the port and, unless told not to, greet the pump to learn who it is."""
        link = Link.open(url, baudrate=baudrate, timeout_s=timeout_s, retries=retries)
        programmer = cls(link)
        if hello:
            try:
                programmer.hello()
            except BaseException:
                link.close()
                raise
        return programmer

    def close(self) -> None:
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

    def hello(self) -> HelloReply:
        self.identity = self._call(Hello(), HelloReply)
        return self.identity

    def status(self) -> StatusReply:
        return self._call(GetStatus(), StatusReply)

    def set_dose(self, dose_ug_per_day: int) -> SetDoseReply:
        """Program simple continuous delivery at ``dose_ug_per_day``."""
        return self._call(SetDose(dose_ug_per_day), SetDoseReply)

    def _call(self, request: Message, expected: type[R]) -> R:
        reply = self.link.transact(request)
        if not isinstance(reply, expected):
            raise UnexpectedReply(
                f"{type(request).__name__} answered with {type(reply).__name__}, "
                f"expected {expected.__name__}"
            )
        return reply
