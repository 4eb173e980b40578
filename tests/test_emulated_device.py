"""The emulated device end to end without a port: programmer bytes in, pump bytes out."""

from emulator.device import EmulatedDevice, Identity
from firmware_model import Pump
from firmware_model.units import US_PER_DAY, US_PER_S
from protocol import (
    AlarmFlags,
    ErrorReply,
    GetStatus,
    Hello,
    HelloReply,
    Message,
    ProgrammerConnection,
    PumpState,
    Reason,
    ReplyReceived,
    SetDose,
    SetDoseReply,
    StatusReply,
)


def make_device() -> EmulatedDevice:
    pump = Pump()
    pump.refill(20_000_000, 500)
    pump.set_dose(200)
    return EmulatedDevice(pump, Identity(serial_number="T-1"))


def ask(device: EmulatedDevice, message: Message, now_us: int = 0) -> Message:
    programmer = ProgrammerConnection()
    seq, data = programmer.request(message)
    programmer.receive_data(device.receive(data, now_us))
    (event,) = list(programmer.events())
    assert isinstance(event, ReplyReceived)
    assert event.seq == seq
    return event.message


def test_hello_reports_identity() -> None:
    reply = ask(make_device(), Hello())
    assert reply == HelloReply("ITBP-20", "T-1", "0.1.0", 1)


def test_status_reflects_the_model_at_the_time_asked() -> None:
    # shared/domain.md worked example: low-reservoir alarm at 45 days.
    reply = ask(make_device(), GetStatus(), now_us=45 * US_PER_DAY)
    assert isinstance(reply, StatusReply)
    assert reply.state is PumpState.INFUSING
    assert reply.alarms == AlarmFlags.LOW_RESERVOIR
    assert reply.reservoir_ul == 2_000
    # 18 mL pumped at 500 ug/mL, less the 0.2 mL that filled the unprimed catheter
    # (domain.md, catheter volume [M]): 17.8 mL reached the spinal fluid.
    assert reply.infused_ug == 8_900
    assert reply.clock_s == 45 * 86_400


def test_set_dose_reply_and_refusal_mapping() -> None:
    device = make_device()
    assert ask(device, SetDose(250)) == SetDoseReply(250, 500_000)
    refused = ask(device, SetDose(5_000))
    assert isinstance(refused, ErrorReply)
    assert refused.reason is Reason.DRUG_LIMIT
    assert "5000" in refused.message
    too_steep = ask(device, SetDose(400))
    assert isinstance(too_steep, ErrorReply)
    assert too_steep.reason is Reason.DOSE_CHANGE_LIMIT
    assert device.pump.status().dose_ug_per_day == 250


def test_wrong_state_after_empty_reservoir() -> None:
    device = make_device()
    device.tick(60 * US_PER_DAY)
    refused = ask(device, SetDose(200), now_us=60 * US_PER_DAY)
    assert isinstance(refused, ErrorReply)
    assert refused.reason is Reason.WRONG_STATE
    status = ask(device, GetStatus(), now_us=60 * US_PER_DAY)
    assert isinstance(status, StatusReply)
    assert status.state is PumpState.EMPTY
    assert status.alarms == AlarmFlags.LOW_RESERVOIR | AlarmFlags.EMPTY_RESERVOIR


def test_retransmitted_set_dose_is_executed_once() -> None:
    device = make_device()
    programmer = ProgrammerConnection()
    _, data = programmer.request(SetDose(250))
    first = device.receive(data, 0)
    log_length = len(device.pump.log)
    again = device.receive(data, US_PER_S)
    assert again == first
    assert len(device.pump.log) == log_length
    assert device.counters.retransmissions == 1


def test_garbage_is_refused_and_changes_nothing() -> None:
    device = make_device()
    before = device.pump.status()
    out = device.receive(b"\x00\x13\x37\xff\xfe\x00", 0)
    programmer = ProgrammerConnection()
    programmer.receive_data(out)
    (event,) = list(programmer.events())
    assert isinstance(event, ReplyReceived)
    assert event.seq == 0
    assert isinstance(event.message, ErrorReply)
    assert device.pump.status() == before


def test_a_bug_in_a_handler_costs_one_reply_not_the_emulator() -> None:
    device = make_device()

    def broken(_: Message) -> Message:
        raise RuntimeError("boom")

    device._handlers[GetStatus] = broken
    reply = ask(device, GetStatus())
    assert isinstance(reply, ErrorReply)
    assert reply.reason is Reason.INTERNAL_ERROR
    assert isinstance(ask(device, Hello()), HelloReply)
