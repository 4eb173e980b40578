"""One request, one reply, over any port: numbering, signing, retransmission and matching,
and for a changing request, an outcome that is never a guess.

A reply is matched to its request by sequence number. Inside a session only a signed reply
is an answer: an unsigned frame is at most a hint (an unsigned BAD_CRC: retransmit at once;
an unsigned UNKNOWN_SESSION: the session is gone, find out what became of the request). A
retransmission is the very same bytes; the pump answers it from its cache, so nothing runs
twice.

A changing request (``protocol.CHANGING``) ends in exactly one of: done (a signed reply),
not done (a signed refusal, or the pump's signed word that it never ran), or
``OutcomeUnknown``. The link retransmits for up to ``budget_s``; then it opens a new session
(which ends the old one, so the request can no longer arrive and run) and asks the pump with
GET_OUTCOME what became of it. Only if even that fails is the outcome unknown.

Time is injected (``clock``, ``sleep``), so all of this runs deterministically against a
simulated line in tests.
"""

from __future__ import annotations

import contextlib
import random
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from types import TracebackType

from programmer.errors import (
    DeviceRefused,
    LinkError,
    LinkTimeout,
    NotExecuted,
    OutcomeUnknown,
    PortError,
    ProgrammerError,
    UnexpectedReply,
)
from protocol import (
    ErrorReply,
    FrameDropped,
    GetOutcome,
    Key,
    Message,
    MessageError,
    NotificationReceived,
    OutcomeReply,
    OutcomeStatus,
    Outgoing,
    ProgrammerConnection,
    Reason,
    ReplyReceived,
    Role,
    SessionChallenge,
    SessionClose,
    SessionOpened,
)
from protocol.messages import decode_attached_reply
from transport import (
    DEFAULT_BAUDRATE,
    POLL_INTERVAL_S,
    ByteChannel,
    PortOpenError,
    open_port,
)

Trace = Callable[[str, bytes], None]  # ("tx" or "rx", bytes): a record of the link, for logs
Notice = Callable[[str], None]  # what the link tells its user while it works (waits, retries)

DEFAULT_TIMEOUT_S = 1.0
DEFAULT_RETRIES = 2
DEFAULT_BUDGET_S = 10.0
MAX_RATE_LIMIT_WAIT_S = 60.0  # a RATE_LIMITED refusal is unsigned: never wait longer on it
MAX_UNCLAIMED = 64
HANDSHAKE_TRIES = 4
RESENDS_PER_ATTEMPT = 32  # immediate retransmissions for unsigned frame-level refusals
MAX_BURST_FRAMES = 255  # the most frames one request's burst may have (a u8 page count)
# Frame-level refusals: the pump could not read what it got, most likely our request.
_RESEND_AT_ONCE = frozenset(
    {
        Reason.BAD_CRC,
        Reason.BAD_FRAMING,
        Reason.FRAME_TOO_SHORT,
        Reason.FRAME_TOO_LONG,
        Reason.BAD_LENGTH,
    }
)
_SESSION_GONE = frozenset({Reason.UNKNOWN_SESSION, Reason.NOT_AUTHENTICATED})
_WAIT_S = re.compile(r"\s*(\d+) s\b")


class SessionLost(LinkError):
    """The pump no longer has our session (closed, expired, or replaced by another
    programmer's): raised instead of reopening it when ``Link.reopen_lost_session`` is off."""


class _Result(Enum):
    REPLY = "reply"
    TIMEOUT = "timeout"
    RESEND = "resend"  # an unsigned frame-level refusal: retransmit now
    SESSION_LOST = "session lost"  # an unsigned UNKNOWN_SESSION for our request


@dataclass(frozen=True, slots=True)
class _Credentials:
    role: Role
    key: Key = field(repr=False)
    serial_number: str
    operator: str


class Link:
    def __init__(
        self,
        channel: ByteChannel,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        budget_s: float = DEFAULT_BUDGET_S,
        first_seq: int | None = None,
        trace: Trace | None = None,
        notice: Notice | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        reopen: Callable[[], ByteChannel] | None = None,
        on_changing_request: Callable[[Outgoing], None] | None = None,
    ) -> None:
        self.channel = channel
        self.trace = trace
        self.notice = notice
        self.timeout_s = timeout_s
        self.retries = retries
        self.budget_s = budget_s
        self._clock = clock
        self._sleep = sleep
        self._reopen = reopen
        self.on_changing_request = on_changing_request  # each one sent, by its name
        # A fresh random start keeps our numbers apart from an earlier programmer's.
        first = first_seq or random.Random(random_bytes(8)).randint(1, 0xFFFF)
        self.connection = ProgrammerConnection(first, random_bytes)
        self.notifications: list[NotificationReceived] = []
        self._unclaimed: dict[int, Message] = {}  # replies read while waiting for another
        self.dropped: list[FrameDropped] = []
        self.hints: list[ErrorReply] = []  # unsigned refusals seen inside a session, not believed
        self.retransmissions = 0
        self.reconnections = 0
        self._credentials: _Credentials | None = None
        self._reply: Message | None = None
        # Off for a watcher: a session another programmer took over is theirs (SessionLost).
        self.reopen_lost_session = True

    @classmethod
    def open(
        cls,
        url: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        budget_s: float = DEFAULT_BUDGET_S,
        trace: Trace | None = None,
        notice: Notice | None = None,
    ) -> Link:
        def connect() -> ByteChannel:
            try:
                return open_port(url, baudrate=baudrate)
            except PortOpenError as exc:
                raise PortError(str(exc)) from exc

        return cls(
            connect(),
            timeout_s=timeout_s,
            retries=retries,
            budget_s=budget_s,
            trace=trace,
            notice=notice,
            reopen=connect,
        )

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

    @property
    def in_session(self) -> bool:
        return self.connection.session_role is not None

    # -- requests that change nothing ------------------------------------------------------

    def transact(self, request: Message) -> Message:
        """Send a request and return its reply; raise DeviceRefused for an error reply.

        Up to ``retries`` retransmissions of ``timeout_s`` each. Inside a session only a
        signed reply counts; a lost session is reopened once (the request changes nothing,
        so sending it again in the new session is safe).
        """
        outgoing = self.connection.prepare(request)
        reopened = False
        attempt = resent = 0
        attempt_end = self._clock() + self.timeout_s
        while True:
            self.send_raw(outgoing.data)
            result = self._await(outgoing.seq, attempt_end)
            if result is _Result.REPLY:
                reply, self._reply = self._reply, None  # ``_answer``, inline: the hot path
                if isinstance(reply, ErrorReply):
                    raise DeviceRefused(reply.reason, reply.message)
                assert reply is not None
                return reply
            if (
                result is _Result.RESEND
                and resent < RESENDS_PER_ATTEMPT
                and self._clock() < attempt_end
            ):
                # An unsigned frame-level refusal (noise on the line answered, perhaps ours):
                # sent again at once, within the same attempt: a burst of them must not use
                # up the retries before the pump has had time to answer.
                resent += 1
                self.retransmissions += 1
                continue
            if result is _Result.SESSION_LOST and not self.reopen_lost_session:
                raise self._session_ended()
            if result is _Result.SESSION_LOST and not reopened and self._credentials:
                reopened = True
                self._reopen_session(self._clock() + self.budget_s)
                outgoing = self.connection.prepare(request)
                attempt_end = self._clock() + self.timeout_s
                continue
            attempt += 1
            if attempt > self.retries:
                raise self._no_reply(request, self.retries)
            self.retransmissions += 1
            attempt_end = self._clock() + self.timeout_s
            resent = 0

    def transact_burst(
        self,
        request: Message,
        complete: Callable[[list[Message]], bool],
        *,
        retries: int | None = None,
    ) -> list[Message]:
        """Send a request the pump answers with several signed frames of its seq (a burst:
        READ_LOG_PAGES) and return them in arrival order: as soon as ``complete`` says the
        burst is whole, else when ``timeout_s`` passes with no new frame of it. A burst
        that lost frames is returned as it came; the caller asks again for what it lacks.

        Nothing at all in time: retransmitted (the pump sends its cached burst again) as
        ``transact`` retransmits, ``retries`` times (default: the link's). A signed refusal
        raises DeviceRefused.
        """
        retries = self.retries if retries is None else retries
        outgoing = self.connection.prepare(request)
        reopened = False
        attempt = resent = 0
        while True:
            replies: list[Message] = []
            self.send_raw(outgoing.data)
            result = self._await_burst(outgoing.seq, replies, complete)
            for reply in replies:
                if isinstance(reply, ErrorReply):
                    raise DeviceRefused(reply.reason, reply.message)
            if replies:
                return replies
            if result is _Result.RESEND and resent < RESENDS_PER_ATTEMPT:
                resent += 1
                self.retransmissions += 1
                continue
            if result is _Result.SESSION_LOST and not self.reopen_lost_session:
                raise self._session_ended()
            if result is _Result.SESSION_LOST and not reopened and self._credentials:
                reopened = True
                self._reopen_session(self._clock() + self.budget_s)
                outgoing = self.connection.prepare(request)
                continue
            attempt += 1
            if attempt > retries:
                raise self._no_reply(request, retries)
            self.retransmissions += 1
            resent = 0

    def _session_ended(self) -> SessionLost:
        """The pump ended our session and we may not reopen it: forget it and say so."""
        self.connection.forget_session()
        return SessionLost(
            f"the pump ended the session of {self.channel.description}: another "
            "programmer opened one, or it was closed or expired"
        )

    def _no_reply(self, request: Message, retries: int) -> LinkTimeout:
        return LinkTimeout(
            f"no reply from {self.channel.description} to {type(request).__name__} "
            f"after {retries + 1} attempts of {self.timeout_s:g} s"
        )

    # -- requests that change the pump -----------------------------------------------------

    def transact_changing(
        self, request: Message, *, resend_if_not_received: bool = True
    ) -> Message:
        """Done (the reply), not done (DeviceRefused, NotExecuted) or OutcomeUnknown."""
        if not self.in_session:
            return self.transact(request)  # the pump refuses it unsigned: nothing ran
        name = type(request).__name__
        outgoing = self.connection.prepare(request)
        if self.on_changing_request is not None:
            self.on_changing_request(outgoing)
        budget_end = self._clock() + self.budget_s
        while True:
            try:
                self.send_raw(outgoing.data)
                now = self._clock()
                result = self._await(outgoing.seq, min(now + self.timeout_s, max(now, budget_end)))
            except PortError as exc:
                self._say(f"port failed while sending {name}: {exc}; reconnecting")
                if not self._recover_port(budget_end):
                    break
                continue
            if result is _Result.REPLY:
                return self._answer()
            if result is _Result.SESSION_LOST or self._clock() >= budget_end:
                break
            self.retransmissions += 1
        outcome = self._resolve(name, outgoing)
        if outcome is not None:
            return outcome
        if not resend_if_not_received:
            raise NotExecuted(
                f"not done: the pump never received {name} before its session ended; "
                "nothing changed, and it is safe to send again"
            )
        self._say(f"the pump never received {name}: sending it again in the new session")
        return self.transact_changing(request, resend_if_not_received=False)

    def _resolve(self, name: str, outgoing: Outgoing) -> Message | None:
        """What became of a request whose reply never came: the reply, a refusal raised,
        or None when the pump never ran it (and, its session ended, never will)."""
        self._say(f"no verified reply to {name}: reopening the session to ask what became of it")
        deadline = self._clock() + self.budget_s
        query = GetOutcome(outgoing.session_id, outgoing.counter, outgoing.tag)
        try:
            try:
                self._reopen_session(deadline)
            except PortError:
                if not self._recover_port(deadline):
                    raise
                self._reopen_session(deadline)
            answer = self.transact(query)
        except ProgrammerError as exc:
            raise OutcomeUnknown(name, f"could not ask the pump: {exc}") from exc
        if not isinstance(answer, OutcomeReply):
            raise OutcomeUnknown(name, f"GET_OUTCOME answered with {type(answer).__name__}")
        if answer.status is OutcomeStatus.NOT_RECEIVED:
            return None
        if answer.status is OutcomeStatus.UNKNOWN:
            raise OutcomeUnknown(name, "the pump no longer remembers that request")
        try:
            reply = decode_attached_reply(answer.reply_type, answer.reply)
        except MessageError as exc:
            raise OutcomeUnknown(name, f"the remembered reply does not decode: {exc}") from exc
        if isinstance(reply, ErrorReply):
            raise DeviceRefused(reply.reason, reply.message)
        if answer.request_type != outgoing.msg_type:
            raise OutcomeUnknown(name, "the pump remembers another request under that name")
        self._say(f"{name} had been executed; its reply was lost")
        return reply

    # -- sessions ------------------------------------------------------------------------

    def open_session(
        self, role: Role, key: Key, serial_number: str, operator: str
    ) -> SessionOpened:
        """Challenge, proof, and the pump's proof back: then every request is signed.

        Waits out RATE_LIMITED (at most 60 s in all, since the refusal is unsigned) and
        starts again when the pump no longer holds our challenge.
        """
        self._credentials = _Credentials(role, key, serial_number, operator)
        waited_s = 0.0
        tries = 0
        while True:
            tries += 1
            try:
                return self._handshake(role, key, serial_number, operator)
            except DeviceRefused as refusal:
                if refusal.reason is Reason.RATE_LIMITED:
                    left_s = MAX_RATE_LIMIT_WAIT_S - waited_s
                    if left_s <= 0:
                        raise
                    wait_s = min(_wait_of(refusal.message), left_s)
                    self._say(f"the pump limits key verifications: waiting {wait_s:g} s")
                    self._sleep(wait_s)
                    waited_s += wait_s
                    continue
                if refusal.reason is Reason.UNKNOWN_CHALLENGE and tries < HANDSHAKE_TRIES:
                    continue  # another party's SESSION_OPENs evicted ours: ask again
                raise

    def _handshake(self, role: Role, key: Key, serial_number: str, operator: str) -> SessionOpened:
        self.connection.forget_session()
        challenge = self.transact(self.connection.begin_session(role, key, serial_number, operator))
        if not isinstance(challenge, SessionChallenge):
            raise UnexpectedReply(f"session open answered with {type(challenge).__name__}")
        opened = self.transact(self.connection.answer_challenge(challenge))
        if not isinstance(opened, SessionOpened) or self.connection.session_role is None:
            raise UnexpectedReply("the pump did not confirm the session")
        return opened

    def _reopen_session(self, deadline: float) -> None:
        credentials = self._credentials
        if credentials is None:
            raise UnexpectedReply("no session to reopen")
        self.reconnections += 1
        last: ProgrammerError | None = None
        while True:
            try:
                self.open_session(
                    credentials.role,
                    credentials.key,
                    credentials.serial_number,
                    credentials.operator,
                )
                return
            except LinkTimeout as exc:
                last = exc
            if self._clock() >= deadline:
                raise last

    def close_session(self) -> None:
        if self.in_session:
            try:
                self.transact(SessionClose())
            finally:
                self.connection.forget_session()

    # -- between requests ----------------------------------------------------------------

    def listen(self, timeout_s: float) -> list[NotificationReceived]:
        """What the pump sent unasked (signed alarm notifications), returned as soon as any
        has arrived (or a frame was dropped: see ``dropped``), or when ``timeout_s`` is up:
        a watcher waits here between requests."""
        deadline = self._clock() + timeout_s
        dropped = len(self.dropped)
        while not self.notifications and len(self.dropped) == dropped:
            left = deadline - self._clock()
            if left <= 0:
                break
            self._poll(left)  # replies read here answer nothing outstanding: stale
        arrived = list(self.notifications)
        self.notifications.clear()
        return arrived

    def reconnect_port(self) -> None:
        """Close the port and open it again, trying for up to ``budget_s``: reads resume
        after a dongle was pulled and put back. PortError when it stays gone."""
        if not self._recover_port(self._clock() + self.budget_s):
            raise PortError(f"port {self.channel.description} could not be opened again")

    # -- bytes ---------------------------------------------------------------------------

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
        """The reply numbered ``seq`` (0: a reply to an unreadable frame), signed or not, or
        None in time: for tests that look at exactly what came back."""
        if seq in self._unclaimed:
            return self._unclaimed.pop(seq)
        deadline = self._clock() + (self.timeout_s if timeout_s is None else timeout_s)
        while True:
            left = deadline - self._clock()
            if left <= 0:
                return None
            for reply in self._poll(left):
                self._unclaimed[reply.seq] = reply.message
            if seq in self._unclaimed:
                return self._unclaimed.pop(seq)
            while len(self._unclaimed) > MAX_UNCLAIMED:
                del self._unclaimed[next(iter(self._unclaimed))]

    def _await(self, seq: int, deadline: float) -> _Result:
        """Wait until ``deadline`` (the link's clock) for the answer to request ``seq``; the
        reply itself is left in ``_reply``."""
        in_session = self.connection.session_role is not None
        clock = self._clock
        while True:
            left = deadline - clock()
            if left <= 0:
                return _Result.TIMEOUT
            resend = lost = False
            for event in self._poll(left):
                message = event.message
                if event.seq == seq and (event.authenticated or not in_session):
                    self._reply = message
                    return _Result.REPLY
                if event.authenticated or not isinstance(message, ErrorReply):
                    continue  # a stale signed reply, or an unsigned non-error: not ours
                if in_session:
                    self.hints.append(message)
                if event.seq == seq and message.reason in _SESSION_GONE:
                    lost = True
                elif event.seq == 0 and message.reason in _RESEND_AT_ONCE:
                    resend = True
            if lost:
                return _Result.SESSION_LOST
            if resend:
                return _Result.RESEND

    def _await_burst(
        self, seq: int, replies: list[Message], complete: Callable[[list[Message]], bool]
    ) -> _Result:
        """As ``_await``, taking every reply numbered ``seq`` into ``replies``; the wait ends
        ``timeout_s`` after the request or after the latest frame of the burst, spoilt ones
        included (a long burst on a slow line takes longer than one timeout), at most
        ``timeout_s`` a frame of the largest burst; or when ``complete`` says so."""
        now = self._clock()
        deadline = now + self.timeout_s
        hard_deadline = now + self.timeout_s * (MAX_BURST_FRAMES + 1)
        in_session = self.in_session
        while True:
            left = deadline - self._clock()
            if left <= 0:
                return _Result.TIMEOUT
            resend = lost = False
            taken, spoilt = len(replies), len(self.dropped)
            for event in self._poll(left):
                message = event.message
                if event.seq == seq and (event.authenticated or not in_session):
                    replies.append(message)
                    continue
                if event.authenticated or not isinstance(message, ErrorReply):
                    continue
                if in_session:
                    self.hints.append(message)
                if event.seq == seq and message.reason in _SESSION_GONE:
                    lost = True
                elif event.seq == 0 and message.reason in _RESEND_AT_ONCE:
                    resend = True
            if len(replies) > taken and (
                complete(replies) or any(isinstance(r, ErrorReply) for r in replies)
            ):
                return _Result.REPLY
            if len(replies) > taken or len(self.dropped) > spoilt:  # the burst goes on
                deadline = min(self._clock() + self.timeout_s, hard_deadline)
            if replies:
                continue  # hints during a burst that has begun: the pump has our request
            if lost:
                return _Result.SESSION_LOST
            if resend:
                return _Result.RESEND

    def _answer(self) -> Message:
        reply = self._reply
        self._reply = None
        assert reply is not None
        if isinstance(reply, ErrorReply):
            raise DeviceRefused(reply.reason, reply.message)
        return reply

    def _poll(self, left_s: float) -> list[ReplyReceived]:
        try:
            data = self.channel.read_some(min(POLL_INTERVAL_S, left_s))
        except OSError as exc:
            raise PortError(f"port {self.channel.description} failed: {exc}") from exc
        if not data:
            return []
        if self.trace is not None:
            self.trace("rx", data)
        events = self.connection.receive_events(data)
        if len(events) == 1 and type(events[0]) is ReplyReceived:
            return events  # type: ignore[return-value]  # one reply: the common case
        replies: list[ReplyReceived] = []
        for event in events:
            if isinstance(event, ReplyReceived):
                replies.append(event)
            elif isinstance(event, NotificationReceived):
                self.notifications.append(event)
            else:
                self.dropped.append(event)
        return replies

    def _recover_port(self, deadline: float) -> bool:
        """Open the port again (a dongle pulled and put back); False when it stays gone."""
        if self._reopen is None:
            return False
        while self._clock() < deadline:
            with contextlib.suppress(OSError):
                self.channel.close()
            try:
                self.channel = self._reopen()
                return True
            except PortError:
                self._sleep(min(0.5, self._left(deadline)))
        return False

    def _left(self, deadline: float) -> float:
        return max(0.0, deadline - self._clock())

    def _say(self, text: str) -> None:
        if self.notice is not None:
            self.notice(text)


def _wait_of(message: str) -> float:
    """RATE_LIMITED messages begin with the whole seconds to wait (docs/protocol.md §4)."""
    match = _WAIT_S.match(message)
    return float(match.group(1)) if match else 1.0
