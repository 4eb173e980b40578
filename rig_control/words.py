"""``pump-emulator control ADDR VERB [ARGS]``: command-line words to a control request.

The words of each verb (docs/control.md) become the request's ``args`` object; the emulator
does every range check, so this only shapes the request and reads files.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


class WordsError(ValueError):
    """The words do not make a request; the message says what a verb takes."""


USAGE: dict[str, str] = {
    "state": "state",
    "advance": "advance DURATION            (45d, 6h30m, 90s; at most 3653d)",
    "link-advance": "link-advance DURATION       (the link's clock: idle time, back-off)",
    "speed": "speed FACTOR                (simulated seconds per real second; 0 freezes)",
    "temperature": "temperature CELSIUS DURATION  (30 to 45 C)",
    "mri": "mri DURATION",
    "occlusion": "occlusion DURATION",
    "battery": "battery FRACTION            (0 to 1; never above the present level)",
    "faults": "faults off | faults [--flip R] [--drop R] [--duplicate R] "
    "[--to-pump-flip R ...] [--to-programmer-drop R ...] [--delay-ms MS] [--baud BPS]",
    "reset": "reset [--preset NAME] [--clock-s UNIX_S]  (default worked-example; `presets` lists)",
    "presets": "presets",
    "fail-next": "fail-next [COUNT]           (the next COUNT requests get INTERNAL_ERROR)",
    "snapshot": "snapshot                    (the whole pump as JSON, on stdout)",
    "restore": "restore FILE                (a snapshot; - reads stdin)",
}

_ONE_DURATION = {"advance", "link-advance", "mri", "occlusion"}


def request_args(verb: str, words: list[str]) -> dict[str, Any]:
    """The ``args`` object for ``verb``; WordsError with the verb's usage otherwise."""
    if verb not in USAGE:
        raise WordsError(f"no verb {verb!r}; verbs: {', '.join(USAGE)}")
    try:
        return _args(verb, words)
    except WordsError as exc:
        raise WordsError(f"{exc}; usage: {USAGE[verb]}") from None


def _args(verb: str, words: list[str]) -> dict[str, Any]:
    if verb in ("state", "snapshot", "presets"):
        _count(words, 0)
        return {}
    if verb == "fail-next":
        if len(words) > 1:
            raise WordsError(f"takes at most 1 argument, got {len(words)}")
        return {"count": _number(words[0])} if words else {}
    if verb in _ONE_DURATION:
        _count(words, 1)
        return {"duration": words[0]}
    if verb == "speed":
        _count(words, 1)
        return {"factor": _number(words[0])}
    if verb == "battery":
        _count(words, 1)
        return {"fraction": _number(words[0])}
    if verb == "temperature":
        _count(words, 2)
        return {"celsius": _number(words[0]), "duration": words[1]}
    if verb == "restore":
        _count(words, 1)
        return {"snapshot": _read_json(words[0])}
    if verb == "reset":
        return _reset(words)
    return _faults(words)


def _count(words: list[str], n: int) -> None:
    if len(words) != n:
        raise WordsError(f"takes {n} argument{'s' if n != 1 else ''}, got {len(words)}")


def _number(word: str) -> float:
    try:
        return float(word)
    except ValueError:
        raise WordsError(f"not a number: {word!r}") from None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:
        raise WordsError(message)


def _reset(words: list[str]) -> dict[str, Any]:
    parser = _Parser(add_help=False)
    parser.add_argument("name", nargs="?")
    parser.add_argument("--preset")
    parser.add_argument("--clock-s", type=int)
    ns = parser.parse_args(words)
    if ns.name and ns.preset and ns.name != ns.preset:
        raise WordsError(f"two presets: {ns.name!r} and {ns.preset!r}")
    args: dict[str, Any] = {}
    if ns.preset or ns.name:
        args["preset"] = ns.preset or ns.name
    if ns.clock_s is not None:
        args["clock_s"] = ns.clock_s
    return args


def _faults(words: list[str]) -> dict[str, Any]:
    if words[:1] == ["off"]:
        if len(words) > 1:
            raise WordsError(f"faults off takes nothing more, got {' '.join(words[1:])!r}")
        return {"off": True}
    parser = _Parser(add_help=False)
    for kind in ("flip", "drop", "duplicate"):
        parser.add_argument(f"--{kind}", type=float)
        for side in ("to-pump", "to-programmer"):
            parser.add_argument(f"--{side}-{kind}", type=float)
    parser.add_argument("--delay-ms", type=float)
    parser.add_argument("--baud", type=int)
    ns = vars(parser.parse_args(words))
    args: dict[str, Any] = {}
    for side, key in (("both", ""), ("to_pump", "to_pump_"), ("to_programmer", "to_programmer_")):
        rates = {kind: ns[f"{key}{kind}"] for kind in ("flip", "drop", "duplicate")}
        rates = {kind: value for kind, value in rates.items() if value is not None}
        if rates:
            args[side] = rates
    if ns["delay_ms"] is not None:
        if not 0 <= ns["delay_ms"] <= 60_000:
            raise WordsError(f"--delay-ms {ns['delay_ms']:g} outside 0..60000")
        args["delay_s"] = ns["delay_ms"] / 1_000
    if ns["baud"] is not None:
        args["baud"] = ns["baud"]
    if not args:
        raise WordsError("say which faults, or off")
    return args


def _read_json(name: str) -> Any:
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text()
    except OSError as exc:
        raise WordsError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise WordsError(f"{name} is not JSON: {exc}") from None
