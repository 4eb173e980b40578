"""``pump-emulator``: run the emulated pump on a new pty or on any pyserial URL."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import BinaryIO

from emulator.console_log import configure_logging, narrate
from emulator.control_command import control_command
from emulator.control_server import ControlServer, ControlServerError
from emulator.device import DEFAULT_SERIAL_NUMBER, EmulatedDevice, Identity
from emulator.keys import PumpKeys, find_keys
from emulator.line_stack import build_line, close_capture, open_capture
from emulator.persistence_shell import (
    PUMP_OPTIONS,
    DurableDevice,
    open_state,
    resumed_device,
    saved_identity,
    start_time_us,
)
from emulator.pty_link import LinkError, PtyLink
from emulator.rig import FaultSettings, Rig, RigParts
from emulator.sim_clock import SimClock
from emulator.simulate import simulate
from emulator.state_file import Loaded, StateFileError
from firmware_model import Pump, PumpConfig, PumpRefusal
from firmware_model.config import MAX_BATTERY_US_PER_SESSION
from firmware_model.scenario import ScenarioError
from firmware_model.scenario.durations import format_duration, parse_duration_us
from firmware_model.units import US_PER_S, ml_to_nl, spoken_duration
from protocol import KeyFileError
from protocol.capture import CaptureWriter
from rig_control import parse_address
from rig_control.words import USAGE
from transport import (
    DEFAULT_BAUDRATE,
    ByteChannel,
    PortOpenError,
    PtyChannel,
    TcpListenChannel,
    open_port,
)

log = logging.getLogger("emulator")

KEY_FILE_ENV = "PUMP_KEY_FILE"
LOG_LEVELS = ("debug", "info", "warning", "error")
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_PORT = 3

# Defaults: the worked example of docs/domain.md [M]: 20 mL of 500 ug/mL at 200 ug/day.
DEFAULT_CONCENTRATION_UG_PER_ML = 500
DEFAULT_DOSE_UG_PER_DAY = 200
DEFAULT_RESERVOIR_ML = 20


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pump-emulator",
        description="Emulated implanted intrathecal pump, served on a virtual or real serial port.",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--pty", action="store_true", help="serve on a new pseudo-terminal (the default)"
    )
    where.add_argument(
        "--port",
        metavar="URL",
        help="serve on a port a pyserial URL opens: /dev/ttyUSB0, rfc2217://host:port, or "
        "socket://host:port, which CONNECTS to a TCP server (to serve TCP, use --listen)",
    )
    where.add_argument(
        "--listen",
        metavar="tcp://HOST:PORT",
        help="serve over TCP, one programmer at a time (a new connection replaces the old); "
        "reach it with --port socket://HOST:PORT. Port 0 picks a free port",
    )
    parser.add_argument("--baud", type=int, default=DEFAULT_BAUDRATE, help="baud rate for --port")
    parser.add_argument(
        "--baud-pace",
        type=_baud,
        metavar="BAUD",
        help="pace both directions as a full-duplex UART at BAUD (10 bits a byte): replies "
        "leave at BAUD/10 bytes a second, and requests reach the pump no earlier than their "
        "last bit would have. Default: as fast as the port goes",
    )
    parser.add_argument(
        "--link",
        metavar="PATH",
        type=Path,
        help="with --pty: also a symlink at PATH to the pty (and the emulator's PID in "
        "PATH.pid), removed on exit; refused while another emulator holds PATH",
    )
    parser.add_argument(
        "--capture",
        metavar="FILE.pcap",
        help="record the link as pcap (docs/protocol.md, section 15): every frame and run of "
        "other bytes the pump read and wrote, stamped; open it in Wireshark with "
        "tools/wireshark/itb_pump.lua, or `pump-programmer decode --capture FILE`",
    )
    parser.add_argument(
        "--control",
        metavar="ADDR",
        help="the test rig's control channel (docs/control.md): tcp://127.0.0.1:PORT or "
        "unix:PATH; loopback only unless --control-allow-remote",
    )
    parser.add_argument(
        "--control-allow-remote",
        action="store_true",
        help="let --control listen on an address other machines can reach (anyone who can "
        "connect can change the pump: use only on a closed lab network)",
    )
    parser.add_argument(
        "--speed",
        type=_non_negative_float,
        default=1.0,
        help="simulated seconds per real second (default 1; 0 freezes time)",
    )
    # The pump's options default to None, so that one given explicitly can be told apart
    # (refused with a loaded --state unless --reset-state); their defaults are in build_pump.
    parser.add_argument(
        "--serial-number",
        type=_identity_text,
        default=None,
        help=f"pump serial (default {DEFAULT_SERIAL_NUMBER})",
    )
    parser.add_argument(
        "--reservoir-ml",
        type=int,
        choices=(20, 40),
        default=None,
        help=f"reservoir model (mL, default {DEFAULT_RESERVOIR_ML})",
    )
    parser.add_argument(
        "--fill-ml", type=float, default=None, help="drug volume at start (default: full)"
    )
    parser.add_argument(
        "--concentration-ug-per-ml",
        type=int,
        default=None,
        help=f"drug concentration at start (default {DEFAULT_CONCENTRATION_UG_PER_ML})",
    )
    parser.add_argument(
        "--dose-ug-per-day",
        type=int,
        default=None,
        help=f"continuous dose at start (default {DEFAULT_DOSE_UG_PER_DAY}); 0 leaves the pump "
        "stopped",
    )
    parser.add_argument(
        "--telemetry-session-cost",
        type=_session_cost,
        default=None,
        metavar="DURATION",
        help="battery each telemetry session costs, as quiescent drain time, paid once when the "
        "session opens whatever its requests: a duration as in scenarios (6h, 90m, 0s; a bare "
        f"number is seconds), 0s to {format_duration(MAX_BATTERY_US_PER_SESSION)} "
        f"(default {format_duration(PumpConfig().battery_us_per_session)}, a modelling choice)",
    )
    parser.add_argument(
        "--port-file", type=Path, help="write the port path to this file once serving"
    )
    parser.add_argument(
        "--key-file",
        type=Path,
        metavar="PATH",
        default=os.environ.get(KEY_FILE_ENV) or None,
        help=f"the pump's keys (JSON, mode 0600; refused if missing, unless --new-keys). "
        f"Default: ${KEY_FILE_ENV}, else $PUMP_KEYS, else "
        "~/.config/itb-pump/keys/SERIAL.json (created on the first run)",
    )
    parser.add_argument(
        "--new-keys",
        action="store_true",
        help="create the --key-file with random keys (mode 0600) if it does not exist; an "
        "existing file is used as is, and a missing folder is not created",
    )
    parser.add_argument(
        "--state",
        type=Path,
        metavar="FILE",
        help="keep the pump in FILE.a/FILE.b, saved before every reply that follows a change "
        "and every 10 s as time passes; loaded at start (the pump options are then refused)",
    )
    parser.add_argument(
        "--reset-state",
        action="store_true",
        help="with --state: start from the options, replacing the saved pump",
    )
    parser.add_argument(
        "--catch-up",
        choices=("yes", "no"),
        default="yes",
        help="with a loaded --state: yes (default) runs simulated time on through the "
        "downtime at --speed, as the implanted pump would have; no resumes where it stopped",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=None,
        help="console log level (default warning); info shows sessions, alarms, changes and "
        "control requests, debug also every link record",
    )
    parser.add_argument(
        "--log-json", action="store_true", help="log lines as JSON objects, one a line"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="the same as --log-level info (kept for existing scripts)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    simulate_parser = commands.add_parser(
        "simulate",
        help="run a scenario headless and print one JSON object per line",
        description="Run a scenario (docs/scenarios.md) headless: events in time order, "
        "then a summary, one JSON object per line. Exit 2 for a malformed scenario.",
    )
    simulate_parser.add_argument(
        "scenario", metavar="SCENARIO.toml", help="scenario file, - for stdin"
    )
    simulate_parser.add_argument(
        "--plot",
        metavar="FILE.png",
        help="also draw the therapy timeline to this PNG: reservoir, delivered rate, pump "
        "temperature, alarms and refills (needs the plot extra: matplotlib)",
    )
    control_parser = commands.add_parser(
        "control",
        help="send one request to a running emulator's control channel; prints JSON",
        description="Send one request to a running emulator's control channel "
        "(docs/control.md) and print its result as JSON. Exit 0 done, 1 refused by the "
        "emulator, 2 bad usage, 3 no control channel at ADDR.",
        epilog="verbs:\n  " + "\n  ".join(USAGE.values()) + "\n\nexample:\n  "
        "pump-emulator control tcp://127.0.0.1:7001 advance 45d",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    control_parser.add_argument("address", metavar="ADDR", help="tcp://HOST:PORT or unix:PATH")
    control_parser.add_argument("verb", metavar="VERB", choices=list(USAGE), help="see below")
    control_parser.add_argument("words", metavar="ARGS", nargs=argparse.REMAINDER)
    control_parser.add_argument(
        "--timeout-s",
        type=_positive_seconds,
        default=60.0,
        help="how long to wait for the answer (default 60)",
    )
    return parser


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be zero or positive and finite: {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 86_400:
        raise argparse.ArgumentTypeError(f"more than 0 and at most 86400 s, not {text!r}")
    return value


def _baud(text: str) -> int:
    if not text.isdigit() or not 300 <= int(text) <= 4_000_000:
        raise argparse.ArgumentTypeError(f"a baud rate from 300 to 4000000, not {text!r}")
    return int(text)


def _session_cost(text: str) -> int:
    """Microseconds of quiescent drain, in the scenarios' duration syntax, range-checked."""
    key = "--telemetry-session-cost"
    value: object = text
    if re.fullmatch(r"\d+", text):  # a number is seconds, as in a scenario
        value = int(text)
    elif re.fullmatch(r"\d+\.\d+", text):
        value = float(text)
    try:
        us = parse_duration_us(value, key)
    except ScenarioError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{key}: ")) from None
    if us > MAX_BATTERY_US_PER_SESSION:
        raise argparse.ArgumentTypeError(
            f"at most {format_duration(MAX_BATTERY_US_PER_SESSION)}, got {text!r}"
        )
    return us


def _identity_text(text: str) -> str:
    if not (text.isascii() and text.isprintable() and 0 < len(text) <= 32):
        raise argparse.ArgumentTypeError(f"1 to 32 printable ASCII characters: {text!r}")
    return text


def given_pump_options(args: argparse.Namespace) -> tuple[str, ...]:
    """The pump options given on the command line (they default to None)."""
    return tuple(
        option
        for option in PUMP_OPTIONS
        if getattr(args, option.removeprefix("--").replace("-", "_")) is not None
    )


def build_pump(args: argparse.Namespace) -> Pump:
    capacity_nl = ml_to_nl(args.reservoir_ml or DEFAULT_RESERVOIR_ML)
    config = PumpConfig(reservoir_capacity_nl=capacity_nl)
    if args.telemetry_session_cost is not None:
        config = dataclasses.replace(config, battery_us_per_session=args.telemetry_session_cost)
    pump = Pump(config)
    pump.set_clock(time.time_ns() // 1_000)  # the shell owns real time: the pump clock starts now
    fill_nl = capacity_nl if args.fill_ml is None else ml_to_nl(args.fill_ml)
    concentration = args.concentration_ug_per_ml
    if concentration is None:
        concentration = DEFAULT_CONCENTRATION_UG_PER_ML
    pump.refill(fill_nl, concentration)
    dose = DEFAULT_DOSE_UG_PER_DAY if args.dose_ug_per_day is None else args.dose_ug_per_day
    if dose:
        pump.set_dose(dose)
    return pump


def programmer_hint(port_path: str, key_path: Path | None) -> str:
    script = Path(sys.executable).parent / "pump-programmer"
    try:
        shown = os.path.relpath(script)
    except ValueError:
        shown = str(script)
    if not shown.startswith((".", "/")):
        shown = f"./{shown}"
    keys = "" if key_path is None else f" --key-file {key_path}"
    return f"{shown} --port {port_path}{keys} status"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "simulate":
        return simulate(args.scenario, plot=args.plot)
    if args.command == "control":
        return control_command(args.address, args.verb, args.words, args.timeout_s)
    if args.link is not None and (args.port or args.listen):
        parser.error("--link names the pty: it goes with --pty only")
    level = args.log_level or ("info" if args.verbose else "warning")
    configure_logging(level, as_json=args.log_json)
    if args.reset_state and args.state is None:
        print("pump-emulator: error: --reset-state needs --state FILE", file=sys.stderr)
        return EXIT_USAGE
    opened = loaded = None
    try:
        if args.state is not None:
            opened = open_state(args.state, reset=args.reset_state, given=given_pump_options(args))
            loaded = opened.loaded
            for note in opened.notes:
                print(f"pump-emulator: {note}", file=sys.stderr, flush=True)
        if loaded is None:
            serial_number = args.serial_number or DEFAULT_SERIAL_NUMBER
            model = f"ITBP-{args.reservoir_ml or DEFAULT_RESERVOIR_ML}"
        else:
            model, serial_number = saved_identity(loaded)
        identity = Identity(model=model, serial_number=serial_number)
        keys = find_keys(identity.serial_number, args.key_file, args.new_keys, os.environ)
        if loaded is None:
            device = EmulatedDevice(build_pump(args), identity, keys.keyring)
        else:
            device = resumed_device(loaded, keys.keyring)
        resumed_us = device.pump.t_us
        start_us = start_time_us(loaded, resumed_us, args.speed, catch_up=args.catch_up == "yes")
        device.pump.advance_to(start_us)  # the downtime, before a save forgets how long it was
        durable = None if opened is None else DurableDevice(device, opened.file)
        if durable is not None:
            durable.save()  # the pump it starts with is the one a crash comes back to
    except PumpRefusal as refusal:
        print(f"pump-emulator: error: {refusal.message}", file=sys.stderr)
        return EXIT_USAGE
    except (KeyFileError, ValueError, StateFileError) as exc:
        print(f"pump-emulator: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    state_line = None
    if opened is not None:
        state_line = _state_line(opened.file.path, loaded, start_us - resumed_us)
    control_address = None
    if args.control:
        try:
            control_address = parse_address(args.control)
        except ValueError as exc:
            print(f"pump-emulator: error: --control: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if not control_address.is_local and not args.control_allow_remote:
            print(
                f"pump-emulator: error: --control {control_address} can be reached from other "
                "machines, and whoever connects can change the pump; use 127.0.0.1, ::1 or "
                "unix:PATH, or add --control-allow-remote on a closed lab network",
                file=sys.stderr,
            )
            return EXIT_USAGE

    capture: CaptureWriter | None = None
    capture_stream: BinaryIO | None = None
    if args.capture:
        try:
            capture_stream, capture = open_capture(args.capture)
        except OSError as exc:
            print(
                f"pump-emulator: error: cannot write capture {args.capture}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return EXIT_USAGE
    link: PtyLink | None = None
    channel: ByteChannel
    try:
        if args.port:
            channel = open_port(args.port, baudrate=args.baud)
            port_path = args.port
        elif args.listen:
            listener = TcpListenChannel(
                args.listen,
                on_connect=lambda peer: log.info("programmer connected from %s", peer),
                on_disconnect=lambda peer: log.info("programmer at %s disconnected", peer),
            )
            host, port = listener.address
            channel, port_path = listener, f"socket://{host}:{port}"
        else:
            pty = PtyChannel()
            channel, port_path = pty, pty.path
            if args.link is not None:
                link = PtyLink(args.link, os.getpid())
                notice = link.create(pty.path)
                if notice:
                    log.warning("%s", notice)
    except (PortOpenError, LinkError) as exc:
        print(f"pump-emulator: error: {exc}", file=sys.stderr)
        return EXIT_PORT

    clock = SimClock(speed=args.speed, start_us=start_us)
    line = build_line(channel, args.baud_pace, capture)
    parts = RigParts(
        faults=line.faults,
        pacing=line.pacing,
        base_pacing_baud=args.baud_pace,
        settings=FaultSettings(baud=args.baud_pace),
    )
    rig = Rig(
        device,
        clock,
        line.channel,
        parts=parts,
        durable=durable,
        on_device=lambda d: narrate(d.pump),
    )
    control: ControlServer | None = None
    try:
        if control_address is not None:
            try:
                control = ControlServer(control_address, rig)
            except ControlServerError as exc:
                print(f"pump-emulator: error: {exc}", file=sys.stderr)
                return EXIT_PORT
            if not control_address.is_local:
                log.warning("control channel %s is reachable from other machines", control.address)
        return _serve(args, rig, identity, keys, port_path, control, state_line)
    finally:
        if control is not None:
            control.close()
        rig.close()  # no control request changes the pump after its last save
        channel.close()
        if capture is not None and capture_stream is not None:
            close_capture(capture, capture_stream)
        if link is not None:
            link.remove()


def _serve(
    args: argparse.Namespace,
    rig: Rig,
    identity: Identity,
    keys: PumpKeys,
    port_path: str,
    control: ControlServer | None,
    state_line: str | None,
) -> int:
    stopping = False

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    if args.port_file:
        tmp = args.port_file.with_name(args.port_file.name + ".tmp")
        try:
            tmp.write_text(port_path + "\n")
            tmp.replace(args.port_file)
        except OSError as exc:
            print(
                f"pump-emulator: error: cannot write --port-file {args.port_file}: "
                f"{exc.strerror or exc}",
                file=sys.stderr,
            )
            return EXIT_USAGE
    status = rig.device.pump.status()
    say(f"{identity.model} serial {identity.serial_number}, firmware {identity.firmware_version}")
    say(
        f"{status.reservoir_nl / 1e6:g} mL of {status.drug} "
        f"{status.concentration_ug_per_ml} ug/mL, {status.state} "
        f"at {status.dose_ug_per_day} ug/day; time x{args.speed:g}"
    )
    keys_from = "new random keys written to" if keys.created else "keys from"
    say(f"{keys_from} {keys.source}")
    if state_line:
        say(state_line)
    say(f"serving on {rig.channel.description}")
    if args.link is not None:
        say(f"link {args.link} -> {port_path}")
    if control is not None:
        say(f"control channel on {control.address} (pump-emulator control {control.address} state)")
    shown = str(args.link) if args.link is not None else port_path
    hint = programmer_hint(shown, args.key_file)
    print(f"\nIn a second terminal:\n    {hint}\n\nCtrl-C to stop.", flush=True)
    try:
        rig.serve(should_stop=lambda: stopping)
    except OSError as exc:
        print(f"pump-emulator: error: port {port_path} failed: {exc}", file=sys.stderr)
        return EXIT_PORT
    c = rig.device.counters
    say(
        f"stopped after {c.requests} requests in {c.sessions} sessions "
        f"({c.refused} refused, {c.retransmissions} retransmissions)"
    )
    return EXIT_OK


def say(text: str) -> None:
    print(f"pump-emulator: {text}", flush=True)


def _state_line(path: Path, loaded: Loaded | None, caught_up_us: int) -> str:
    if loaded is None:
        return f"state kept in {path}.a/.b (new pump)"
    resumes = (
        f"runs on {spoken_duration(caught_up_us // US_PER_S)} for the downtime"
        if caught_up_us
        else "resumes"
    )
    return f"state loaded from {loaded.path} (sequence {loaded.sequence}); simulated time {resumes}"
