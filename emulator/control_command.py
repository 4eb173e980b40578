"""``pump-emulator control ADDR VERB [ARGS]``: one control request, its result as JSON."""

from __future__ import annotations

import json
import sys

from rig_control import ControlClient, ControlError, ControlUnavailable
from rig_control.words import WordsError, request_args

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNAVAILABLE = 3


def control_command(address: str, verb: str, words: list[str], timeout_s: float) -> int:
    try:
        args = request_args(verb, words)
        client = ControlClient(address, timeout_s=timeout_s)
    except (WordsError, ValueError) as exc:
        print(f"pump-emulator: error: {verb}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        with client:
            result = client.call(verb, **args)
    except ControlError as exc:
        print(f"pump-emulator: error: {exc.code}: {exc.message}", file=sys.stderr)
        return EXIT_REFUSED
    except ControlUnavailable as exc:
        print(f"pump-emulator: error: {exc}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    try:
        print(json.dumps(result, indent=2), flush=True)
    except BrokenPipeError:
        sys.stdout = None
    return EXIT_OK
