"""The link cannot wash the pump's history away (issue 7, point 5).

Version 1 had one 4,096-entry ring: 5,000 keyless HELLOs in under a second pushed programming
and bolus records out of it, and CI polling evicted every refill record within a day.
"""

from __future__ import annotations

import random

from emulator.device import EmulatedDevice, Identity
from firmware_model import Pump
from firmware_model.units import US_PER_S
from protocol import (
    Bolus,
    ErrorReply,
    GetStatus,
    Hello,
    LogClass,
    LogPage,
    LogRecord,
    ReadLog,
    Refill,
    SessionClose,
    SessionOpen,
)
from protocol.codes import NO_DIGEST, NOT_MEASURED
from protocol.frame import HELLO_VERSION, frame_body, seal
from protocol.messages import encode_payload
from tests.test_emulated_device import KEYS, SERIAL, Session

MINUTE_US = 60 * US_PER_S


def device() -> EmulatedDevice:
    pump = Pump()
    pump.set_clock(1_795_000_000 * US_PER_S)
    pump.refill(20_000_000, 500)
    pump.set_dose(200)
    return EmulatedDevice(pump, Identity(serial_number=SERIAL), KEYS)


def clinical_kinds(dev: EmulatedDevice) -> list[str]:
    return [e.kind for i, c, e in dev.pump.log.classified_page(0, 1 << 30) if c == "clinical"]


def hello(seq: int, version: int) -> bytes:
    body = encode_payload(Hello(version, version))
    return seal(frame_body(0, seq, int(Hello.TYPE), body, version=HELLO_VERSION))


def test_keyless_floods_never_evict_a_clinical_record() -> None:
    dev = device()
    s = Session(dev)
    s.open()
    s.ask(Bolus(5, 60))
    s.ask(Refill(20_000_000, 500, NOT_MEASURED, NO_DIGEST, "baclofen"))
    clinical = clinical_kinds(dev)
    rng = random.Random(5)
    now = 0
    for i in range(5_000):  # 5,000 keyless HELLOs of an unknown version, in under a second
        dev.receive(hello(1 + i % 60000, 9), 0, link_now_us=now)
        now += 100
    for i in range(5_000):  # and as many SESSION_OPENs for a role with no such key ...
        opening = SessionOpen(9, rng.randbytes(16), "mallory")
        dev.receive(seal(frame_body(0, 1 + i, 2, encode_payload(opening))), 0, now)
        now += 100
    dev.receive(rng.randbytes(50_000), 0, now)  # ... and noise
    assert clinical_kinds(dev) == clinical
    assert {"programmed", "bolus_started", "refill"} <= set(clinical)
    assert dev.pump.log.clinical_lost == 0


def test_polling_for_a_day_keeps_every_refill_record() -> None:
    dev = device()
    s = Session(dev)
    s.open()
    s.ask(Refill(20_000_000, 500, NOT_MEASURED, NO_DIGEST, "baclofen"))
    s.ask(SessionClose())
    for minute in range(24 * 60):  # CI polls once a minute: open, status, close
        s.now_us = s.link_us = minute * MINUTE_US
        s.programmer.forget_session()
        s.open()
        s.ask(GetStatus())
        s.ask(SessionClose())
    log = dev.pump.log
    assert clinical_kinds(dev).count("refill") == 2  # the pump's first fill, and ours
    assert log.clinical_lost == 0
    assert log.link_lost > 0  # the polling itself did roll over: its own ring
    page = s_page(dev, s.link_us)
    assert page.link_lost == log.link_lost
    assert page.clinical_lost == 0


def test_link_refusals_are_throttled_whatever_the_frame() -> None:
    dev = device()
    frames = [hello(7, 9), b"\xc0garbage\xc0", seal(frame_body(0, 9, int(GetStatus.TYPE), b""))]
    for i in range(300):  # 300 refusals of three kinds within one minute of link time
        dev.receive(frames[i % 3], 0, link_now_us=i * 1_000)
    dev.receive(hello(8, 9), 0, link_now_us=MINUTE_US + 1)  # the minute closes
    kinds = [e.kind for e in dev.pump.log]
    assert kinds.count("link_refused") == 21  # 20, then the next minute's first
    (summary,) = [e for e in dev.pump.log if e.kind == "link_refusals_suppressed"]
    assert sum(int(v) for v in summary.detail.values()) == 280


def test_answers_from_the_cache_are_not_logged() -> None:
    dev = device()
    s = Session(dev)
    s.open()
    seq, data = s.programmer.request(GetStatus())
    first = dev.receive(data, 0, 0)
    written = dev.pump.log.written
    assert dev.receive(data, 0, 0) == first
    assert dev.pump.log.written == written
    assert seq


def test_a_page_holds_entries_at_or_after_first_in_order_across_evicted_gaps() -> None:
    dev = device()
    for i in range(dev.pump.config.link_log_capacity):  # roll the link ring over once
        dev.receive(hello(1 + i, 9), 0, link_now_us=i * MINUTE_US)
    s = Session(dev, link_us=dev.pump.config.link_log_capacity * MINUTE_US)
    s.open()
    s.ask(Bolus(5, 60))
    log = dev.pump.log
    first = log.oldest_index
    seen: list[int] = []
    while True:
        page = s.ask(ReadLog(first, 8))
        assert isinstance(page, LogPage)
        assert page.oldest == log.oldest_index
        assert page.next == log.written
        assert all(r.index >= first for r in page.entries)
        seen += [r.index for r in page.entries]
        if not page.entries:
            break
        first = page.entries[-1].index + 1
    assert seen == sorted(seen)
    assert seen == [i for i, _ in log.items()]
    classes = {r.log_class for r in s_page(dev, s.link_us).entries}
    assert classes <= {LogClass.CLINICAL, LogClass.LINK}


def s_page(dev: EmulatedDevice, link_us: int = 0) -> LogPage:
    s = Session(dev, now_us=dev.pump.t_us, link_us=link_us)
    s.open()
    page = s.ask(ReadLog(0, 8))
    assert isinstance(page, LogPage)
    return page


def test_replays_of_a_withheld_frame_never_write_clinical_records() -> None:
    # An attacker keeps a signed status request from the pump, then replays it, again and
    # again, once newer requests have run: each copy is refused (it never ran), signed, but
    # anyone can send copies, so the refusals are link records, throttled.
    dev = device()
    s = Session(dev)
    s.open()
    s.ask(Bolus(5, 60))
    _, withheld = s.programmer.request(GetStatus())  # never reaches the pump
    s.ask(GetStatus())
    clinical = clinical_kinds(dev)
    for i in range(5_000):
        dev.receive(withheld, 0, link_now_us=i * 10_000)  # 100 a second for 50 s
    assert clinical_kinds(dev) == clinical
    assert dev.pump.log.clinical_lost == 0
    refused = [e for e in dev.pump.log if e.kind == "link_refused"]
    assert {e.detail["reason"] for e in refused} == {"replayed"}
    assert len(refused) == 20  # one minute's worth of writing: the rest counted


def test_a_refusal_of_a_malformed_frame_is_one_printable_line_that_reads_back() -> None:
    dev = device()
    opening = SessionOpen(1, bytes(16), "mallory")
    malformed = seal(frame_body(0, 3, 2, encode_payload(opening) + b"\x00"))  # a byte too many
    s = Session(dev)
    s.programmer.receive_data(dev.receive(malformed, 0, 0))
    (event,) = list(s.programmer.events())  # decodable: the text is printable ASCII
    assert isinstance(event.message, ErrorReply)  # type: ignore[union-attr]
    assert "\n" not in event.message.message  # type: ignore[union-attr]
    s.open()
    records: list[LogRecord] = []
    first = 0
    while True:  # the whole log reads back, the record of that refusal included
        page = s.ask(ReadLog(first, 8))
        assert isinstance(page, LogPage)
        if not page.entries:
            break
        records += page.entries
        first = page.entries[-1].index + 1
    (refusal,) = [r for r in records if r.kind == "link_refused"]
    assert refusal.detail.isprintable()
    assert "bad_payload" in refusal.detail


def test_a_clock_setting_moves_no_record_already_written() -> None:
    # A new user's finding (issue 8): correcting the clock by five hours moved every past
    # log time, and the active alarms' times, by five hours.
    from protocol import AlarmsReply, GetAlarms, SetClock

    pump = Pump()
    pump.set_clock(1_795_000_000 * US_PER_S)
    pump.refill(2_100_000, 500)  # just above the 2 mL low-reservoir alarm
    pump.set_dose(200)
    pump.advance_to(pump.t_us + 6 * 3600 * US_PER_S)
    dev = EmulatedDevice(pump, Identity(serial_number=SERIAL), KEYS)
    s = Session(dev, now_us=pump.t_us)
    s.open()
    alarms = s.ask(GetAlarms())
    assert isinstance(alarms, AlarmsReply)
    assert alarms.alarms
    page = s.ask(ReadLog(0, 8))
    assert isinstance(page, LogPage)
    s.ask(SetClock(1_795_000_000 - 5 * 3600))
    assert s.ask(GetAlarms()) == alarms
    again = s.ask(ReadLog(0, 8))
    assert isinstance(again, LogPage)
    assert [(r.index, r.t_s) for r in again.entries] == [(r.index, r.t_s) for r in page.entries]
