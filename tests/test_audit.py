"""A flood of bad frames is audited without washing the pump's event log away."""

from emulator.audit import US_PER_MINUTE, RefusalAudit
from emulator.device import EmulatedDevice, Identity
from firmware_model import Pump
from protocol import Keyring
from tests.protocol.pair import seeded


def test_burst_then_summary_per_minute() -> None:
    written: list[tuple[str, str]] = []
    summaries: list[dict[str, int]] = []
    audit = RefusalAudit(lambda r, d: written.append((r, d)), summaries.append, burst=3)
    for n in range(10):
        audit.refused("bad_crc" if n % 2 else "bad_framing", f"#{n}", now_us=n)
    assert len(written) == 3
    assert summaries == []
    audit.refused("bad_tag", "next minute", now_us=US_PER_MINUTE + 5)
    assert summaries == [{"bad_crc": 4, "bad_framing": 3}]
    assert written[-1] == ("bad_tag", "next minute")


def test_a_flood_cannot_push_alarms_out_of_the_log() -> None:
    pump = Pump()
    pump.refill(20_000_000, 500)
    pump.set_dose(200)
    pump.advance_to(45 * 86_400_000_000)  # worked example: low-reservoir alarm at day 45
    device = EmulatedDevice(pump, Identity(serial_number="F1"), Keyring.generate("F1", seeded(3)))
    for n in range(10_000):  # ten thousand forged frames within one minute
        device.receive(b"\xc0\x01\x02\x03\xc0", 45 * 86_400_000_000, link_now_us=n)
    kinds = [entry.kind for entry in pump.log]
    assert "alarm" in kinds
    assert kinds.count("link_refused") == 20
    assert device.counters.refused == 10_000
    device.tick(45 * 86_400_000_000, link_now_us=US_PER_MINUTE)  # the minute is over
    (summary,) = [e for e in pump.log if e.kind == "link_refusals_suppressed"]
    assert summary.detail == {"frame_too_short": 9_980}


def test_the_summary_is_written_when_the_minute_is_over_without_another_refusal() -> None:
    summaries: list[dict[str, int]] = []
    audit = RefusalAudit(lambda r, d: None, summaries.append, burst=1)
    audit.refused("bad_crc", "first", now_us=10)
    audit.refused("bad_crc", "counted", now_us=20)
    audit.flush(US_PER_MINUTE)  # not yet: the minute began at 10
    assert summaries == []
    audit.flush(US_PER_MINUTE + 10)
    assert summaries == [{"bad_crc": 1}]
    audit.flush(3 * US_PER_MINUTE)  # nothing more to say
    assert summaries == [{"bad_crc": 1}]
