"""``pump-programmer``: interrogate and program a pump on any port URL.

Every failure is one line on stderr and a non-zero exit code (see programmer.errors):
1 the pump refused, 2 bad usage, 3 the port, 4 no valid answer on the link.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from programmer.client import Programmer
from programmer.errors import ProgrammerError
from programmer.formatting import (
    format_identity,
    format_set_dose,
    format_status,
    identity_dict,
    status_dict,
)
from programmer.link import DEFAULT_RETRIES, DEFAULT_TIMEOUT_S
from transport import DEFAULT_BAUDRATE

EXIT_USAGE = 2
U32_MAX = 0xFFFF_FFFF
PORT_ENV = "PUMP_PORT"
MAX_RETRIES = 20


def _u32(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 0 <= value <= U32_MAX:
        raise argparse.ArgumentTypeError(f"{value} does not fit 0..{U32_MAX}")
    return value


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pump-programmer", description="Clinician programmer for the intrathecal pump."
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
        "--timeout",
        type=_positive_float,
        default=DEFAULT_TIMEOUT_S,
        help=f"seconds to wait for each reply (default {DEFAULT_TIMEOUT_S:g})",
    )
    parser.add_argument(
        "--retries",
        type=_retries,
        default=DEFAULT_RETRIES,
        help=f"retransmissions before giving up (default {DEFAULT_RETRIES})",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("hello", help="identify the pump")
    commands.add_parser("status", help="interrogate: identity and current status")
    set_dose = commands.add_parser("set-dose", help="program simple continuous delivery")
    set_dose.add_argument("dose_ug_per_day", metavar="UG_PER_DAY", type=_u32)
    return parser


def _hello(p: Programmer, _: argparse.Namespace) -> tuple[dict[str, Any], str]:
    hello = p.hello()
    return {"identity": identity_dict(hello)}, format_identity(hello)


def _status(p: Programmer, _: argparse.Namespace) -> tuple[dict[str, Any], str]:
    hello = p.identity or p.hello()
    status = p.status()
    data = {"identity": identity_dict(hello), "status": status_dict(status)}
    return data, f"{format_identity(hello)}\n{format_status(status)}"


def _set_dose(p: Programmer, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    reply = p.set_dose(args.dose_ug_per_day)
    data = {"dose_ug_per_day": reply.dose_ug_per_day, "rate_nl_per_day": reply.rate_nl_per_day}
    return data, format_set_dose(reply)


COMMANDS: dict[str, Callable[[Programmer, argparse.Namespace], tuple[dict[str, Any], str]]] = {
    "hello": _hello,
    "status": _status,
    "set-dose": _set_dose,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.port:
        parser.error(f"no port: give --port URL or set ${PORT_ENV}")
    try:
        with Programmer.open(
            args.port, baudrate=args.baud, timeout_s=args.timeout, retries=args.retries
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
