"""``pump-programmer``: interrogate and program a pump on any port URL.

Every failure is one line on stderr and a non-zero exit code (see programmer.errors):
1 the pump refused, or said it never ran the command (or a frame to decode is invalid),
2 bad usage, 3 the port, 4 no valid answer on the link, 5 no usable key, 6 the outcome of a
changing command is unknown (interrogate the pump before retrying).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from programmer.client import Change, Programmer
from programmer.decode import decode_hex
from programmer.errors import ProgrammerError
from programmer.formatting import (
    format_alarms,
    format_change,
    format_clock,
    format_identity,
    format_log_record,
    format_prescription,
    format_status,
    plain,
)
from programmer.link import DEFAULT_BUDGET_S, DEFAULT_RETRIES, DEFAULT_TIMEOUT_S
from programmer.operator import OPERATOR_ENV, clean_operator, default_operator
from protocol import AlarmCode, Role, WireStep
from transport import DEFAULT_BAUDRATE

EXIT_USAGE = 2
U32_MAX = 0xFFFF_FFFF
PORT_ENV = "PUMP_PORT"
MAX_RETRIES = 20
Result = tuple[Any, str]


def _u32(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= U32_MAX:
        raise argparse.ArgumentTypeError(f"{value} does not fit 0..{U32_MAX}")
    return value


def _ml_to_nl(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a volume in mL: {text!r}") from None
    if not 0 <= value <= 4_000:
        raise argparse.ArgumentTypeError(f"volume {text} mL out of range")
    return round(value * 1_000_000)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _retries(text: str) -> int:
    value = _u32(text)
    if value > MAX_RETRIES:
        raise argparse.ArgumentTypeError(f"at most {MAX_RETRIES} retries")
    return value


def _flex_step(text: str) -> WireStep:
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)=(\d+)", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"a flex step is HH:MM=UG_PER_DAY, not {text!r}")
    hours, minutes, dose = (int(g) for g in match.groups())
    return WireStep(hours * 3600 + minutes * 60, dose)


def _alarm(text: str) -> AlarmCode:
    try:
        return AlarmCode[text.upper().replace("-", "_")]
    except KeyError:
        names = ", ".join(a.name.lower() for a in AlarmCode)
        raise argparse.ArgumentTypeError(f"alarm is one of {names}") from None


def _clock_value(text: str) -> int:
    return int(time.time()) if text == "now" else _u32(text)


def _operator(text: str) -> str:
    cleaned = clean_operator(text)
    if not cleaned:
        raise argparse.ArgumentTypeError("an operator is 1 to 32 printable characters")
    return cleaned


def _role(text: str) -> Role:
    try:
        return Role.from_label(text)
    except KeyError:
        raise argparse.ArgumentTypeError("role is clinician, patient or read-only") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pump-programmer",
        description="Clinician programmer for the intrathecal pump.",
        epilog="Exit codes: 0 done; 1 the pump refused, or says it never ran the command; "
        "2 bad usage; 3 the port cannot be opened or failed; 4 no valid reply; 5 no usable "
        "key; 6 outcome unknown: interrogate the pump before retrying.",
    )
    parser.add_argument(
        "--port",
        metavar="URL",
        default=os.environ.get(PORT_ENV),
        help=f"pyserial URL of the pump: /dev/ttyUSB0, /dev/pts/N, socket://host:port "
        f"(default: ${PORT_ENV})",
    )
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUDRATE)
    parser.add_argument(
        "--timeout", type=_positive_float, default=DEFAULT_TIMEOUT_S, help="seconds per reply"
    )
    parser.add_argument(
        "--retries",
        type=_retries,
        default=DEFAULT_RETRIES,
        help=f"retransmissions of a read-only request before giving up (default {DEFAULT_RETRIES})",
    )
    parser.add_argument(
        "--budget-s",
        type=_positive_float,
        default=DEFAULT_BUDGET_S,
        metavar="S",
        help=f"how long a changing command (program, bolus, stop, refill...) is retransmitted "
        f"before the programmer reopens the session to ask the pump what became of it "
        f"(default {DEFAULT_BUDGET_S:g} s)",
    )
    parser.add_argument(
        "--operator",
        type=_operator,
        default=None,
        help=f"who is programming, written with every change in the pump's log "
        f"(default ${OPERATOR_ENV}, else user@host; at most 32 characters)",
    )
    parser.add_argument(
        "--role", type=_role, default=Role.CLINICIAN, help="clinician (default), patient, read-only"
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        help="the pump's key file (default: $PUMP_KEY_FILE, else "
        "~/.config/itb-pump/keys/SERIAL.json)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("hello", help="identify the pump (no session needed)")
    commands.add_parser("status", help="interrogate: identity and current status")
    commands.add_parser("prescription", help="show the prescription in force")
    set_dose = commands.add_parser("set-dose", help="program simple continuous delivery")
    set_dose.add_argument("dose_ug_per_day", metavar="UG_PER_DAY", type=_u32)
    flex = commands.add_parser("flex", help="program a daily schedule: HH:MM=UG_PER_DAY ...")
    flex.add_argument("steps", metavar="HH:MM=UG_PER_DAY", type=_flex_step, nargs="+")
    limits = commands.add_parser("patient-limits", help="permit patient boluses")
    limits.add_argument("--dose-ug", type=_u32, required=True)
    limits.add_argument("--duration-s", type=_u32, required=True)
    limits.add_argument("--lockout-s", type=_u32, required=True)
    limits.add_argument("--max-per-day", type=_u32, required=True)
    low = commands.add_parser("low-reservoir-alarm", help="set the low-reservoir alarm volume")
    low.add_argument("volume_nl", metavar="ML", type=_ml_to_nl)
    bolus = commands.add_parser("bolus", help="clinician bolus")
    bolus.add_argument("dose_ug", metavar="UG", type=_u32)
    bolus.add_argument("--duration-s", type=_u32, default=1800)
    prime = commands.add_parser("prime", help="priming bolus (fills the catheter)")
    prime.add_argument("--volume-ml", dest="volume_nl", type=_ml_to_nl, default=0)
    commands.add_parser("patient-bolus", help="patient-activated bolus (patient role)")
    stop = commands.add_parser("stop", help="stop delivery")
    stop.add_argument(
        "--confirm-withdrawal-risk",
        action="store_true",
        help="required: abrupt baclofen withdrawal can be life-threatening",
    )
    commands.add_parser("start", help="resume the programmed basal")
    refill = commands.add_parser("refill", help="withdraw, measure and refill")
    refill.add_argument("volume_nl", metavar="VOLUME_ML", type=_ml_to_nl)
    refill.add_argument("concentration", metavar="UG_PER_ML", type=_u32)
    refill.add_argument("--measured-ml", dest="measured_nl", type=_ml_to_nl)
    refill.add_argument(
        "--dose", type=_u32, help="re-enter the dose (needed for a new concentration)"
    )
    refill.add_argument("--drug", default="baclofen")
    commands.add_parser("alarms", help="active alarms")
    ack = commands.add_parser("ack", help="acknowledge (silence) an alarm")
    ack.add_argument("alarm", type=_alarm)
    log = commands.add_parser("log", help="the pump's event log")
    log.add_argument("--first", type=_u32, default=0, help="absolute index to start from")
    clock = commands.add_parser("clock", help="read the pump clock, or set it")
    clock.add_argument("--set", metavar="UNIX_S|now", type=_clock_value, help="set the clock")
    decode = commands.add_parser("decode", help="decode a frame given in hex; no port needed")
    decode.add_argument("hex", metavar="HEX")
    return parser


def _status(p: Programmer, _: argparse.Namespace) -> Result:
    status = p.status()
    hello = p.identity
    assert hello is not None
    data = {"identity": plain(hello), "status": plain(status)}
    return data, f"{format_identity(hello)}\n{format_status(status)}"


def _hello(p: Programmer, _: argparse.Namespace) -> Result:
    hello = p.identity or p.hello()
    return {"identity": plain(hello)}, format_identity(hello)


def _change(change: Change) -> Result:
    committed = change.committed
    text = (
        f"{format_change(change.before, change.staged)}\n"
        f"Committed: {committed.state.name.lower()}, "
        f"basal {committed.rate_nl_per_day / 1000:.3f} uL/day"
    )
    data = {
        "before": plain(change.before),
        "staged": plain(change.staged),
        "committed": plain(committed),
    }
    return data, text


def _stop(p: Programmer, args: argparse.Namespace) -> Result:
    reply = p.stop(confirm_withdrawal_risk=args.confirm_withdrawal_risk)
    return plain(reply), f"Stopped: {reply.state.name.lower()}"


def _refill(p: Programmer, args: argparse.Namespace) -> Result:
    reply = p.refill(
        args.volume_nl,
        args.concentration,
        measured_nl=args.measured_nl,
        dose_ug_per_day=args.dose,
        drug=args.drug,
    )
    text = (
        f"Refilled: expected {reply.expected_nl / 1e6:.3f} mL left, measured "
        f"{reply.measured_nl / 1e6:.3f} mL (difference {reply.discrepancy_nl / 1e6:+.3f} mL); "
        f"{reply.state.name.lower()}"
    )
    return plain(reply), text


def _log(p: Programmer, args: argparse.Namespace) -> Result:
    records = list(p.log_entries(args.first))
    last = p.last_log_page
    lost = (
        {"clinical_lost": 0, "link_lost": 0}
        if last is None
        else {
            "clinical_lost": last.clinical_lost,
            "link_lost": last.link_lost,
        }
    )
    text = "\n".join(format_log_record(r) for r in records)
    summary = (
        f"{len(records)} entries; lost from the log since the pump was made: "
        f"{lost['clinical_lost']} clinical, {lost['link_lost']} link"
    )
    data = {"entries": [plain(r) for r in records], **lost}
    return data, f"{text}\n{summary}" if text else summary


def _clock(p: Programmer, args: argparse.Namespace) -> Result:
    clock_s = p.clock() if args.set is None else p.set_clock(args.set)
    return {"clock_s": clock_s}, f"Pump clock {format_clock(clock_s)}"


def _bolus_text(what: str, reply: Any) -> Result:
    return plain(reply), (
        f"{what}: {reply.volume_nl / 1000:.3f} uL at {reply.rate_nl_per_day / 1000:.3f} uL/day "
        f"over {reply.duration_s} s"
    )


COMMANDS: dict[str, Callable[[Programmer, argparse.Namespace], Result]] = {
    "hello": _hello,
    "status": _status,
    "prescription": lambda p, a: (plain(pr := p.prescription()), format_prescription(pr)),
    "set-dose": lambda p, a: _change(p.set_dose(a.dose_ug_per_day)),
    "flex": lambda p, a: _change(p.set_flex(tuple(a.steps))),
    "patient-limits": lambda p, a: _change(
        p.set_patient_limits(a.dose_ug, a.duration_s, a.lockout_s, a.max_per_day)
    ),
    "low-reservoir-alarm": lambda p, a: _change(p.set_low_reservoir_alarm(a.volume_nl // 1000)),
    "bolus": lambda p, a: _bolus_text("Bolus", p.bolus(a.dose_ug, a.duration_s)),
    "prime": lambda p, a: _bolus_text("Priming", p.prime(a.volume_nl)),
    "patient-bolus": lambda p, a: _bolus_text("Patient bolus", p.patient_bolus()),
    "stop": _stop,
    "start": lambda p, a: (plain(r := p.start()), f"Started: {r.state.name.lower()}"),
    "refill": _refill,
    "alarms": lambda p, a: (plain(r := p.alarms()), format_alarms(r)),
    "ack": lambda p, a: (plain(r := p.acknowledge(a.alarm)), format_alarms(r)),
    "log": _log,
    "clock": _clock,
}


def _notice(text: str) -> None:
    print(f"pump-programmer: {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "decode":
        return decode_hex(args.hex)
    if not args.port:
        parser.error(f"no port: give --port URL or set ${PORT_ENV}")
    try:
        with Programmer.open(
            args.port,
            role=args.role,
            key_file=args.key_file,
            session=args.command != "hello",
            baudrate=args.baud,
            timeout_s=args.timeout,
            retries=args.retries,
            budget_s=args.budget_s,
            operator=args.operator or default_operator(),
            notice=_notice,
        ) as programmer:
            data, text = COMMANDS[args.command](programmer, args)
    except ProgrammerError as exc:
        print(f"pump-programmer: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pump-programmer: interrupted", file=sys.stderr)
        return 130
    print(json.dumps(data, sort_keys=True) if args.json else text)
    return 0
