"""The control channel's verbs on an in-memory rig: no socket, no thread, no sleep."""

from __future__ import annotations

from typing import Any

import pytest

from emulator.control_verbs import handle
from emulator.device import EmulatedDevice, Identity
from emulator.rig import Rig
from emulator.sim_clock import SimClock
from firmware_model import Pump
from firmware_model.units import US_PER_DAY, US_PER_HOUR
from protocol import AlarmNotification, ErrorReply, GetStatus, Reason, Role, StatusReply
from tests.test_emulated_device import KEYS, SERIAL, Session

CLOCK_US = 1_795_000_000 * 1_000_000  # 2026-11-18 11:06:40 UTC


class FakeMonotonic:
    def __init__(self) -> None:
        self.ns = 1_000_000_000

    def __call__(self) -> int:
        return self.ns


class MemoryChannel:
    """What the rig wrote, and bytes queued for it to read."""

    description = "memory"

    def __init__(self) -> None:
        self.inbox = bytearray()
        self.written = bytearray()

    def read_some(self, timeout_s: float | None = None) -> bytes:
        data, self.inbox = bytes(self.inbox), bytearray()
        return data

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        pass


def worked_example() -> Pump:
    # docs/domain.md worked example: 20 mL of 500 ug/mL at 200 ug/day.
    pump = Pump()
    pump.set_clock(CLOCK_US)
    pump.refill(20_000_000, 500)
    pump.set_dose(200)
    return pump


def make_rig() -> tuple[Rig, MemoryChannel, FakeMonotonic]:
    mono = FakeMonotonic()
    channel = MemoryChannel()
    device = EmulatedDevice(worked_example(), Identity(serial_number=SERIAL), KEYS)
    clock = SimClock(speed=0, monotonic_ns=mono)
    rig = Rig(device, clock, channel, monotonic_us=lambda: mono.ns // 1_000)
    return rig, channel, mono


def ok(rig: Rig, verb: str, **args: Any) -> dict[str, Any]:
    reply = handle(rig, {"id": 1, "verb": verb, "args": args})
    assert reply["ok"], reply
    assert reply["id"] == 1
    result: dict[str, Any] = reply["result"]
    return result


def refused(rig: Rig, verb: str, **args: Any) -> dict[str, Any]:
    reply = handle(rig, {"id": 2, "verb": verb, "args": args})
    assert not reply["ok"], reply
    error: dict[str, Any] = reply["error"]
    return error


@pytest.mark.timeout(30)
def test_advance_45_days_raises_the_low_reservoir_alarm_at_its_instant() -> None:
    rig, _, _ = make_rig()
    result = ok(rig, "advance", duration="46d")
    alarms = [e for e in result["events"] if e["kind"] == "alarm"]
    assert [e["detail"]["alarm"] for e in alarms] == ["low_reservoir"]
    # docs/domain.md: 18 mL above the 2 mL alarm at 0.4 mL/day: exactly day 45.
    assert alarms[0]["simulated_time_us"] == 45 * US_PER_DAY
    assert alarms[0]["clock_s"] == CLOCK_US // 1_000_000 + 45 * 86_400
    state = result["state"]
    assert state["reservoir_nl"] == 20_000_000 - 46 * 400_000
    assert [a["alarm"] for a in state["alarms"]] == ["low_reservoir"]
    assert ok(rig, "state")["simulated_time_us"] == 46 * US_PER_DAY


@pytest.mark.timeout(30)
def test_advance_sends_the_alarm_notification_to_an_open_session() -> None:
    rig, channel, _ = make_rig()
    session = Session(rig.device)
    session.open(Role.CLINICIAN)
    ok(rig, "advance", duration="45d")
    assert not channel.written  # only the serve loop writes to the line
    rig.serve_once()
    session.programmer.receive_data(bytes(channel.written))
    notes = [e.message for e in session.programmer.events() if hasattr(e, "message")]
    assert any(isinstance(n, AlarmNotification) for n in notes)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    ("verb", "args", "code"),
    [
        ("advance", {"duration": "3654d"}, "out_of_range"),
        ("advance", {"duration": "0s"}, "out_of_range"),
        ("advance", {"duration": "soon"}, "bad_value"),
        ("advance", {}, "missing_argument"),
        ("advance", {"duration": "1d", "extra": 1}, "unknown_argument"),
        ("temperature", {"celsius": 46, "duration": "1h"}, "out_of_range"),
        ("temperature", {"celsius": 29.9, "duration": "1h"}, "out_of_range"),
        ("temperature", {"celsius": "hot", "duration": "1h"}, "bad_value"),
        ("battery", {"fraction": 1.5}, "out_of_range"),
        ("battery", {"fraction": float("nan")}, "out_of_range"),
        ("speed", {"factor": -1}, "out_of_range"),
        ("faults", {"both": {"flip": 2}}, "out_of_range"),
        ("faults", {"both": {"melt": 0.1}}, "unknown_argument"),
        ("reset", {"preset": "nonsense"}, "bad_value"),
        ("nonsense", {}, "unknown_verb"),
    ],
)
def test_bad_arguments_are_refused_and_change_nothing(
    verb: str, args: dict[str, Any], code: str
) -> None:
    rig, _, _ = make_rig()
    before = ok(rig, "state")
    error = refused(rig, verb, **args)
    assert error["code"] == code
    assert error["message"]
    assert ok(rig, "state") == before


def test_advance_never_takes_the_clock_past_its_range() -> None:
    rig, _, _ = make_rig()
    rig.device.pump.set_clock(4_102_444_000 * 1_000_000)  # 2099-12-31, 13 min before the end
    error = refused(rig, "advance", duration="1d")
    assert error["code"] == "refused"
    assert "2099-12-31" in error["message"]


def test_requests_that_are_not_objects_get_an_error_object() -> None:
    rig, _, _ = make_rig()
    requests: tuple[object, ...] = (None, [], "state", {"verb": 3}, {"verb": "state", "args": [1]})
    for request in requests:
        reply = handle(rig, request)
        assert reply["ok"] is False
        assert reply["error"]["code"] == "bad_request"


def test_temperature_over_delivers_and_the_state_says_so() -> None:
    rig, _, _ = make_rig()
    result = ok(rig, "temperature", celsius=40, duration="6h")
    assert result["flow_nl_per_day"] >= 400_000
    later = ok(rig, "advance", duration="2h")["state"]
    # heat raises the flow above the 0.4 mL/day basal (docs/domain.md: heat-driven flow).
    assert later["flow_nl_per_day"] > 400_000
    assert later["temperature_c"] > 37


def test_mri_stops_delivery_and_occlusion_stalls_it() -> None:
    rig, _, _ = make_rig()
    during = ok(rig, "mri", duration="1h")
    assert during["flow_nl_per_day"] == 0
    after = ok(rig, "advance", duration="3h")["state"]
    assert after["flow_nl_per_day"] == 400_000
    assert ok(rig, "occlusion", duration="2h")["flow_nl_per_day"] == 0
    cleared = ok(rig, "advance", duration="3h")
    kinds = [e["kind"] for e in cleared["events"]]
    assert "occlusion_ended" in kinds
    assert cleared["state"]["flow_nl_per_day"] == 400_000


def test_battery_reaches_eri_then_end_of_service_90_days_later() -> None:
    rig, _, _ = make_rig()
    state = ok(rig, "battery", fraction=0.0)
    assert "battery_eri" in [a["alarm"] for a in state["alarms"]]
    # docs/domain.md: end of service 90 days after ERI.
    before = ok(rig, "advance", duration="89d")["state"]
    assert before["state"] != "end_of_service"
    assert ok(rig, "advance", duration="1d")["state"]["state"] == "end_of_service"
    error = refused(rig, "battery", fraction=0.5)
    assert "never recharged" in error["message"]


def test_link_advance_expires_the_session_but_not_the_therapy() -> None:
    rig, _, _ = make_rig()
    session = Session(rig.device)
    session.open(Role.CLINICIAN)
    before = ok(rig, "state")
    assert before["link"]["session_open"] is True
    result = ok(rig, "link-advance", duration="1h")
    assert result["link"]["session_open"] is False
    after = ok(rig, "state")
    assert after["simulated_time_us"] == before["simulated_time_us"]


def test_speed_changes_how_fast_simulated_time_runs() -> None:
    rig, _, mono = make_rig()
    ok(rig, "speed", factor=3600)
    mono.ns += 2_000_000_000  # two real seconds
    assert ok(rig, "state")["simulated_time_us"] == 2 * US_PER_HOUR


def test_status_over_the_wire_agrees_with_the_state_verb() -> None:
    rig, _, _ = make_rig()
    ok(rig, "advance", duration="10d")
    session = Session(rig.device, now_us=rig.clock.now_us())
    session.open(Role.CLINICIAN)
    reply = session.ask(GetStatus())
    assert isinstance(reply, StatusReply)
    assert reply.reservoir_ul * 1_000 == ok(rig, "state")["reservoir_nl"] // 1_000 * 1_000


def test_snapshot_and_restore_put_the_pump_back_and_end_the_session() -> None:
    rig, _, _ = make_rig()
    ok(rig, "advance", duration="10d")
    snapshot = ok(rig, "snapshot")
    at_snapshot = ok(rig, "state")
    ok(rig, "advance", duration="40d")
    session = Session(rig.device, now_us=rig.clock.now_us())
    session.open(Role.CLINICIAN)
    assert ok(rig, "state")["link"]["session_open"] is True
    restored = ok(rig, "restore", snapshot=snapshot)
    after = ok(rig, "state")
    assert after["link"]["session_open"] is False
    for key in ("simulated_time_us", "reservoir_nl", "pumped_nl", "alarms", "clock_s"):
        assert restored[key] == at_snapshot[key] == after[key], key
    # time runs on from the restored instant, not from where the old pump was
    assert ok(rig, "advance", duration="1d")["state"]["reservoir_nl"] == (
        at_snapshot["reservoir_nl"] - 400_000
    )


def test_a_snapshot_of_another_pump_or_garbage_is_refused_and_changes_nothing() -> None:
    rig, _, _ = make_rig()
    before = ok(rig, "state")
    assert refused(rig, "restore", snapshot={"pump": "garbage"})["code"] == "refused"
    other = ok(rig, "snapshot")
    other["identity"]["serial_number"] = "SOMEONE-ELSE"
    assert refused(rig, "restore", snapshot=other)["code"] == "refused"
    assert ok(rig, "state") == before


@pytest.mark.parametrize(
    ("preset", "state", "dose"),
    [
        ("worked-example", "infusing", 200),
        ("stopped", "stopped", 200),
        ("unprogrammed", "stopped", 0),
    ],
)
def test_reset_gives_the_documented_pump(preset: str, state: str, dose: int) -> None:
    rig, _, _ = make_rig()
    ok(rig, "advance", duration="50d")
    result = ok(rig, "reset", preset=preset, clock_s=1_795_000_000)
    assert result["state"] == state
    assert result["dose_ug_per_day"] == dose
    assert result["reservoir_nl"] == 20_000_000  # docs/control.md: a full reservoir
    assert result["alarms"] == []
    assert result["clock_s"] == 1_795_000_000


@pytest.mark.parametrize(
    ("where", "value", "says"),
    [
        (("reservoir", "volume_q"), 10**40, "reservoir"),  # found by a new user: 1e40
        (("reservoir", "volume_q"), -1, "reservoir"),
        (("clock_offset_us",), 10**20, "pump clock"),
    ],
)
def test_a_damaged_snapshot_is_refused_and_the_pump_keeps_answering(
    where: tuple[str, ...], value: int, says: str
) -> None:
    rig, _, _ = make_rig()
    snapshot = ok(rig, "snapshot")
    before = ok(rig, "state")
    node = snapshot["pump"]
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    error = refused(rig, "restore", snapshot=snapshot)
    assert says in error["message"]
    assert ok(rig, "state") == before
    session = Session(rig.device, now_us=rig.clock.now_us())
    session.open(Role.CLINICIAN)
    assert isinstance(session.ask(GetStatus()), StatusReply)


@pytest.mark.parametrize(
    ("verb", "args"),
    [
        ("faults", {"baud": 10**400}),
        ("faults", {"both": {"flip": 10**400}}),
        ("reset", {"clock_s": -(10**400)}),
        ("battery", {"fraction": 10**400}),
    ],
)
def test_numbers_of_any_size_are_out_of_range_not_a_crash(verb: str, args: dict[str, Any]) -> None:
    rig, _, _ = make_rig()
    error = refused(rig, verb, **args)
    assert error["code"] == "out_of_range"
    assert "digits" in error["message"]


def test_speed_minus_zero_is_zero_and_arabic_digits_are_no_duration() -> None:
    rig, _, _ = make_rig()
    assert ok(rig, "speed", factor=-0.0)["speed"] == 0.0
    assert str(ok(rig, "speed", factor=-0.0)["speed"]) == "0.0"
    assert refused(rig, "advance", duration="\u0665s")["code"] == "bad_value"


def test_time_stops_where_the_pump_clock_ends() -> None:
    # docs/protocol.md: the pump clock's range ends 2099-12-31 23:59:59 UTC.
    rig, _, mono = make_rig()
    ok(rig, "reset", clock_s=4_102_444_795)
    ok(rig, "speed", factor=1_000)
    mono.ns += 10_000_000_000  # 10 real s: 10,000 simulated s, far past the end
    state = ok(rig, "state")
    assert state["clock_s"] == 4_102_444_799
    assert refused(rig, "advance", duration="1s")["code"] == "refused"


def test_a_stopping_rig_refuses_every_change() -> None:
    rig, _, _ = make_rig()
    rig.close()
    for verb, args in (("advance", {"duration": "1d"}), ("temperature", {"celsius": 40,
                       "duration": "1h"}), ("reset", {}), ("faults", {"off": True})):  # fmt: skip
        assert "stopping" in refused(rig, verb, **args)["message"]


def test_fail_next_answers_internal_error_and_executes_nothing() -> None:
    rig, _, _ = make_rig()
    session = Session(rig.device, now_us=rig.clock.now_us())
    session.open(Role.CLINICIAN)
    assert ok(rig, "fail-next", count=1) == {"fail_next": 1}
    reply = session.ask(GetStatus())
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.INTERNAL_ERROR
    assert isinstance(session.ask(GetStatus()), StatusReply)  # once only
    assert refused(rig, "fail-next", count=101)["code"] == "out_of_range"
