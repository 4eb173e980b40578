"""The pump's memory of what became of changing requests: the answer to a lost reply.

A programmer whose reply was lost, and whose retransmissions went unanswered, must not guess:
a bolus retried blindly is a bolus given twice. In the manner of an idempotency key, each
changing request is named by its session, its counter in that session and the tag of its
frame. The pump remembers the outcome (the exact reply payload it sent) of the last
``max_records`` changing requests, and for the last ``max_sessions`` sessions the highest
counter it accepted. After opening a new session (which ends the old one, so nothing of the
old one can still arrive and run), the programmer asks with GET_OUTCOME:

- DONE / NOT_DONE: the request ran, or was refused; the reply it was sent is attached;
- NOT_RECEIVED: the counter is above anything the pump accepted in that ended session, or
  the request under it changed nothing: nothing ran, and nothing ever will;
- UNKNOWN: forgotten (evicted), another role's session, or another frame under that counter.

Plain data in and out (``to_plain``/``from_plain``): the memory is pump state, saved with it.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from protocol.auth import Role
from protocol.codes import OutcomeStatus
from protocol.messages import MessageType, OutcomeReply

DEFAULT_MAX_RECORDS = 64  # [M] a day of programming visits, many times over
DEFAULT_MAX_SESSIONS = 16  # [M]


@dataclass(slots=True)
class OutcomeRecord:
    counter: int
    tag: bytes
    request_type: int
    reply_type: int
    reply: bytes


@dataclass(slots=True)
class SessionOutcomes:
    session_id: int
    role: Role
    high_counter: int = 0  # the highest counter the pump accepted in this session
    forgotten_through: int = 0  # records at or below this counter may have been evicted
    records: dict[int, OutcomeRecord] = field(default_factory=dict)


class OutcomeMemory:
    def __init__(
        self, max_records: int = DEFAULT_MAX_RECORDS, max_sessions: int = DEFAULT_MAX_SESSIONS
    ) -> None:
        if max_records < 1 or max_sessions < 1:
            raise ValueError("an outcome memory holds at least one record and one session")
        self.max_records = max_records
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[int, SessionOutcomes] = OrderedDict()
        self._order: deque[tuple[int, int]] = deque()  # (session, counter), oldest first

    def knows_session(self, session_id: int) -> bool:
        return session_id in self._sessions

    def session_started(self, session_id: int, role: Role) -> None:
        self._sessions.pop(session_id, None)
        while len(self._sessions) >= self.max_sessions:
            self._sessions.popitem(last=False)
        self._sessions[session_id] = SessionOutcomes(session_id, role)

    def accepted(self, session_id: int, counter: int) -> None:
        """A frame of the session passed its tag and counter checks: it may run."""
        session = self._sessions.get(session_id)
        if session is not None and counter > session.high_counter:
            session.high_counter = counter

    def record(
        self,
        session_id: int,
        counter: int,
        tag: bytes,
        request_type: int,
        reply_type: int,
        reply: bytes,
    ) -> None:
        session = self._sessions.get(session_id)
        if session is None:
            return
        session.records[counter] = OutcomeRecord(counter, tag, request_type, reply_type, reply)
        self._order.append((session_id, counter))
        while len(self._order) > self.max_records:
            old_session, old_counter = self._order.popleft()
            owner = self._sessions.get(old_session)
            if owner is not None and owner.records.pop(old_counter, None) is not None:
                owner.forgotten_through = max(owner.forgotten_through, old_counter)

    def lookup(self, role: Role, session_id: int, counter: int, tag: bytes) -> OutcomeReply:
        """The answer for a session that has ended; the caller refuses the current one."""
        session = self._sessions.get(session_id)
        if session is None or session.role is not role:
            return _answer(OutcomeStatus.UNKNOWN)
        record = session.records.get(counter)
        if record is not None:
            if record.tag != tag:
                return _answer(OutcomeStatus.UNKNOWN)
            status = (
                OutcomeStatus.NOT_DONE
                if record.reply_type == MessageType.ERROR
                else OutcomeStatus.DONE
            )
            return OutcomeReply(status, record.request_type, record.reply_type, record.reply)
        if counter <= session.forgotten_through:
            return _answer(OutcomeStatus.UNKNOWN)
        # Above the high-water mark nothing arrived; at or below it, what arrived under this
        # counter changed nothing (every changing request is recorded). Either way nothing
        # ran, and the session has ended, so nothing will.
        return _answer(OutcomeStatus.NOT_RECEIVED)

    # -- persistence -----------------------------------------------------------------------

    def to_plain(self) -> dict[str, Any]:
        return {
            "max_records": self.max_records,
            "max_sessions": self.max_sessions,
            "sessions": [
                {
                    "session_id": s.session_id,
                    "role": int(s.role),
                    "high_counter": s.high_counter,
                    "forgotten_through": s.forgotten_through,
                }
                for s in self._sessions.values()
            ],
            "records": [
                [
                    session_id,
                    counter,
                    rec.tag.hex(),
                    rec.request_type,
                    rec.reply_type,
                    rec.reply.hex(),
                ]
                for session_id, counter in self._order
                if (rec := self._record(session_id, counter)) is not None
            ],
        }

    @classmethod
    def from_plain(cls, data: dict[str, Any]) -> OutcomeMemory:
        memory = cls(int(data["max_records"]), int(data["max_sessions"]))
        for item in data["sessions"]:
            session = SessionOutcomes(
                int(item["session_id"]),
                Role(int(item["role"])),
                int(item["high_counter"]),
                int(item["forgotten_through"]),
            )
            memory._sessions[session.session_id] = session
        for session_id, counter, tag, request_type, reply_type, reply in data["records"]:
            owner = memory._sessions.get(int(session_id))
            if owner is None:
                continue
            owner.records[int(counter)] = OutcomeRecord(
                int(counter), bytes.fromhex(tag), int(request_type), int(reply_type),
                bytes.fromhex(reply),
            )  # fmt: skip
            memory._order.append((int(session_id), int(counter)))
        return memory

    def _record(self, session_id: int, counter: int) -> OutcomeRecord | None:
        session = self._sessions.get(session_id)
        return None if session is None else session.records.get(counter)


def _answer(status: OutcomeStatus) -> OutcomeReply:
    return OutcomeReply(status, 0, 0, b"")
