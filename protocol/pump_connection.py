"""The pump's end of the link, sans-IO: frames in, events out, bytes to send queued.

The connection answers everything that is about the link itself (bad frames, sessions,
authentication, replays, retransmissions, roles) and hands the application only requests it
may execute, each exactly once. ``data_to_send()`` collects what to write.

At-most-once: the pump remembers, per session (and once outside sessions), the last request
frame it answered and the exact reply bytes. The same frame again, counter included, is a
retransmission: the cached reply goes out again and the request is not executed twice. Any
other frame whose counter is not above the last accepted one is a replay, and refused.
"""

from __future__ import annotations

import secrets
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from protocol.auth import (
    NONCE_LEN,
    Key,
    Role,
    SessionTagger,
    programmer_proof,
    proofs_equal,
    pump_proof,
    session_tagger,
)
from protocol.events import (
    PumpEvent,
    Refused,
    RequestReceived,
    Retransmitted,
    SessionEnded,
    SessionStarted,
)
from protocol.frame import (
    AUTH,
    NO_SEQ,
    NOTIFICATION,
    PROTOCOL_VERSION,
    REPLY,
    Frame,
    FrameDecoder,
    FrameError,
    frame_body,
    seal,
    signed_frame,
)
from protocol.lockout import AttemptGuard
from protocol.messages import (
    ErrorReply,
    Hello,
    Kind,
    Message,
    MessageError,
    MessageType,
    SessionAuth,
    SessionChallenge,
    SessionClose,
    SessionClosed,
    SessionOpen,
    SessionOpened,
    decode_message,
    encode_payload,
)
from protocol.reasons import Reason
from protocol.roles import UNAUTHENTICATED, permitted

DEFAULT_IDLE_TIMEOUT_US = 10 * 60 * 1_000_000  # [M] a programming visit's pauses
_REPLY_AUTH = REPLY | AUTH
_NOTIFY_AUTH = NOTIFICATION | AUTH


@dataclass(slots=True)
class _Session:
    session_id: int
    role: Role
    tagger: SessionTagger = field(repr=False)
    rx_counter: int = 0
    tx_counter: int = 0
    last_active_us: int = 0
    answered: bytes = b""  # signed bytes and tag of the last request answered
    answer: bytes = b""


@dataclass(slots=True)
class _Pending:
    session_id: int
    role: Role
    programmer_nonce: bytes
    pump_nonce: bytes


class PumpConnection:
    def __init__(
        self,
        serial_number: str,
        keys: Mapping[Role, Key],
        *,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        idle_timeout_us: int = DEFAULT_IDLE_TIMEOUT_US,
        guard: AttemptGuard | None = None,
    ) -> None:
        self.serial_number = serial_number
        self._keys = dict(keys)
        self._random = random_bytes
        self.idle_timeout_us = idle_timeout_us
        self.guard = guard or AttemptGuard()
        self._decoder = FrameDecoder()
        self._events: deque[PumpEvent] = deque()
        self._out = bytearray()
        self._now_us = 0
        self._session: _Session | None = None
        self._pending: _Pending | None = None
        self._plain_answered = b""  # last request answered outside a session, and its reply
        self._plain_answer = b""

    # -- the application's calls ---------------------------------------------------------

    @property
    def session_role(self) -> Role | None:
        return None if self._session is None else self._session.role

    def receive_data(self, data: bytes | bytearray, now_us: int) -> None:
        self._now_us = now_us
        self._expire_idle(now_us)
        for item in self._decoder.feed(data):
            self._handle(item)

    def events(self) -> Iterator[PumpEvent]:
        while self._events:
            yield self._events.popleft()

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def reply(self, request: RequestReceived, message: Message) -> None:
        self._answer(request.frame, request.session_id, message)

    def refuse(self, request: RequestReceived, reason: Reason, detail: str = "") -> None:
        self._answer(
            request.frame,
            request.session_id,
            ErrorReply(reason, request.frame.msg_type, detail or reason.describe),
        )

    def notify(self, message: Message) -> bool:
        """Queue an unsolicited message to the open session; False when there is none."""
        session = self._session
        if session is None:
            return False
        self._out += self._sealed(_NOTIFY_AUTH, NO_SEQ, message, session)
        return True

    def negotiate(self, hello: Hello) -> int | None:
        """The version both ends speak, or None."""
        if hello.min_version <= PROTOCOL_VERSION <= hello.max_version:
            return PROTOCOL_VERSION
        return None

    # -- frames ----------------------------------------------------------------------------

    def _handle(self, item: Frame | FrameError) -> None:
        if isinstance(item, FrameError):
            if item.reason is Reason.UNKNOWN_FLAGS:  # a later version's frame: drop silently
                self._events.append(Refused(item.reason, item.detail, item.msg_type, False))
                return
            self._refuse_plain(item.seq, item.msg_type, item.reason, item.detail)
            return
        if not item.is_request:
            self._events.append(
                Refused(Reason.WRONG_DIRECTION, "reply or notification", item.msg_type, False)
            )
            return
        if item.seq == NO_SEQ:
            self._refuse_plain(NO_SEQ, item.msg_type, Reason.BAD_PAYLOAD, "sequence 0 is reserved")
            return
        if item.flags & AUTH:
            self._handle_authenticated(item)
        else:
            self._handle_plain(item)

    def _handle_authenticated(self, frame: Frame) -> None:
        session = self._session
        if session is None or frame.session_id != session.session_id:
            self._refuse_plain(
                frame.seq, frame.msg_type, Reason.UNKNOWN_SESSION, f"session {frame.session_id:08x}"
            )
            return
        if not session.tagger.verify(frame.signed, frame.tag):
            self._refuse_plain(frame.seq, frame.msg_type, Reason.BAD_TAG, "tag does not match")
            return
        if frame.counter <= session.rx_counter:
            if frame.signed + frame.tag == session.answered:
                self._out += session.answer
                self._events.append(Retransmitted(frame.seq))
                return
            self._refuse_session(
                frame,
                session,
                Reason.REPLAYED,
                f"counter {frame.counter}, last accepted {session.rx_counter}",
            )
            return
        session.rx_counter = frame.counter
        session.last_active_us = self._now_us
        try:
            message = decode_message(frame)
        except MessageError as exc:
            self._refuse_session(frame, session, exc.reason, exc.detail)
            return
        msg_type = frame.msg_type
        if msg_type in UNAUTHENTICATED:
            self._refuse_session(frame, session, Reason.WRONG_STATE, "send this outside a session")
            return
        if not permitted(session.role, msg_type):
            self._refuse_session(
                frame,
                session,
                Reason.FORBIDDEN,
                f"{session.role.label} may not send {MessageType(msg_type).name}",
            )
            return
        if isinstance(message, SessionClose):
            self._answer(frame, session.session_id, SessionClosed())
            self._end_session("closed")
            return
        self._events.append(
            RequestReceived(frame.seq, message, session.role, frame, session.session_id)
        )

    def _handle_plain(self, frame: Frame) -> None:
        if frame.signed and frame.signed == self._plain_answered:
            self._out += self._plain_answer
            self._events.append(Retransmitted(frame.seq))
            return
        try:
            message = decode_message(frame)
        except MessageError as exc:
            self._refuse_plain(frame.seq, frame.msg_type, exc.reason, exc.detail, frame)
            return
        if isinstance(message, Hello):
            self._events.append(RequestReceived(frame.seq, message, None, frame))
        elif isinstance(message, SessionOpen):
            self._open(frame, message)
        elif isinstance(message, SessionAuth):
            self._authenticate(frame, message)
        else:
            self._refuse_plain(
                frame.seq,
                frame.msg_type,
                Reason.NOT_AUTHENTICATED,
                f"{MessageType(frame.msg_type).name} needs a session",
                frame,
            )

    # -- sessions --------------------------------------------------------------------------

    def _open(self, frame: Frame, message: SessionOpen) -> None:
        refusal = self.guard.check(self._now_us)
        if refusal is not None:
            self._refuse_plain(frame.seq, frame.msg_type, *refusal, frame)
            return
        try:
            role = Role(message.role)
        except ValueError:
            self._refuse_plain(
                frame.seq, frame.msg_type, Reason.VALUE_OUT_OF_RANGE, f"role {message.role}", frame
            )
            return
        if role not in self._keys:
            self.guard.failed(self._now_us)
            self._refuse_plain(
                frame.seq, frame.msg_type, Reason.NO_KEY, f"no key for {role.label}", frame
            )
            return
        session_id = int.from_bytes(self._random(4), "big") or 1
        self._pending = _Pending(
            session_id, role, message.programmer_nonce, self._random(NONCE_LEN)
        )
        self._answer(frame, 0, SessionChallenge(session_id, self._pending.pump_nonce))

    def _authenticate(self, frame: Frame, message: SessionAuth) -> None:
        refusal = self.guard.check(self._now_us)
        if refusal is not None:
            self._refuse_plain(frame.seq, frame.msg_type, *refusal, frame)
            return
        pending = self._pending
        self._pending = None  # one proof per challenge
        if pending is None or pending.session_id != message.session_id:
            self._fail_attempt(frame, "no challenge outstanding for that session")
            return
        key = self._keys[pending.role]
        context = (
            self.serial_number,
            pending.role,
            pending.session_id,
            pending.programmer_nonce,
            pending.pump_nonce,
        )
        if not proofs_equal(programmer_proof(key, *context), message.proof):
            self._fail_attempt(frame, f"wrong proof for {pending.role.label}")
            return
        self.guard.succeeded()
        if self._session is not None:
            self._end_session("replaced")
        session = _Session(
            pending.session_id, pending.role, session_tagger(key, *context), 0, 0, self._now_us
        )
        self._session = session
        self._events.append(SessionStarted(session.session_id, session.role))
        opened = SessionOpened(
            pump_proof(key, *context), int(pending.role), self.idle_timeout_us // 1_000_000
        )
        data = self._sealed(_REPLY_AUTH, frame.seq, opened, session)
        self._plain_answered = frame.signed  # a lost reply: the retransmitted proof gets this
        self._plain_answer = data
        self._out += data

    def _fail_attempt(self, frame: Frame, detail: str) -> None:
        locked = self.guard.failed(self._now_us)
        reason = Reason.AUTH_FAILED
        if locked:
            detail += "; session opening now locked out"
        self._refuse_plain(frame.seq, frame.msg_type, reason, detail, frame)

    def _end_session(self, why: str) -> None:
        session = self._session
        if session is not None:
            self._session = None
            self._events.append(SessionEnded(session.session_id, session.role, why))

    def _expire_idle(self, now_us: int) -> None:
        session = self._session
        if session is not None and now_us - session.last_active_us > self.idle_timeout_us:
            self._end_session("idle")

    # -- replies ---------------------------------------------------------------------------

    def _answer(
        self, frame: Frame, session_id: int, message: Message, remember: bool = True
    ) -> None:
        """Reply, and remember the reply for a retransmission, unless told not to."""
        session = self._session
        if session_id and session is not None and session.session_id == session_id:
            data = self._sealed(_REPLY_AUTH, frame.seq, message, session)
            if remember:
                session.answered = frame.signed + frame.tag
                session.answer = data
        else:
            data = seal(
                frame_body(Kind.REPLY.flags, frame.seq, int(message.TYPE), encode_payload(message))
            )
            self._plain_answered = frame.signed
            self._plain_answer = data
        self._out += data

    def _sealed(self, flags: int, seq: int, message: Message, session: _Session) -> bytes:
        session.tx_counter += 1
        return signed_frame(
            flags,
            seq,
            message.TYPE,
            encode_payload(message),
            session.session_id,
            session.tx_counter,
            session.tagger.tag,
        )

    def _refuse_session(self, frame: Frame, session: _Session, reason: Reason, detail: str) -> None:
        # A replay is not an exchange of this session: it must not displace the cached reply
        # that a genuine retransmission of the last request is owed.
        remember = reason is not Reason.REPLAYED
        error = ErrorReply(reason, frame.msg_type, detail)
        self._answer(frame, session.session_id, error, remember)
        self._events.append(Refused(reason, detail, frame.msg_type))

    def _refuse_plain(
        self,
        seq: int,
        msg_type: int,
        reason: Reason,
        detail: str,
        frame: Frame | None = None,
    ) -> None:
        error = ErrorReply(reason, msg_type, detail)
        data = seal(frame_body(Kind.REPLY.flags, seq, int(error.TYPE), encode_payload(error)))
        if frame is not None:
            self._plain_answered = frame.signed
            self._plain_answer = data
        self._out += data
        self._events.append(Refused(reason, detail, msg_type))
