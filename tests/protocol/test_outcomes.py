"""The pump's memory of what became of changing requests (docs/protocol.md, section 5)."""

from __future__ import annotations

import json

from protocol import OutcomeMemory, OutcomeStatus, Role
from protocol.messages import MessageType

BOLUS = int(MessageType.BOLUS)
ERROR = int(MessageType.ERROR)


def remembered() -> OutcomeMemory:
    memory = OutcomeMemory(max_records=3, max_sessions=2)
    memory.session_started(1, Role.CLINICIAN)
    for counter in (1, 2, 3):
        memory.accepted(1, counter)
    memory.record(1, 2, b"tag-2...", BOLUS, BOLUS, b"reply-2")
    memory.record(1, 3, b"tag-3...", BOLUS, ERROR, b"refused")
    return memory


def test_each_status_means_what_the_specification_says() -> None:
    memory = remembered()
    done = memory.lookup(Role.CLINICIAN, 1, 2, b"tag-2...")
    assert (done.status, done.reply_type, done.reply) == (OutcomeStatus.DONE, BOLUS, b"reply-2")
    assert memory.lookup(Role.CLINICIAN, 1, 3, b"tag-3...").status is OutcomeStatus.NOT_DONE
    # Accepted but not a changing request (counter 1), or never accepted (counter 9).
    assert memory.lookup(Role.CLINICIAN, 1, 1, b"anything").status is OutcomeStatus.NOT_RECEIVED
    assert memory.lookup(Role.CLINICIAN, 1, 9, b"anything").status is OutcomeStatus.NOT_RECEIVED
    # Another tag under a remembered counter, another role, another session: unknown.
    assert memory.lookup(Role.CLINICIAN, 1, 2, b"other...").status is OutcomeStatus.UNKNOWN
    assert memory.lookup(Role.PATIENT, 1, 2, b"tag-2...").status is OutcomeStatus.UNKNOWN
    assert memory.lookup(Role.CLINICIAN, 7, 2, b"tag-2...").status is OutcomeStatus.UNKNOWN


def test_an_evicted_record_is_unknown_never_not_received() -> None:
    memory = remembered()
    memory.accepted(1, 4)
    memory.record(1, 4, b"tag-4...", BOLUS, BOLUS, b"r4")
    memory.accepted(1, 5)
    memory.record(1, 5, b"tag-5...", BOLUS, BOLUS, b"r5")  # three held: counter 2 goes
    assert memory.lookup(Role.CLINICIAN, 1, 2, b"tag-2...").status is OutcomeStatus.UNKNOWN
    assert memory.lookup(Role.CLINICIAN, 1, 1, b"x").status is OutcomeStatus.UNKNOWN
    assert memory.lookup(Role.CLINICIAN, 1, 5, b"tag-5...").status is OutcomeStatus.DONE


def test_an_evicted_session_is_unknown() -> None:
    memory = remembered()
    memory.session_started(2, Role.CLINICIAN)
    memory.session_started(3, Role.CLINICIAN)  # two sessions held: session 1 goes
    assert memory.lookup(Role.CLINICIAN, 1, 2, b"tag-2...").status is OutcomeStatus.UNKNOWN


def test_the_memory_survives_plain_data_and_json_exactly() -> None:
    memory = remembered()
    restored = OutcomeMemory.from_plain(json.loads(json.dumps(memory.to_plain())))
    for counter, tag in ((1, b"x"), (2, b"tag-2..."), (3, b"tag-3..."), (9, b"x")):
        assert restored.lookup(Role.CLINICIAN, 1, counter, tag) == memory.lookup(
            Role.CLINICIAN, 1, counter, tag
        )
    assert restored.to_plain() == memory.to_plain()
