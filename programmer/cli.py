"""``pump-programmer``: interrogate and program a pump on any port URL.

Every failure is one line on stderr and a non-zero exit code (see programmer.errors):
1 the pump refused, or would (a value outside the limits it reports), or said it never ran
the command (or a frame to decode is invalid); 2 bad usage (input that is not a value, a
missing --yes, a role too low); 3 the port; 4 no valid answer on the link; 5 no usable key;
6 the outcome of a changing command is unknown (interrogate the pump before retrying).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from programmer.capture_file import CaptureFile
from programmer.client import Programmer
from programmer.commands import (
    COMMANDS,
    PATIENT_COMMANDS,
    READ_ONLY_COMMANDS,
    Ui,
)
from programmer.confirm import Confirmation, Declined, DryRun, NothingToDo
from programmer.decode import decode_capture, decode_hex
from programmer.errors import ProgrammerError, UsageError
from programmer.flex_input import FlexInputError, TypedStep, parse_step
from programmer.link import DEFAULT_BUDGET_S, DEFAULT_RETRIES, DEFAULT_TIMEOUT_S
from programmer.log_download import check_args as check_log_args
from programmer.operator import OPERATOR_ENV, checked_operator, default_operator
from programmer.watch import DEFAULT_INTERVAL_S, MIN_INTERVAL_S, WATCH_HELP
from programmer.watch import run as run_watch
from protocol import AlarmCode, Role
from transport import DEFAULT_BAUDRATE

EXIT_OK = 0
EXIT_USAGE = 2
PORT_ENV = "PUMP_PORT"
MAX_RETRIES = 20
DEFAULT_BOLUS_S = 1800
EXIT_CODES = (
    "Exit codes: 0 done (or cancelled, or a dry run); 1 the pump refused, or would (a value "
    "outside the limits it reports), or says it never ran the command; 2 bad usage (input "
    "that is not a value, a missing --yes, a role too low); 3 the port cannot be opened or "
    "failed; 4 no valid reply; 5 no usable key; 6 outcome unknown: interrogate the pump "
    "before retrying."
)
CONFIRM_HELP = (
    "Shows what will change, side by side with what is now, the pump's state included, then "
    "asks. --yes answers for you (needed without a terminal); --dry-run shows it and sends "
    "nothing."
)


# -- argument types: is it a value at all? (its range is the pump's to say: exit 1) ------


def _whole(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"not a count or an amount: {text!r}")
    return value


def _ml_to_nl(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a volume in mL: {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"not a volume in mL: {text!r}")
    return round(value * 1_000_000)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _interval(text: str) -> float:
    value = _positive_float(text)
    if value < MIN_INTERVAL_S:
        raise argparse.ArgumentTypeError(f"at least {MIN_INTERVAL_S:g} s")
    return value


def _retries(text: str) -> int:
    value = _whole(text)
    if value > MAX_RETRIES:
        raise argparse.ArgumentTypeError(f"at most {MAX_RETRIES} retries")
    return value


def _flex_step(text: str) -> TypedStep:
    try:
        return parse_step(text)
    except FlexInputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _alarm(text: str) -> AlarmCode:
    try:
        return AlarmCode[text.upper().replace("-", "_")]
    except KeyError:
        names = ", ".join(a.name.lower() for a in AlarmCode)
        raise argparse.ArgumentTypeError(f"alarm is one of {names}") from None


def _clock_value(text: str) -> int | str:
    return "now" if text == "now" else _whole(text)


def _role(text: str) -> Role:
    try:
        return Role.from_label(text)
    except KeyError:
        raise argparse.ArgumentTypeError("role is clinician, patient or read-only") from None


def _operator(text: str) -> str:
    try:
        return checked_operator(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# -- the parser -------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pump-programmer",
        description="Clinician programmer for the intrathecal pump. Every change is shown "
        "side by side with what is in force, and asked for, before it is sent.",
        epilog=EXIT_CODES,
    )
    parser.add_argument(
        "--port",
        metavar="URL",
        default=os.environ.get(PORT_ENV),
        help=f"pyserial URL of the pump: /dev/ttyUSB0, /dev/pts/N, socket://host:port "
        f"(default: ${PORT_ENV})",
    )
    parser.add_argument(
        "--baud",
        type=_whole,
        default=DEFAULT_BAUDRATE,
        metavar="BPS",
        help=f"line speed of a serial port (default {DEFAULT_BAUDRATE}); socket:// and "
        "loop:// ignore it",
    )
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"seconds to wait for each reply (default {DEFAULT_TIMEOUT_S:g})",
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
        "--role", type=_role, default=Role.CLINICIAN, help="clinician (default), patient, read-only"
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        help="the pump's key file (default: $PUMP_KEY_FILE, else "
        "~/.config/itb-pump/keys/SERIAL.json)",
    )
    parser.add_argument(
        "--operator",
        type=_operator,
        default=None,
        help=f"who is programming, written with every change in the pump's log "
        f"(default ${OPERATOR_ENV}, else user@host; at most 32 characters)",
    )
    parser.add_argument(
        "--capture",
        type=Path,
        metavar="FILE",
        help="record the link to FILE as it runs (pcap, link type 147; docs/protocol.md, "
        "section 15): read it with `decode --capture FILE`, or Wireshark with "
        "tools/wireshark/itb_pump.lua",
    )
    _answers(parser, top=True)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def command(name: str, help_text: str, example: str, *, changes: bool = False) -> Any:
        description = help_text[0].upper() + help_text[1:] + "."
        if changes:
            description += " " + CONFIRM_HELP
        sub = commands.add_parser(
            name,
            help=help_text,
            description=description,
            epilog=f"Example: {example}\n\n{EXIT_CODES}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        _answers(sub, top=False, changes=changes)
        return sub

    command("hello", "identify the pump (no session, no key)", "pump-programmer hello")
    command("status", "interrogate: identity and current status", "pump-programmer status")
    command(
        "prescription",
        "show the prescription in force, each step with its rate",
        "pump-programmer prescription",
    )
    set_dose = command(
        "set-dose",
        "program simple continuous delivery (patient limits and the alarm volume are kept)",
        "pump-programmer set-dose 220",
        changes=True,
    )
    set_dose.add_argument("dose_ug_per_day", metavar="UG_PER_DAY", type=_whole, help="ug/day")
    _start(set_dose)
    flex = command(
        "flex",
        "program a daily schedule: each step runs from its time (UTC) to the next",
        "pump-programmer flex 00:00=200 08:00=300 20:00=150",
        changes=True,
    )
    flex.add_argument(
        "steps",
        metavar="HH:MM=UG_PER_DAY",
        type=_flex_step,
        nargs="+",
        help="a step: its start, UTC (08:00 or 08:00Z; 0:00 is 00:00), and its dose in ug/day; "
        "steps given out of order are sorted",
    )
    _local(flex)
    _start(flex)
    limits = command(
        "patient-limits",
        "permit patient boluses, within these limits",
        "pump-programmer patient-limits --dose-ug 25 --duration-s 900 --lockout-s 10800 "
        "--max-per-day 3",
        changes=True,
    )
    limits.add_argument("--dose-ug", type=_whole, required=True, help="dose of one bolus, ug")
    limits.add_argument("--duration-s", type=_whole, required=True, help="over how long, s")
    limits.add_argument(
        "--lockout-s", type=_whole, required=True, help="from one bolus to the next, s (<= 24 h)"
    )
    limits.add_argument("--max-per-day", type=_whole, required=True, help="in any 24 h (1-24)")
    _start(limits)
    low = command(
        "low-reservoir-alarm",
        "set the volume at which the low-reservoir alarm sounds",
        "pump-programmer low-reservoir-alarm 2.5",
        changes=True,
    )
    low.add_argument("volume_nl", metavar="ML", type=_ml_to_nl, help="mL, e.g. 2 or 2.5")
    _start(low)
    bolus = command(
        "bolus",
        "clinician bolus: replaces the basal for its duration",
        "pump-programmer bolus 50 --duration-s 1800",
        changes=True,
    )
    bolus.add_argument("dose_ug", metavar="UG", type=_whole, help="dose, ug")
    bolus.add_argument(
        "--duration-s",
        type=_whole,
        default=DEFAULT_BOLUS_S,
        help=f"over how long, s (default {DEFAULT_BOLUS_S} s = 30 min)",
    )
    prime = command(
        "prime",
        "priming bolus at the highest rate, to fill the catheter (the pump must be stopped)",
        "pump-programmer prime",
        changes=True,
    )
    prime.add_argument(
        "--volume-ml",
        dest="volume_nl",
        metavar="ML",
        type=_ml_to_nl,
        default=None,
        help="mL to prime (default: the catheter volume, which the screen shows)",
    )
    command(
        "patient-bolus",
        "patient-activated bolus, within the limits the clinician programmed (patient role). "
        "It does not ask: it is the patient's button, and the pump enforces its limits",
        "pump-programmer --role patient patient-bolus",
    )
    stop = command(
        "stop", "stop delivery", "pump-programmer stop --confirm-withdrawal-risk", changes=True
    )
    stop.add_argument(
        "--confirm-withdrawal-risk",
        action="store_true",
        help="required: abrupt baclofen withdrawal can be life-threatening (--yes does not "
        "stand in for it)",
    )
    command(
        "start", "resume the programmed basal after a stop", "pump-programmer start", changes=True
    )
    refill = command(
        "refill",
        "withdraw what is left, measure it, and fill",
        "pump-programmer refill 18 500 --measured-ml 2.1",
        changes=True,
    )
    refill.add_argument("volume_nl", metavar="VOLUME_ML", type=_ml_to_nl, help="added, mL")
    refill.add_argument("concentration", metavar="UG_PER_ML", type=_whole, help="ug/mL")
    refill.add_argument(
        "--measured-ml",
        dest="measured_nl",
        metavar="ML",
        type=_ml_to_nl,
        help="what was withdrawn, mL (default: the pump's own figure)",
    )
    refill.add_argument(
        "--dose",
        type=_whole,
        metavar="UG_PER_DAY",
        help="a new continuous dose (needed with a new concentration on a continuous pump)",
    )
    refill.add_argument(
        "--flex",
        type=_flex_step,
        nargs="+",
        metavar="HH:MM=UG_PER_DAY",
        help="a new daily schedule (a flex pump with a new concentration needs --flex or "
        "--keep-doses)",
    )
    refill.add_argument(
        "--keep-doses",
        action="store_true",
        help="keep every step's ug/day at the new concentration (rates are recomputed)",
    )
    refill.add_argument(
        "--accept-discrepancy",
        action="store_true",
        help="refill although the measured residual differs from the expected by more than "
        "the pump's threshold (--yes does not stand in for it)",
    )
    refill.add_argument(
        "--confirm-withdrawal-risk",
        action="store_true",
        help="needed for a refill so small that the reservoir is empty at once: delivery "
        "stops (--yes does not stand in for it)",
    )
    refill.add_argument("--drug", default="baclofen", help="drug name (default baclofen)")
    _local(refill)
    command("alarms", "active alarms", "pump-programmer alarms")
    ack = command(
        "ack",
        "acknowledge (silence) an alarm. It does not ask: it changes no therapy, and the "
        "alarm stays until its cause is gone",
        "pump-programmer ack low_reservoir",
    )
    ack.add_argument(
        "alarm",
        type=_alarm,
        help="as `alarms` lists it: " + ", ".join(a.name.lower() for a in AlarmCode),
    )
    log = command("log", "the pump's event log, page by page", "pump-programmer log --first 100")
    log.description = _wrapped(
        log.description,
        "A progress bar is drawn on stderr while pages arrive, on a terminal only. After a "
        "lost link the download resumes from the entry after the last one received: none is "
        "repeated or skipped. --csv prints CSV, --json (before or after the command) the JSON "
        "object; --output FILE writes either, or the text, to FILE instead. Example: "
        "pump-programmer log --csv --output pump-log.csv",
    )
    log.add_argument(
        "--first", type=_whole, default=0, help="absolute index to start from (default 0)"
    )
    log.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw what the log holds to this PNG: programmed basal, boluses, refills, "
        "alarms, exposures, and the reservoir estimated from them (needs matplotlib)",
    )
    log.add_argument(
        "--csv",
        action="store_true",
        help="print CSV: a header, then one row per entry: index, time_utc (ISO 8601), t_s "
        "(Unix s), class (clinical or link), kind, detail",
    )
    log.add_argument(
        "--output",
        type=Path,
        metavar="FILE",
        help="write the log (text, --csv or --json) to FILE instead of stdout, whole or not at "
        "all; stdout gets one line saying so",
    )
    watch = command(
        "watch",
        "hold one session open and print status changes and alarms as they come, until Ctrl-C",
        "pump-programmer watch --interval-s 5   (or: pump-programmer watch --json)",
    )
    watch.description = _wrapped(watch.description, WATCH_HELP)
    watch.add_argument(
        "--interval-s",
        type=_interval,
        default=DEFAULT_INTERVAL_S,
        metavar="S",
        help=f"seconds between status polls (default {DEFAULT_INTERVAL_S:g}, at least "
        f"{MIN_INTERVAL_S:g}; at most half the pump's session idle timeout, 600 s, so the session "
        "stays open)",
    )
    clock = command(
        "clock", "read the pump clock, or set it", "pump-programmer clock --set now", changes=True
    )
    clock.add_argument(
        "--set",
        metavar="UNIX_S|now",
        type=_clock_value,
        help="set the clock: Unix seconds (UTC), or now",
    )
    decode = command(
        "decode",
        "decode a frame given in hex, or a whole capture file; no port needed",
        "pump-programmer decode c001000001010002020234e0c0   (a HELLO, from "
        "docs/protocol.md's vectors)\n"
        "         pump-programmer decode --capture link.pcap   (one line per record)",
    )
    what = decode.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "hex",
        metavar="HEX",
        nargs="?",
        help="the bytes in hex, delimiters optional (spaces allowed)",
    )
    what.add_argument(
        "--capture",
        dest="decode_capture",
        type=Path,
        metavar="FILE",
        help="a capture (pump-programmer --capture FILE, or the emulator's): every record, "
        "with its time (UTC), direction and message, or why it is not a frame; exits 0 "
        "once the file is read, invalid frames included",
    )
    return parser


def _answers(parser: argparse.ArgumentParser, *, top: bool, changes: bool = True) -> None:
    """Options a user may put before or after the command name; --yes and --dry-run only
    where there is a change to answer for (before the name they are accepted anywhere, so
    one script line can carry them)."""
    default: Any = False if top else argparse.SUPPRESS
    parser.add_argument("--json", action="store_true", default=default, help="print JSON")
    if not changes:
        return
    parser.add_argument(
        "--yes",
        "-y",
        action="store_true",
        default=default,
        help="confirm the change without asking (needed without a terminal)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        default=default,
        help="show what the change would do, then drop it: the pump changes nothing (a "
        "prescription is staged for the pump to read back, then dropped)",
    )


def _wrapped(*paragraphs: str) -> str:
    """A long description, wrapped as the raw formatter will not."""
    return textwrap.fill(" ".join(paragraphs), 88)


def _start(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--start",
        action="store_true",
        help="also start delivery if the pump is stopped (else a stopped pump stays stopped)",
    )


def _local(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--local",
        action="store_true",
        help="the times are this computer's local times: converted to UTC, both shown",
    )


# -- running ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # `pump-programmer log | head`: the reader has had enough
        _silence(sys.stdout)
        return EXIT_OK


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "decode":
        if args.capture is not None:
            parser.error(
                "--capture before the command records the link; to read a capture: "
                "decode --capture FILE"
            )
        if args.decode_capture is not None:
            return decode_capture(
                args.decode_capture, as_json=args.json, out=sys.stdout, err=sys.stderr
            )
        return decode_hex(args.hex, sys.stdout, sys.stderr)
    if not args.port:
        parser.error(f"no port: give --port URL or set ${PORT_ENV}")
    screens: TextIO = sys.stderr if args.json else sys.stdout
    ui = Ui(
        Confirmation(
            yes=args.yes,
            dry_run=args.dry_run,
            interactive=sys.stdin.isatty(),
            ask=lambda question: input(question),
            show=lambda text: _print(text, screens),
        ),
        say=_notice,
        local_zone=datetime.now().astimezone().tzinfo if getattr(args, "local", False) else None,
    )
    capture: CaptureFile | None = None
    try:
        _check_role(args)
        try:
            operator = args.operator or default_operator()
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        capture = CaptureFile(args.capture, _notice) if args.capture is not None else None
        if args.command == "log":
            check_log_args(args)
        if args.command == "watch":
            return run_watch(args, operator, _notice, capture.trace if capture else None)
        with Programmer.open(
            args.port,
            role=args.role,
            key_file=args.key_file,
            session=args.command != "hello",
            baudrate=args.baud,
            timeout_s=args.timeout,
            retries=args.retries,
            budget_s=args.budget_s,
            operator=operator,
            trace=capture.trace if capture is not None else None,
            notice=_notice,
        ) as programmer:
            data, text = COMMANDS[args.command](programmer, args, ui)
    except DryRun:
        _notice("dry run: nothing changed on the pump")
        return EXIT_OK
    except Declined:
        _notice("not sent: nothing changed")
        return EXIT_OK
    except NothingToDo as exc:
        _notice(str(exc))
        return EXIT_OK
    except ProgrammerError as exc:
        print(f"pump-programmer: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pump-programmer: interrupted", file=sys.stderr)
        return 130
    finally:
        if capture is not None:
            capture.close()
    _print(json.dumps(data, sort_keys=True) if args.json else text, sys.stdout)
    return EXIT_OK


def _check_role(args: argparse.Namespace) -> None:
    allowed = {Role.PATIENT: PATIENT_COMMANDS, Role.READ_ONLY: READ_ONLY_COMMANDS}
    role: Role = args.role
    if role in allowed and args.command not in allowed[role]:
        may = ["clinician", *(r.label for r, names in allowed.items() if args.command in names)]
        roles = " or ".join(may)
        raise UsageError(
            f"{args.command} needs the {roles} role (--role {may[-1]}); "
            f"the {role.label} role may run: {', '.join(sorted(allowed[role]))}"
        )
    if role is Role.READ_ONLY and args.command == "clock" and args.set is not None:
        raise UsageError("clock --set needs the clinician role (--role clinician)")


def _notice(text: str) -> None:
    _print(f"pump-programmer: {text}", sys.stderr)


def _print(text: str, stream: TextIO) -> None:
    try:
        print(text, file=stream, flush=True)
    except BrokenPipeError:
        _silence(stream)


def _silence(stream: TextIO) -> None:
    """Send whatever is still written to a closed pipe nowhere, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
    except (OSError, ValueError):
        pass
