"""Sans-IO connection objects for both ends of the link, in the manner of h11.

Bytes go in with ``receive_data``; typed events come out of ``events()``; what to send comes
back from method calls as bytes. No port, no thread, no clock: the caller owns all of those.

At-most-once: the pump end remembers the last request it answered and the reply it sent. A
request that arrives again with the same sequence number and the same contents is a
retransmission (the programmer never saw our reply), so the cached reply is sent again and
the request is not handed to the application a second time.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from protocol.frame import (
    NO_SEQ,
    SEQ_MODULUS,
    Flags,
    Frame,
    FrameDecoder,
    FrameError,
    encode_frame,
)
from protocol.messages import (
    ErrorReply,
    Hello,
    Kind,
    Message,
    MessageError,
    decode_message,
    encode_payload,
)
from protocol.reasons import Reason


@dataclass(frozen=True, slots=True)
class RequestReceived:
    """A new request for the application to execute exactly once."""

    seq: int
    message: Message
    frame: Frame


@dataclass(frozen=True, slots=True)
class BadRequest:
    """A frame the pump must refuse with an error reply (``PumpConnection.refuse``)."""

    reason: Reason
    detail: str
    seq: int = NO_SEQ
    msg_type: int = 0
    frame: Frame | None = None


@dataclass(frozen=True, slots=True)
class Retransmission:
    """A request already executed arrived again; ``data`` is the cached reply to resend."""

    seq: int
    data: bytes


@dataclass(frozen=True, slots=True)
class FrameDropped:
    """Bytes that were discarded without a reply (noise, unknown flags, stray frames)."""

    reason: Reason
    detail: str


@dataclass(frozen=True, slots=True)
class ReplyReceived:
    seq: int
    message: Message


@dataclass(frozen=True, slots=True)
class NotificationReceived:
    seq: int
    message: Message


PumpEvent = RequestReceived | BadRequest | Retransmission | FrameDropped
ProgrammerEvent = ReplyReceived | NotificationReceived | FrameDropped


def _frame_bytes(kind: Kind, seq: int, message: Message) -> bytes:
    return encode_frame(Frame(kind.flags, seq, int(message.TYPE), encode_payload(message)))


E = TypeVar("E")


class _Endpoint(Generic[E]):
    """Buffers decoded frames until the application asks for events."""

    def __init__(self) -> None:
        self._decoder = FrameDecoder()
        self._pending: deque[Frame | FrameError] = deque()

    def receive_data(self, data: bytes | bytearray) -> None:
        self._pending.extend(self._decoder.feed(data))

    def events(self) -> Iterator[E]:
        while self._pending:
            yield self._classify(self._pending.popleft())

    def _classify(self, item: Frame | FrameError) -> E:
        raise NotImplementedError


class PumpConnection(_Endpoint[PumpEvent]):
    """The pump's end: turns request frames into events and replies into bytes."""

    def __init__(self) -> None:
        super().__init__()
        self._answered: Frame | None = None
        self._answer: bytes = b""

    def _classify(self, item: Frame | FrameError) -> PumpEvent:
        if isinstance(item, FrameError):
            if item.reason is Reason.UNKNOWN_FLAGS:
                return FrameDropped(item.reason, item.detail)
            return BadRequest(item.reason, item.detail, item.seq, item.msg_type)
        if not item.is_request:
            return FrameDropped(Reason.WRONG_DIRECTION, f"{Kind.of(item.flags).value} frame")
        if item.seq == NO_SEQ:
            return BadRequest(Reason.BAD_PAYLOAD, "sequence 0 is reserved", NO_SEQ, item.msg_type)
        if item == self._answered:
            return Retransmission(item.seq, self._answer)
        try:
            message = decode_message(item)
        except MessageError as exc:
            return BadRequest(exc.reason, exc.detail, item.seq, item.msg_type, item)
        if isinstance(message, Hello):
            self._answered = None
        return RequestReceived(item.seq, message, item)

    def reply(self, request: RequestReceived, message: Message) -> bytes:
        data = _frame_bytes(Kind.REPLY, request.seq, message)
        self._remember(request.frame, data)
        return data

    def refuse(
        self,
        request: RequestReceived | BadRequest,
        reason: Reason | None = None,
        detail: str | None = None,
    ) -> bytes:
        if isinstance(request, BadRequest):
            reason = reason or request.reason
            detail = detail or request.detail
            msg_type = request.msg_type
        else:
            msg_type = int(request.message.TYPE)
        if reason is None:
            raise ValueError("refusing a request needs a reason")
        error = ErrorReply(reason, msg_type, detail or reason.describe)
        data = _frame_bytes(Kind.REPLY, request.seq, error)
        self._remember(request.frame, data)
        return data

    def notify(self, seq: int, message: Message) -> bytes:
        return _frame_bytes(Kind.NOTIFICATION, seq, message)

    def _remember(self, frame: Frame | None, data: bytes) -> None:
        if frame is not None:
            self._answered = frame
            self._answer = data


class ProgrammerConnection(_Endpoint[ProgrammerEvent]):
    """The programmer's end: numbers requests, decodes replies and notifications."""

    def __init__(self, first_seq: int = 1) -> None:
        if not 0 < first_seq < SEQ_MODULUS:
            raise ValueError(f"first sequence number must be 1..{SEQ_MODULUS - 1}")
        super().__init__()
        self._next_seq = first_seq

    def request(self, message: Message) -> tuple[int, bytes]:
        """Number a request; send the returned bytes again, unchanged, to retransmit it."""
        if message.KIND is not Kind.REQUEST:
            raise ValueError(f"{type(message).__name__} is not a request")
        seq = self._next_seq
        self._next_seq = seq % (SEQ_MODULUS - 1) + 1
        return seq, _frame_bytes(Kind.REQUEST, seq, message)

    def _classify(self, item: Frame | FrameError) -> ProgrammerEvent:
        if isinstance(item, FrameError):
            return FrameDropped(item.reason, item.detail)
        if item.is_request:
            return FrameDropped(Reason.WRONG_DIRECTION, "request frame received by the programmer")
        try:
            message = decode_message(item)
        except MessageError as exc:
            return FrameDropped(exc.reason, exc.detail)
        if item.flags & Flags.NOTIFICATION:
            return NotificationReceived(item.seq, message)
        return ReplyReceived(item.seq, message)
