"""One request, one reply, over any port: numbering, signing, retransmission and matching.

A reply is matched to its request by sequence number; anything else that arrives meanwhile
(stale replies, error replies to line noise, notifications) is set aside. When no reply comes
in time the very same bytes are sent again; the pump answers a retransmission from its
cache, so a retried command is never executed twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from types import TracebackType

from programmer.errors import DeviceRefused, LinkTimeout, PortError, UnexpectedReply
from protocol import (
    ErrorReply,
    FrameDropped,
    Key,
    Message,
    NotificationReceived,
    ProgrammerConnection,
    ReplyReceived,
    Role,
    SessionChallenge,
    SessionClose,
    SessionOpened,
)
from transport import DEFAULT_BAUDRATE, ByteChannel, PortOpenError, SerialChannel

Trace = Callable[[str, bytes], None]  # ("tx" or "rx", bytes): a record of the link, for logs

DEFAULT_TIMEOUT_S = 1.0
DEFAULT_RETRIES = 2
MAX_UNCLAIMED = 64


class Link:
    def __init__(
        self,
        channel: ByteChannel,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        first_seq: int | None = None,
        trace: Trace | None = None,
    ) -> None:
        self.channel = channel
        self.trace = trace
        self.timeout_s = timeout_s
        self.retries = retries
        # A fresh random start keeps our numbers apart from an earlier programmer's.
        self.connection = ProgrammerConnection(first_seq or random.randint(1, 0xFFFF))
        self.notifications: list[NotificationReceived] = []
        self._unclaimed: dict[int, Message] = {}  # replies read while waiting for another
        self.dropped: list[FrameDropped] = []
        self.retransmissions = 0

    @classmethod
    def open(
        cls,
        url: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        trace: Trace | None = None,
    ) -> Link:
        try:
            channel = SerialChannel(url, baudrate=baudrate)
        except PortOpenError as exc:
            raise PortError(str(exc)) from exc
        return cls(channel, timeout_s=timeout_s, retries=retries, trace=trace)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Link:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def transact(self, request: Message) -> Message:
        """Send a request and return its reply; raise DeviceRefused for an error reply."""
        seq, data = self.connection.request(request)
        for attempt in range(self.retries + 1):
            if attempt:
                self.retransmissions += 1
            self.send_raw(data)
            reply = self.wait_for_reply(seq)
            if reply is None:
                continue
            if isinstance(reply, ErrorReply):
                raise DeviceRefused(reply.reason, reply.message)
            return reply
        raise LinkTimeout(
            f"no reply from {self.channel.description} to {type(request).__name__} "
            f"after {self.retries + 1} attempts of {self.timeout_s:g} s"
        )

    def open_session(self, role: Role, key: Key, serial_number: str) -> SessionOpened:
        """Challenge, proof, and the pump's proof back: then every request is signed."""
        challenge = self.transact(self.connection.begin_session(role, key, serial_number))
        if not isinstance(challenge, SessionChallenge):
            raise UnexpectedReply(f"session open answered with {type(challenge).__name__}")
        opened = self.transact(self.connection.answer_challenge(challenge))
        if not isinstance(opened, SessionOpened) or self.connection.session_role is None:
            raise UnexpectedReply("the pump did not confirm the session")
        return opened

    def close_session(self) -> None:
        if self.connection.session_role is not None:
            try:
                self.transact(SessionClose())
            finally:
                self.connection.forget_session()

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are: for tests that need to send what no programmer would.

        Replies nobody claimed before a new send are stale (the link is half duplex).
        """
        self._unclaimed.clear()
        if self.trace is not None:
            self.trace("tx", data)
        try:
            self.channel.write(data)
        except OSError as exc:
            raise PortError(f"port {self.channel.description} failed: {exc}") from exc

    def wait_for_reply(self, seq: int, timeout_s: float | None = None) -> Message | None:
        """The reply numbered ``seq`` (0: a reply to an unreadable frame), or None in time."""
        if seq in self._unclaimed:
            return self._unclaimed.pop(seq)
        deadline = time.monotonic() + (self.timeout_s if timeout_s is None else timeout_s)
        while time.monotonic() < deadline:
            for reply in self._poll():
                self._unclaimed[reply.seq] = reply.message
            if seq in self._unclaimed:
                return self._unclaimed.pop(seq)
            while len(self._unclaimed) > MAX_UNCLAIMED:
                del self._unclaimed[next(iter(self._unclaimed))]
        return None

    def _poll(self) -> list[ReplyReceived]:
        try:
            data = self.channel.read_some()
        except OSError as exc:
            raise PortError(f"port {self.channel.description} failed: {exc}") from exc
        if not data:
            return []
        if self.trace is not None:
            self.trace("rx", data)
        self.connection.receive_data(data)
        replies: list[ReplyReceived] = []
        for event in self.connection.events():
            if isinstance(event, ReplyReceived):
                replies.append(event)
            elif isinstance(event, NotificationReceived):
                self.notifications.append(event)
            else:
                self.dropped.append(event)
        return replies
