"""The event log: two rings in one index space, so link traffic cannot evict clinical history."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from firmware_model import Continuous, EventLog, LogEntry, Pump
from firmware_model.log_kinds import CLINICAL, KINDS, LINK, LogClass, class_of
from tests.model.helpers import HOUR, pump_with_drug

CLINICAL_KIND = "programmed"
LINK_KIND = "session_opened"


def written(log: EventLog, kinds: str) -> EventLog:
    """Append one entry per letter: C clinical, L link; t_us is the entry's position."""
    for letter in kinds:
        log.append(LogEntry(log.written, CLINICAL_KIND if letter == "C" else LINK_KIND))
    return log


def indices(page: list[tuple[int, LogEntry]]) -> list[int]:
    return [index for index, _ in page]


def test_ten_thousand_link_entries_leave_every_clinical_entry_held() -> None:
    pump = pump_with_drug()
    pump.refill(20_000_000, 500, prescription=pump.prescription())
    pump.clinician_bolus(50, HOUR)
    clinical = [(i, e) for i, e in pump.log.items() if class_of(e.kind) is CLINICAL]
    link_before = len(pump.log) - len(clinical)
    for n in range(5_000):
        pump.record_event("link_refused", reason="bad_tag", message=f"frame {n}")
        pump.record_event("session_opened", role="clinician")
    log = pump.log
    assert [(i, e) for i, e in log.items() if class_of(e.kind) is CLINICAL] == clinical
    assert log.held(CLINICAL) == clinical
    assert len(log.held(LINK)) == log.link_capacity == 1_024
    assert log.link_lost == link_before + 10_000 - 1_024
    assert log.clinical_lost == 0
    assert log.overflowed == log.link_lost
    assert log.oldest_index == 0
    assert len(log) == len(clinical) + 1_024
    assert log.written == len(clinical) + link_before + 10_000


def test_clinical_overflow_drops_only_clinical_entries() -> None:
    log = written(EventLog(4, 8), "LL" + "C" * 10)
    assert (log.clinical_lost, log.link_lost, log.overflowed) == (6, 0, 6)
    assert indices(log.page(0, 100)) == [0, 1, 8, 9, 10, 11]
    assert log.oldest_index == 0
    assert len(log) == 6


def test_a_link_flood_reaches_the_link_ring_only() -> None:
    log = written(EventLog(4, 2), "CLCLLLLC")
    assert indices(log.held(CLINICAL)) == [0, 2, 7]
    assert indices(log.held(LINK)) == [5, 6]
    assert (log.clinical_lost, log.link_lost) == (0, 3)


# C0 L1 L2 C3 L4 L5 C6 L7 L8 C9 with 3 clinical and 2 link slots: 3 6 7 8 9 held.
GAPPY = "CLLCLLCLLC"


@pytest.mark.parametrize(
    ("first", "count", "expected"),
    [
        (0, 100, [3, 6, 7, 8, 9]),  # first below the oldest: from the oldest
        (-5, 2, [3, 6]),
        (3, 100, [3, 6, 7, 8, 9]),
        (4, 100, [6, 7, 8, 9]),  # inside the gap of evicted link entries 4 and 5
        (5, 2, [6, 7]),
        (7, 1, [7]),
        (9, 5, [9]),
        (10, 5, []),  # at written
        (11, 5, []),  # beyond
        (0, 0, []),
        (0, -1, []),
    ],
)
def test_page_returns_held_entries_from_first_in_index_order(
    first: int, count: int, expected: list[int]
) -> None:
    log = written(EventLog(3, 2), GAPPY)
    assert log.written == 10
    assert log.oldest_index == 3
    page = log.page(first, count)
    assert indices(page) == expected
    assert all(entry.t_us == index for index, entry in page)


def test_classified_page_names_each_entry_class() -> None:
    log = written(EventLog(3, 2), GAPPY)
    assert [(i, c) for i, c, _ in log.classified_page(5, 4)] == [
        (6, LogClass.CLINICAL),
        (7, LogClass.LINK),
        (8, LogClass.LINK),
        (9, LogClass.CLINICAL),
    ]
    assert log.class_of("link_refused") is LogClass.LINK
    assert log.class_of("never_heard_of") is LogClass.CLINICAL


def test_iteration_is_in_index_order_and_listeners_see_every_entry() -> None:
    log = EventLog(3, 2)
    seen: list[LogEntry] = []
    log.listeners.append(seen.append)
    written(log, GAPPY)
    assert [e.t_us for e in log] == [3, 6, 7, 8, 9]
    assert [e.t_us for e in seen] == list(range(10))


def test_an_empty_log() -> None:
    log = EventLog(3, 2)
    assert (log.oldest_index, log.written, len(log), log.page(0, 8)) == (0, 0, 0, [])


def test_capacities_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        EventLog(4, 0)


# -- operator context -------------------------------------------------------------------


def test_the_context_stamps_clinical_entries_only() -> None:
    log = EventLog(8, 8)
    seen: list[LogEntry] = []
    log.listeners.append(seen.append)
    with log.context(by="alice@ward3"):
        log.append(LogEntry(0, "refill", {"added_nl": 1}))
        log.append(LogEntry(0, "session_opened", {"role": "clinician"}))
        log.append(LogEntry(0, "alarm_acknowledged", {"alarm": "low_reservoir"}))
    log.append(LogEntry(1, "refill", {"added_nl": 2}))
    assert [e.detail for e in log] == [
        {"added_nl": 1, "by": "alice@ward3"},
        {"role": "clinician"},
        {"alarm": "low_reservoir", "by": "alice@ward3"},
        {"added_nl": 2},
    ]
    assert seen == list(log)


def test_nested_and_repeated_contexts_restore_the_one_before() -> None:
    log = EventLog(8, 8)

    def stamp() -> dict[str, object]:
        log.append(LogEntry(0, "programmed"))
        return list(log)[-1].detail

    with log.context(by="alice"):
        with log.context(session=7):
            assert stamp() == {"by": "alice", "session": 7}
            with log.context(by="bob"):
                assert stamp() == {"by": "bob", "session": 7}
            assert stamp() == {"by": "alice", "session": 7}
        assert stamp() == {"by": "alice"}
    with pytest.raises(RuntimeError), log.context(by="carol"):
        raise RuntimeError
    assert stamp() == {}
    with log.context(by="dave"):
        assert stamp() == {"by": "dave"}
    assert stamp() == {}


def test_an_entry_own_detail_wins_over_the_context() -> None:
    log = EventLog(8, 8)
    with log.context(reason="visit", by="alice"):
        log.append(LogEntry(0, "bolus_cancelled", {"bolus": "clinician", "reason": "stopped"}))
    assert next(iter(log)).detail == {"bolus": "clinician", "reason": "stopped", "by": "alice"}


def test_the_pump_stamps_what_a_session_caused() -> None:
    pump = Pump()
    with pump.log.context(by="alice"):
        pump.refill(20_000_000, 500)
        pump.interrogate()
        pump.program(Continuous(200), start=True)
    stamped = [(e.kind, e.detail.get("by")) for e in pump.log]
    assert ("refill", "alice") in stamped
    assert ("programmed", "alice") in stamped
    assert ("interrogation", None) in stamped
    assert all((by == "alice") == (class_of(kind) is CLINICAL) for kind, by in stamped)


# -- property -----------------------------------------------------------------------------

KIND_NAMES = [*KINDS, "unknown_kind"]


@given(
    kinds=st.lists(st.sampled_from(KIND_NAMES), max_size=60),
    capacity=st.integers(1, 6),
    link_capacity=st.integers(1, 6),
    first=st.integers(-3, 70),
    count=st.integers(-1, 70),
)
def test_page_is_the_reference_filtered(
    kinds: list[str], capacity: int, link_capacity: int, first: int, count: int
) -> None:
    log = EventLog(capacity, link_capacity)
    for t, kind in enumerate(kinds):
        log.append(LogEntry(t, kind))
    everything = list(enumerate(kinds))
    held: list[tuple[int, str]] = []
    for log_class, kept in ((CLINICAL, capacity), (LINK, link_capacity)):
        of_class = [(i, k) for i, k in everything if class_of(k) is log_class]
        held += of_class[-kept:]
    held.sort()
    expected = [(i, k) for i, k in held if i >= first][: max(0, count)]
    assert [(i, e.kind) for i, e in log.page(first, count)] == expected
    assert [(i, e.kind) for i, e in log.items()] == held
    assert log.oldest_index == (held[0][0] if held else len(kinds))
    assert log.written == len(kinds)
    assert log.overflowed == len(kinds) - len(held)
