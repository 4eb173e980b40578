"""The programmer's end of the link, sans-IO: numbers requests, runs the session handshake,
signs requests in a session, and checks every authenticated frame from the pump.

Session opening, in three calls::

    seq, data = conn.request(conn.begin_session(Role.CLINICIAN, key, serial, "alice@ward3"))
    ... reply SessionChallenge ...
    seq, data = conn.request(conn.answer_challenge(challenge))
    ... reply SessionOpened: verified here (tag and pump proof), then the session is open.

Frames from the pump that claim the session but fail its tag, counter or proof are dropped
as ``FrameDropped``. Unsigned replies (HELLO's, a challenge, error replies) are passed on
marked ``authenticated=False``: inside a session they are hints, never proof of anything.

The pump's counter is checked with a window, not a single high-water mark: notifications
share the counter with replies, so a reply answered from the pump's cache may arrive after
a notification that overtook it. A counter seen before is dropped (a copy of a reply already
taken); a new one within the window is taken.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from hmac import compare_digest
from typing import NamedTuple

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
from protocol.events import FrameDropped, NotificationReceived, ProgrammerEvent, ReplyReceived
from protocol.frame import (
    AUTH,
    DIRECTION_MASK,
    HELLO_VERSION,
    NOTIFICATION,
    PROTOCOL_VERSION,
    SEQ_MODULUS,
    TAG_LEN,
    Frame,
    FrameDecoder,
    FrameError,
    frame_body,
    seal,
    signed_frame,
    signed_frame_with_tag,
)
from protocol.messages import (
    ErrorReply,
    Hello,
    HelloReply,
    Kind,
    Message,
    MessageError,
    SessionAuth,
    SessionChallenge,
    SessionClosed,
    SessionOpen,
    SessionOpened,
    decode_message,
    encode_payload,
)
from protocol.reasons import Reason
from protocol.roles import UNAUTHENTICATED

# Replies a pump sends outside a session; anything else must carry the session's tag.
_UNSIGNED_REPLIES = (ErrorReply, HelloReply, SessionChallenge)
COUNTER_WINDOW = 64  # pump counters this far below the highest are still taken once


class Outgoing(NamedTuple):
    """A request ready for the wire; resend ``data`` unchanged to retransmit it. In a
    session, (``session_id``, ``counter``, ``tag``) name it for GET_OUTCOME."""

    seq: int
    data: bytes
    session_id: int = 0
    counter: int = 0
    tag: bytes = b""
    msg_type: int = 0


@dataclass(slots=True)
class _Handshake:
    role: Role
    key: Key = field(repr=False)
    serial_number: str
    operator: str
    programmer_nonce: bytes
    session_id: int = 0
    tagger: SessionTagger | None = field(default=None, repr=False)
    expected_proof: bytes = field(default=b"", repr=False)


@dataclass(slots=True)
class _Session:
    session_id: int
    role: Role
    tagger: SessionTagger = field(repr=False)
    tx_counter: int = 0
    rx_highest: int = 0
    rx_seen: set[int] = field(default_factory=set)  # counters taken within the window
    keyed: tuple[HashState, HashState] = field(init=False, repr=False)  # the tagger's keyed states

    def __post_init__(self) -> None:
        self.keyed = self.tagger.keyed_states()

    def take(self, counter: int) -> bool:
        """True once per counter within the window; False for a copy or a stale one."""
        if counter > self.rx_highest:
            self.rx_highest = counter
            self.rx_seen.add(counter)
            if len(self.rx_seen) > 2 * COUNTER_WINDOW:
                floor = counter - COUNTER_WINDOW
                self.rx_seen = {c for c in self.rx_seen if c > floor}
            return True
        if counter <= self.rx_highest - COUNTER_WINDOW or counter in self.rx_seen:
            return False
        self.rx_seen.add(counter)
        return True


class ProgrammerConnection:
    def __init__(
        self,
        first_seq: int = 1,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    ) -> None:
        if not 0 < first_seq < SEQ_MODULUS:
            raise ValueError(f"first sequence number must be 1..{SEQ_MODULUS - 1}")
        self._decoder = FrameDecoder()
        self._ready: list[ProgrammerEvent] = []
        self._next_seq = first_seq
        self._random = random_bytes
        self._handshake: _Handshake | None = None
        self._session: _Session | None = None

    @property
    def session_role(self) -> Role | None:
        return None if self._session is None else self._session.role

    @property
    def session_id(self) -> int | None:
        return None if self._session is None else self._session.session_id

    # -- sending ---------------------------------------------------------------------------

    def request(self, message: Message) -> tuple[int, bytes]:
        """Number (and in a session, sign) a request; resend the very bytes to retransmit."""
        outgoing = self.prepare(message)
        return outgoing.seq, outgoing.data

    def prepare(self, message: Message) -> Outgoing:
        """As ``request``, with what names the request for GET_OUTCOME."""
        if message.KIND is not Kind.REQUEST:
            raise ValueError(f"{type(message).__name__} is not a request")
        if message.TYPE in UNAUTHENTICATED or self._session is None:
            seq = self._take_seq()
            version = HELLO_VERSION if isinstance(message, Hello) else PROTOCOL_VERSION
            body = frame_body(0, seq, int(message.TYPE), encode_payload(message), version=version)
            return Outgoing(seq, seal(body), msg_type=int(message.TYPE))
        session = self._session
        seq = self._next_seq
        self._next_seq = seq % (SEQ_MODULUS - 1) + 1
        session.tx_counter = counter = session.tx_counter + 1
        msg_type = int(message.TYPE)
        data, tag = signed_frame_with_tag(
            AUTH, seq, msg_type, encode_payload(message), session.session_id, counter,
            session.tagger.tag,
        )  # fmt: skip
        return Outgoing(seq, data, session.session_id, counter, tag, msg_type)

    def prepare_raw(self, msg_type: int, payload: bytes, *, counter: int | None = None) -> Outgoing:
        """Sign any type and payload, under the next counter or one given: for tests and tools
        that must send what no correct programmer would (a broken or replayed request)."""
        session = self._session
        if session is None:
            raise ValueError("no session to sign with")
        seq = self._take_seq()
        if counter is None:
            session.tx_counter += 1
            counter = session.tx_counter
        tags: list[bytes] = []

        def tag(signed: bytes) -> bytes:
            tags.append(session.tagger.tag(signed))
            return tags[0]

        data = signed_frame(AUTH, seq, msg_type, payload, session.session_id, counter, tag)
        return Outgoing(seq, data, session.session_id, counter, tags[0], msg_type)

    def sign_as_pump(self, flags: int, seq: int, message: Message, counter: int) -> bytes:
        """A frame as the pump would sign it in this session: for tools that publish vectors."""
        session = self._session
        if session is None:
            raise ValueError("no session to sign with")
        return signed_frame(
            flags, seq, message.TYPE, encode_payload(message), session.session_id, counter,
            session.tagger.tag,
        )  # fmt: skip

    def begin_session(self, role: Role, key: Key, serial_number: str, operator: str) -> SessionOpen:
        nonce = self._random(NONCE_LEN)
        self._handshake = _Handshake(role, key, serial_number, operator, nonce)
        return SessionOpen(int(role), nonce, operator)

    def answer_challenge(self, challenge: SessionChallenge) -> SessionAuth:
        hs = self._handshake
        if hs is None:
            raise ValueError("no session being opened")
        context = SessionContext(
            hs.serial_number,
            hs.role,
            challenge.session_id,
            hs.programmer_nonce,
            challenge.pump_nonce,
            hs.operator,
        )
        hs.session_id = challenge.session_id
        hs.tagger = session_tagger(hs.key, context)
        hs.expected_proof = pump_proof(hs.key, context)
        return SessionAuth(challenge.session_id, programmer_proof(hs.key, context))

    def forget_session(self) -> None:
        self._session = None
        self._handshake = None

    def _take_seq(self) -> int:
        seq = self._next_seq
        self._next_seq = seq % (SEQ_MODULUS - 1) + 1
        return seq

    # -- receiving -------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray) -> None:
        append = self._ready.append
        for item in self._decoder.feed(data):
            append(self._classify(item))

    def receive_events(self, data: bytes | bytearray) -> list[ProgrammerEvent]:
        """``receive_data`` then ``events()`` in one call, as a list: the link's hot path."""
        classify = self._classify
        events = [classify(item) for item in self._decoder.feed(data)]
        if self._ready:
            events[:0] = self._ready
            self._ready = []
        return events

    def events(self) -> Iterator[ProgrammerEvent]:
        ready, self._ready = self._ready, []
        return iter(ready)

    def _classify(self, item: Frame | FrameError) -> ProgrammerEvent:
        if isinstance(item, FrameError):
            return FrameDropped(item.reason, item.detail)
        flags = item.flags
        if not flags & DIRECTION_MASK:
            return FrameDropped(Reason.WRONG_DIRECTION, "a request frame (our own echo?)")
        if flags & AUTH:
            if item.version != PROTOCOL_VERSION:
                return FrameDropped(Reason.UNSUPPORTED_VERSION, f"signed v{item.version} frame")
            return self._authenticated(item)
        try:
            message = decode_message(item)
        except MessageError as exc:
            return FrameDropped(exc.reason, exc.detail)
        if item.flags & NOTIFICATION or not isinstance(message, _UNSIGNED_REPLIES):
            return FrameDropped(Reason.NOT_AUTHENTICATED, f"unsigned {type(message).__name__}")
        return ReplyReceived(item.seq, message)

    def _authenticated(self, frame: Frame) -> ProgrammerEvent:
        session = self._session
        hs = self._handshake
        if session is not None and frame.session_id == session.session_id:
            inner, outer = session.keyed
        elif hs is not None and hs.tagger is not None and frame.session_id == hs.session_id:
            inner, outer = hs.tagger.keyed_states()
        else:
            return FrameDropped(Reason.UNKNOWN_SESSION, f"session {frame.session_id:08x}")
        inner = inner.copy()  # SessionTagger.tag, written out: this runs for every reply
        inner.update(frame.signed)
        outer = outer.copy()
        outer.update(inner.digest())
        if not compare_digest(outer.digest()[:TAG_LEN], frame.tag):
            return FrameDropped(Reason.BAD_TAG, "pump frame tag does not match")
        try:
            message = decode_message(frame)
        except MessageError as exc:
            return FrameDropped(exc.reason, exc.detail)
        if session is None or frame.session_id != session.session_id:
            assert hs is not None
            assert hs.tagger is not None
            if not isinstance(message, SessionOpened) or not proofs_equal(
                message.proof, hs.expected_proof
            ):
                return FrameDropped(Reason.AUTH_FAILED, "the pump did not prove it holds the key")
            session = _Session(hs.session_id, hs.role, hs.tagger)
            self._session = session
            self._handshake = None
        counter = frame.counter
        if counter > session.rx_highest and len(session.rx_seen) < 2 * COUNTER_WINDOW:
            session.rx_highest = counter  # the next counter: what ``take`` does, inline
            session.rx_seen.add(counter)
        elif not session.take(counter):
            return FrameDropped(
                Reason.REPLAYED, f"pump counter {frame.counter} already taken (a cached copy)"
            )
        if isinstance(message, SessionClosed):
            self._session = None
        if frame.flags & NOTIFICATION:
            return NotificationReceived(message)
        return ReplyReceived(frame.seq, message, True)
