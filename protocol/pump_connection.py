"""The pump's end of the link, sans-IO: frames in, events out, bytes to send queued.

The connection answers everything that is about the link itself (bad frames, versions,
sessions, authentication, replays, retransmissions, roles, outcomes of earlier requests) and
hands the application only requests it may execute, each exactly once, one at a time: the
frames after a request are looked at only once the application has answered it, so a reply
is always signed by the session its request came in (docs/protocol.md, section 5).

At-most-once: the pump keeps the last ``WINDOW`` requests of the session with the exact
bytes of their replies. A byte-identical copy of any of them is a retransmission: the cached
reply goes out again (or, for a request accepted and not yet answered, its reply goes out
when it exists) and nothing runs twice. A copy of an older request is dropped without a
reply, for it may be a copy of one that ran: the pump never signs a refusal for a frame that
is byte-identical to a request it executed or is about to execute.
"""

from __future__ import annotations

import secrets
import struct
from binascii import crc_hqx
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from hmac import compare_digest

from protocol.auth import (
    NONCE_LEN,
    HashState,
    Key,
    Role,
    SessionContext,
    SessionTagger,
    programmer_proof,
    proofs_equal,
    pump_proof,
    session_tagger,
)
from protocol.crc import CRC_INIT
from protocol.events import (
    PumpEvent,
    Refused,
    RequestReceived,
    Retransmitted,
    SessionEnded,
    SessionStarted,
    StaleRequest,
)
from protocol.frame import (
    AUTH,
    DIRECTION_MASK,
    HELLO_VERSION,
    MAX_PAYLOAD_LEN,
    NO_SEQ,
    NOTIFICATION,
    PROTOCOL_VERSION,
    REPLY,
    SIGNED_HEADER,
    TAG_LEN,
    Frame,
    FrameDecoder,
    FrameError,
    frame_body,
    seal,
    signed_frame,
)
from protocol.messages import (
    MAX_OPERATOR_LEN,
    ErrorReply,
    GetOutcome,
    Hello,
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
from protocol.outcomes import OutcomeMemory
from protocol.reasons import Reason
from protocol.roles import CHANGING, PERMITTED, UNAUTHENTICATED
from protocol.stuffing import END, END_BYTE, ESC, ESC_BYTE, ESCAPED_END, ESCAPED_ESC
from protocol.verification_budget import US_PER_S, VerificationBudget

DEFAULT_IDLE_TIMEOUT_US = 10 * 60 * US_PER_S  # [M] a programming visit's pauses
WINDOW = 8  # K: copies of any of the session's last 8 requests are answered from the cache
MAX_CHALLENGES = 8  # N: outstanding challenges; a ninth SESSION_OPEN evicts the oldest
CHALLENGE_LIFETIME_US = 60 * US_PER_S  # a handshake takes milliseconds; a wait, at most 60 s
_REPLY_AUTH = REPLY | AUTH
_NOTIFY_AUTH = NOTIFICATION | AUTH
_PLAIN_REPLY = REPLY
_CRC = struct.Struct(">H").pack
_SIGNED_HEADER = SIGNED_HEADER.pack
_DELIMITED = END_BYTE + b"%b" + END_BYTE  # a frame between its delimiters


@dataclass(slots=True)
class _Request:
    """One of the session's last requests: its exact bytes, and its reply once given."""

    frame: bytes
    reply: bytes | None = None


@dataclass(slots=True)
class _Session:
    context: SessionContext
    tagger: SessionTagger = field(repr=False)
    last_active_us: int = 0
    rx_counter: int = 0
    tx_counter: int = 0
    recent: OrderedDict[int, _Request] = field(default_factory=OrderedDict)  # by counter
    forgotten_through: int = 0  # the highest counter that has left ``recent``
    opened_by: bytes = b""  # the SESSION_AUTH frame that opened it, and the reply it got
    opened_reply: bytes = b""
    session_id: int = field(init=False)  # the context's, kept at hand for every frame
    role: Role = field(init=False)
    tag: Callable[[bytes], bytes] = field(init=False, repr=False)
    keyed: tuple[HashState, HashState] = field(
        init=False, repr=False
    )  # the tagger's, for reply_payload

    def __post_init__(self) -> None:
        self.session_id = self.context.session_id
        self.role = self.context.role
        self.tag = self.tagger.tag
        self.keyed = self.tagger.keyed_states()


@dataclass(slots=True)
class _Challenge:
    context: SessionContext
    created_us: int
    open_frame: bytes  # the SESSION_OPEN it answers, so a retransmission gets it again
    reply: bytes


def request_id(session_id: int, counter: int) -> str:
    """A request's name in the pump's records: its session in hex and its counter in it, the
    pair GET_OUTCOME asks about (docs/protocol.md, section 10)."""
    return f"{session_id:08x}:{counter}"


class PumpConnection:
    def __init__(
        self,
        serial_number: str,
        keys: Mapping[Role, Key],
        *,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        idle_timeout_us: int = DEFAULT_IDLE_TIMEOUT_US,
        budget: VerificationBudget | None = None,
        outcomes: OutcomeMemory | None = None,
    ) -> None:
        self.serial_number = serial_number
        self._keys = dict(keys)
        self._random = random_bytes
        self.idle_timeout_us = idle_timeout_us
        self.budget = budget or VerificationBudget()
        self.outcomes = outcomes or OutcomeMemory()
        self._decoder = FrameDecoder()
        self._frames: deque[Frame | FrameError] = deque()
        self._events: deque[PumpEvent] = deque()
        self._unanswered: RequestReceived | None = None
        self._out: list[bytes] = []  # frames to send, in order
        self._now_us = 0
        self._session: _Session | None = None
        self._challenges: OrderedDict[int, _Challenge] = OrderedDict()

    # -- the application's calls ---------------------------------------------------------

    @property
    def session_role(self) -> Role | None:
        return None if self._session is None else self._session.role

    @property
    def session_id(self) -> int:
        return 0 if self._session is None else self._session.session_id

    @property
    def outstanding_challenges(self) -> int:
        return len(self._challenges)

    def receive_data(self, data: bytes | bytearray, now_us: int) -> None:
        """Take bytes from the link; ``events()`` then looks at them, one request at a time."""
        self._now_us = now_us
        session = self._session
        if session is not None and now_us - session.last_active_us > self.idle_timeout_us:
            self._end_session("idle")  # ``_expire_idle``, inline: this runs for every read
        self._frames.extend(self._decoder.feed(data))

    def events(self) -> Iterator[PumpEvent]:
        """What the link brought, in order. Answer each ``RequestReceived`` (``reply`` or
        ``refuse``) before asking for the next event: later frames wait until then."""
        while True:
            if self._events:
                yield self._events.popleft()
                continue
            if self._unanswered is not None:
                raise RuntimeError("answer the request before reading further events")
            if not self._frames:
                return
            self._handle(self._frames.popleft())

    def data_to_send(self) -> bytes:
        out = self._out
        if not out:
            return b""
        self._out = []
        return out[0] if len(out) == 1 else b"".join(out)

    def reply(self, request: RequestReceived, message: Message) -> None:
        self._answer(request.frame, request.session_id, message)

    def reply_payload(self, request: RequestReceived, msg_type: int, payload: bytes) -> None:
        """``reply`` with a reply already encoded (``msg_type`` and its payload): for the
        requests a programmer repeats most, answered with no message object in between, the
        frame built in one pass (``signed_frame``, its tag and its framing written out; a
        test holds the bytes to ``reply``'s). Not for a changing request (its outcome is
        remembered as a message's); ``ValueError``, and no counter spent, for a payload
        that is too long."""
        frame = request.frame
        if frame.msg_type in CHANGING:
            raise ValueError("a changing request is answered with reply()")
        length = len(payload)
        if length > MAX_PAYLOAD_LEN:
            raise ValueError(f"payload of {length} bytes exceeds {MAX_PAYLOAD_LEN}")
        session = self._session
        session_id = request.session_id
        unanswered = self._unanswered
        if unanswered is not None and unanswered.frame is frame:
            self._unanswered = None
        if not session_id or session is None or session.session_id != session_id:
            version = HELLO_VERSION if frame.version == HELLO_VERSION else PROTOCOL_VERSION
            body = frame_body(_PLAIN_REPLY, frame.seq, msg_type, payload, version=version)
            self._out.append(seal(body))
            return
        session.tx_counter = counter = session.tx_counter + 1
        header = _SIGNED_HEADER(
            PROTOCOL_VERSION, _REPLY_AUTH, frame.seq, msg_type, length, session_id, counter
        )
        signed = header + payload
        inner, outer = session.keyed  # SessionTagger.tag, written out
        inner = inner.copy()
        inner.update(signed)
        outer = outer.copy()
        outer.update(inner.digest())
        body = signed + outer.digest()[:TAG_LEN]
        body += _CRC(crc_hqx(body, CRC_INIT))
        if ESC in body or END in body:  # stuffing.stuff, written out
            body = body.replace(ESC_BYTE, ESCAPED_ESC).replace(END_BYTE, ESCAPED_END)
        data = _DELIMITED % body
        entry = session.recent.get(frame.counter)
        if entry is not None and entry.reply is None:
            entry.reply = data
        self._out.append(data)

    def reply_burst(self, request: RequestReceived, messages: Sequence[Message]) -> None:
        """Answer with several frames (READ_LOG_PAGES), each signed under its own counter,
        all with the request's seq. The whole burst is the cached reply: a copy of the
        request gets every frame again, byte for byte."""
        if not messages:
            raise ValueError("a burst has at least one frame")
        self._answer(request.frame, request.session_id, messages[0], messages[1:])

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
        self._out.append(self._sealed(_NOTIFY_AUTH, NO_SEQ, message, session))
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
        if item.flags & DIRECTION_MASK:  # a reply or notification
            self._events.append(
                Refused(Reason.WRONG_DIRECTION, "reply or notification", item.msg_type, False)
            )
            return
        if item.version != PROTOCOL_VERSION and not (
            item.msg_type == MessageType.HELLO and not item.flags & AUTH
        ):
            self._refuse_plain(
                item.seq,
                item.msg_type,
                Reason.UNSUPPORTED_VERSION,
                f"this pump speaks protocol version {PROTOCOL_VERSION}; "
                f"send HELLO in header version {HELLO_VERSION} to agree on one",
                item,
            )
            return
        if item.seq == NO_SEQ:
            self._refuse_plain(
                NO_SEQ, item.msg_type, Reason.BAD_PAYLOAD, "sequence 0 is reserved", item
            )
            return
        if item.flags & AUTH:
            self._handle_authenticated(item)
        else:
            self._handle_plain(item)

    def _handle_authenticated(self, frame: Frame) -> None:
        session = self._session
        if session is None or frame.session_id != session.session_id:
            self._refuse_plain(
                frame.seq,
                frame.msg_type,
                Reason.UNKNOWN_SESSION,
                f"no session {frame.session_id:08x}: open one",
                frame,
            )
            return
        if not compare_digest(session.tag(frame.signed), frame.tag):
            self._refuse_plain(
                frame.seq, frame.msg_type, Reason.BAD_TAG, "tag does not match", frame
            )
            return
        counter = frame.counter
        if counter <= session.rx_counter:
            self._old_counter(frame, session)
            return
        session.rx_counter = counter
        session.last_active_us = self._now_us
        session.recent[counter] = _Request(frame.signed + frame.tag)
        if len(session.recent) > WINDOW:
            forgotten, _ = session.recent.popitem(last=False)
            session.forgotten_through = forgotten
        self.outcomes.accepted(session.session_id, counter)
        try:
            message = decode_message(frame)
        except MessageError as exc:
            self._refuse_session(frame, session, exc.reason, exc.detail)
            return
        msg_type = frame.msg_type
        if msg_type in UNAUTHENTICATED:
            self._refuse_session(frame, session, Reason.WRONG_STATE, "send this outside a session")
            return
        if msg_type not in PERMITTED[session.role]:  # ``permitted``, inline
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
        if isinstance(message, GetOutcome):
            self._outcome(frame, session, message)
            return
        request = RequestReceived(
            frame.seq, message, session.role, frame, session.session_id, session.context.operator
        )
        self._unanswered = request
        self._events.append(request)

    def _old_counter(self, frame: Frame, session: _Session) -> None:
        """A counter at or below the last accepted: a retransmission, a stale copy, or not."""
        entry = session.recent.get(frame.counter)
        if entry is not None and entry.frame == frame.signed + frame.tag:
            if entry.reply is not None:
                self._out.append(entry.reply)
            self._events.append(Retransmitted(frame.seq, pending=entry.reply is None))
            return
        if entry is None and frame.counter <= session.forgotten_through:
            self._events.append(
                StaleRequest(
                    frame.seq,
                    frame.counter,
                    f"counter {frame.counter} older than the last {WINDOW} requests",
                )
            )
            return
        # Within the window but not a copy of what ran under that counter (or nothing ran
        # under it): a signed refusal is the truth, and it is not remembered.
        error = ErrorReply(
            Reason.REPLAYED,
            frame.msg_type,
            f"counter {frame.counter} is not a retransmission; last accepted "
            f"{session.rx_counter}: nothing was executed",
        )
        self._out.append(self._sealed(_REPLY_AUTH, frame.seq, error, session))
        # Anyone can replay a captured frame: a link record, throttled, never a clinical one.
        self._events.append(Refused(Reason.REPLAYED, error.message, frame.msg_type))

    def _outcome(self, frame: Frame, session: _Session, message: GetOutcome) -> None:
        if message.session_id == session.session_id:
            self._refuse_session(
                frame,
                session,
                Reason.VALUE_OUT_OF_RANGE,
                "that is this session: retransmit the request itself instead",
            )
            return
        answer = self.outcomes.lookup(
            session.role, message.session_id, message.counter, message.tag
        )
        self._answer(frame, session.session_id, answer)

    def _handle_plain(self, frame: Frame) -> None:
        try:
            message = decode_message(frame)
        except MessageError as exc:
            self._refuse_plain(frame.seq, frame.msg_type, exc.reason, exc.detail, frame)
            return
        if isinstance(message, Hello):
            request = RequestReceived(frame.seq, message, None, frame)
            self._unanswered = request
            self._events.append(request)
        elif isinstance(message, SessionOpen):
            self._open(frame, message)
        elif isinstance(message, SessionAuth):
            self._authenticate(frame, message)
        else:
            self._refuse_plain(
                frame.seq,
                frame.msg_type,
                Reason.NOT_AUTHENTICATED,
                f"{MessageType(frame.msg_type).name} needs a session: open one",
                frame,
            )

    # -- sessions --------------------------------------------------------------------------

    def _open(self, frame: Frame, message: SessionOpen) -> None:
        self._expire_challenges()
        for challenge in self._challenges.values():
            if challenge.open_frame == frame.signed:  # a retransmission: the same challenge
                self._out.append(challenge.reply)
                self._events.append(Retransmitted(frame.seq))
                return
        try:
            role = Role(message.role)
        except ValueError:
            self._refuse_plain(
                frame.seq,
                frame.msg_type,
                Reason.VALUE_OUT_OF_RANGE,
                f"role {message.role} outside 1..3 (clinician, patient, read-only)",
                frame,
            )
            return
        if not 1 <= len(message.operator) <= MAX_OPERATOR_LEN:
            self._refuse_plain(
                frame.seq,
                frame.msg_type,
                Reason.VALUE_OUT_OF_RANGE,
                f"operator of {len(message.operator)} characters outside 1..{MAX_OPERATOR_LEN}",
                frame,
            )
            return
        if role not in self._keys:
            self._refuse_plain(
                frame.seq, frame.msg_type, Reason.NO_KEY, f"no key for {role.label}", frame
            )
            return
        while len(self._challenges) >= MAX_CHALLENGES:
            self._challenges.popitem(last=False)
        context = SessionContext(
            self.serial_number,
            role,
            self._new_session_id(),
            message.programmer_nonce,
            self._random(NONCE_LEN),
            message.operator,
        )
        reply = self._plain_reply(frame, SessionChallenge(context.session_id, context.pump_nonce))
        self._challenges[context.session_id] = _Challenge(
            context, self._now_us, frame.signed, reply
        )
        self._out.append(reply)

    def _authenticate(self, frame: Frame, message: SessionAuth) -> None:
        session = self._session
        if session is not None and frame.signed == session.opened_by:
            self._out.append(session.opened_reply)  # our SessionOpened was lost: the same again
            self._events.append(Retransmitted(frame.seq))
            return
        self._expire_challenges()
        challenge = self._challenges.get(message.session_id)
        if challenge is None:  # no key was looked at: costs nothing, counts for nothing
            self._refuse_plain(
                frame.seq,
                frame.msg_type,
                Reason.UNKNOWN_CHALLENGE,
                f"no challenge {message.session_id:08x} outstanding (used, expired or evicted)",
                frame,
            )
            return
        wait_us = self.budget.wait_us(self._now_us)
        if wait_us:
            wait_s = -(-wait_us // US_PER_S)
            self._refuse_plain(
                frame.seq,
                frame.msg_type,
                Reason.RATE_LIMITED,
                f"{wait_s} s until the next key verification "
                f"(at most {self.budget.limit} in {self.budget.window_us // US_PER_S} s)",
                frame,
            )
            return
        self.budget.spend(self._now_us)
        del self._challenges[message.session_id]  # one proof per challenge
        context = challenge.context
        key = self._keys[context.role]
        if not proofs_equal(programmer_proof(key, context), message.proof):
            self._refuse_plain(
                frame.seq,
                frame.msg_type,
                Reason.AUTH_FAILED,
                f"wrong proof for {context.role.label}",
                frame,
            )
            return
        if self._session is not None:
            self._end_session("replaced")
        session = _Session(context, session_tagger(key, context), self._now_us)
        self._session = session
        self.outcomes.session_started(context.session_id, context.role)
        self._events.append(SessionStarted(context.session_id, context.role, context.operator))
        opened = SessionOpened(
            pump_proof(key, context), int(context.role), self.idle_timeout_us // US_PER_S
        )
        data = self._sealed(_REPLY_AUTH, frame.seq, opened, session)
        session.opened_by = frame.signed
        session.opened_reply = data
        self._out.append(data)

    def _new_session_id(self) -> int:
        while True:
            session_id = int.from_bytes(self._random(4), "big")
            if (
                session_id
                and session_id not in self._challenges
                and session_id != self.session_id
                and not self.outcomes.knows_session(session_id)
            ):
                return session_id

    def _expire_challenges(self) -> None:
        now = self._now_us
        while self._challenges:
            oldest = next(iter(self._challenges.values()))
            if now - oldest.created_us < CHALLENGE_LIFETIME_US:
                return
            self._challenges.popitem(last=False)

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
        self, frame: Frame, session_id: int, message: Message, more: Sequence[Message] = ()
    ) -> None:
        """Reply (``more``: the rest of a burst), remembering the reply for retransmissions
        and, if it changes the pump, its outcome for GET_OUTCOME."""
        unanswered = self._unanswered
        if unanswered is not None and unanswered.frame is frame:
            self._unanswered = None
        session = self._session
        if not session_id or session is None or session.session_id != session_id:
            for part in (message, *more):
                self._out.append(self._plain_reply(frame, part))
            return
        payload = encode_payload(message)
        session.tx_counter = counter = session.tx_counter + 1
        data = signed_frame(
            _REPLY_AUTH, frame.seq, message.TYPE, payload, session_id, counter, session.tag
        )
        for part in more:
            data += self._sealed(_REPLY_AUTH, frame.seq, part, session)
        entry = session.recent.get(frame.counter)
        if entry is not None and entry.reply is None:
            entry.reply = data
        if frame.msg_type in CHANGING:
            self.outcomes.record(
                session_id, frame.counter, frame.tag, frame.msg_type, message.TYPE, payload
            )
        self._out.append(data)

    def _plain_reply(self, frame: Frame, message: Message) -> bytes:
        version = HELLO_VERSION if frame.version == HELLO_VERSION else PROTOCOL_VERSION
        body = frame_body(
            _PLAIN_REPLY, frame.seq, int(message.TYPE), encode_payload(message), version=version
        )
        return seal(body)

    def _sealed(self, flags: int, seq: int, message: Message, session: _Session) -> bytes:
        return self._sealed_payload(flags, seq, message.TYPE, encode_payload(message), session)

    def _sealed_payload(
        self, flags: int, seq: int, msg_type: int, payload: bytes, session: _Session
    ) -> bytes:
        session.tx_counter += 1
        return signed_frame(
            flags,
            seq,
            msg_type,
            payload,
            session.session_id,
            session.tx_counter,
            session.tag,
        )

    def _refuse_session(self, frame: Frame, session: _Session, reason: Reason, detail: str) -> None:
        self._answer(frame, session.session_id, ErrorReply(reason, frame.msg_type, detail))
        self._events.append(
            Refused(
                reason,
                detail,
                frame.msg_type,
                attributable=True,
                operator=session.context.operator,
                request_id=request_id(session.session_id, frame.counter),
            )
        )

    def _refuse_plain(
        self,
        seq: int,
        msg_type: int,
        reason: Reason,
        detail: str,
        frame: Frame | None = None,
    ) -> None:
        """An unsigned refusal: outside a session, or before a session's tag could be
        trusted. Not remembered: a retransmission is looked at afresh."""
        error = ErrorReply(reason, msg_type, detail)
        version = PROTOCOL_VERSION
        if frame is not None and frame.version == HELLO_VERSION:
            version = HELLO_VERSION
        body = frame_body(
            _PLAIN_REPLY, seq, int(error.TYPE), encode_payload(error), version=version
        )
        self._out.append(seal(body))
        self._events.append(Refused(reason, detail, msg_type))
